//! End to end, with real servers: two replicas of the demo service (two processes of the
//! built `demo` example, with different seeds) are scraped every second by one real
//! Prometheus with the shipped alert rules loaded, unchanged, and a real Alertmanager. Then
//! - every panel query and template-variable query of every dashboard returns data,
//! - on each replica the demo moves every series of the newest metrics: call timeouts,
//!   fallbacks for each reason, bulkhead and rate-limit refusals, calls inside a bulkhead,
//!   saves to its state store (each replica runs with a state file),
//! - a replica killed and started again within about one scrape interval (same port, same
//!   state file) comes back with its forced-open breaker restored (its health JSON says
//!   `restored`, with the reason and time of the force-open) and fires
//!   BreakerboxReplicaRestarted,
//! - every bar and heatmap panel sums to the counters' real increase over a range that
//!   holds that restart (no negative bar where its counters reset),
//! - every alert rule evaluates without error,
//! - a breaker forced open on both replicas fires BreakerboxBreakerOpen on each and
//!   BreakerboxFleetWideOpen, through Alertmanager to a webhook receiver; an operator reset
//!   of the restarted replica's breaker resolves its alert,
//! - killing one replica (by PID) fires BreakerboxReplicaNotReporting for it, and every other
//!   alert of that replica (its failing notifier, its restart) resolves, while the survivor,
//!   still forced open, is open for the whole live fleet: BreakerboxFleetWideOpen fires,
//! - the breakers' own notifier delivers to a webhook and to Alertmanager,
//! - with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a replica exports its spans over OTLP/HTTP:
//!   call spans, and the transitions its eager timer makes outside any span.
//!
//! The rules' 1-minute clocks are kept: the test takes a little over two minutes, two of
//! them waiting for those clocks (the open alert, then the dead replica's); it prints the
//! time of each phase on stderr. Needs `prometheus`, `promtool`, `prometheus-alertmanager`
//! and `python3` (the test script installs the Debian packages).

#![cfg(feature = "full")]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::demo;
use crate::support::eventually::eventually;
use crate::support::http::{client, get_json, json};
use crate::support::process::{self, Server, free_port};
use crate::support::servers;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::routing::post;
use breakerbox::observe::names::{ATTR_REASON, ATTR_TO, SPAN_CALL, SPAN_TRANSITION};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;
use serde_json::Value;

const TOKEN: &str = "e2e-admin-token";

type Inbox = Arc<Mutex<Vec<Value>>>;

type Traces = Arc<Mutex<Vec<Bytes>>>;

/// A real HTTP receiver: `/alertmanager` takes Alertmanager's webhook posts, `/hook` the
/// breakerbox notifier's, `/v1/traces` OTLP/HTTP span exports (protobuf bodies).
async fn receiver() -> (String, Inbox, Inbox, Traces) {
    let am: Inbox = Arc::default();
    let hook: Inbox = Arc::default();
    let traces: Traces = Arc::default();
    async fn push(AxumState(inbox): AxumState<Inbox>, Json(v): Json<Value>) -> &'static str {
        inbox.lock().unwrap().push(v);
        "ok"
    }
    async fn export(AxumState(traces): AxumState<Traces>, body: Bytes) -> &'static str {
        traces.lock().unwrap().push(body);
        ""
    }
    let app = axum::Router::new()
        .route("/alertmanager", post(push).with_state(am.clone()))
        .route("/hook", post(push).with_state(hook.clone()))
        .route("/v1/traces", post(export).with_state(traces.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, am, hook, traces)
}

/// One exported span: its resource's `service.name`, its name and its string attributes.
#[derive(Debug)]
struct Exported {
    service: String,
    name: String,
    attrs: Vec<(String, String)>,
}

fn strings(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// Every span of every OTLP/HTTP export the receiver got, decoded from protobuf.
fn exported(traces: &Traces) -> Vec<Exported> {
    let mut out = Vec::new();
    for body in traces.lock().unwrap().iter() {
        let req = ExportTraceServiceRequest::decode(body.as_ref()).expect("an OTLP protobuf body");
        for rs in req.resource_spans {
            let resource = strings(&rs.resource.map(|r| r.attributes).unwrap_or_default());
            let service = resource
                .into_iter()
                .find_map(|(k, v)| (k == "service.name").then_some(v))
                .unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                out.push(Exported {
                    service: service.clone(),
                    name: span.name,
                    attrs: strings(&span.attributes),
                });
            }
        }
    }
    out
}

async fn query(http: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let url = format!("{prom}/api/v1/query");
    let v = json(http.get(url).query(&[("query", q)])).await;
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// How to start one demo replica: on `port`, keeping its breakers' state in `state`.
#[derive(Clone, Copy)]
struct Replica<'a> {
    name: &'static str,
    port: u16,
    seed: u64,
    webhook: &'a str,
    am: &'a str,
    otlp: Option<&'a str>,
    state: &'a Path,
}

/// One demo replica as its own process.
fn replica(bin: &Path, r: &Replica<'_>) -> Server {
    let Replica {
        name,
        port,
        seed,
        webhook,
        am,
        otlp,
        state,
    } = *r;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if let Some(endpoint) = otlp {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_SERVICE_NAME", "breakerbox-demo-e2e");
    }
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--seconds", "0", "--quiet", "--admin-token", TOKEN])
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--webhook")
        .arg(webhook)
        .arg("--alertmanager")
        .arg(am)
        // A state store, as a service that must remember forced opens across restarts
        // has: its series and panels are checked like the others.
        .arg("--state-file")
        .arg(state);
    Server::spawn(name, port, dir, cmd)
}

/// Runs a Python checker from `scripts/` and returns its success and output.
async fn python(script: &str, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// An alert in an Alertmanager notification the receiver got.
fn from_am(inbox: &Inbox, alert: &str, instance: &str, status: &str) -> Option<Value> {
    inbox.lock().unwrap().iter().find_map(|msg| {
        msg["alerts"]
            .as_array()?
            .iter()
            .find(|a| {
                a["labels"]["alertname"] == alert
                    && a["labels"]["instance"] == instance
                    && a["status"] == status
            })
            .cloned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_dashboards_alerts_and_notifications_against_real_servers() {
    for bin in [
        "prometheus",
        "prometheus-alertmanager",
        "promtool",
        "python3",
    ] {
        assert!(
            process::have(bin),
            "{bin} is not installed (scripts/test.sh installs it)"
        );
    }
    let http = client();
    // Progress on stderr (shown when the test fails): where the time goes, never asserted.
    let started = std::time::Instant::now();
    let phase = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    let demo = demo::demo_binary();
    phase("demo built");

    // Every process starts at once, and only then does the test wait for each: Prometheus
    // discovers its targets about 5 s after it starts, while the others come up.
    let (recv, am_inbox, hook_inbox, traces) = receiver().await;
    let am = servers::alertmanager(&format!("{recv}/alertmanager"));

    // Replica b's webhook points at a closed port: its notifier fails.
    let dead_hook = format!("http://127.0.0.1:{}/hook", free_port());
    let (hook, am_url) = (format!("{recv}/hook"), am.url());
    let states = tempfile::tempdir().unwrap();
    let (a_state, b_state) = (states.path().join("a.json"), states.path().join("b.json"));
    let a = replica(
        &demo,
        &Replica {
            name: "demo-a",
            port: free_port(),
            seed: 1,
            webhook: &hook,
            am: &am_url,
            otlp: Some(&recv),
            state: &a_state,
        },
    );
    let b_replica = Replica {
        name: "demo-b",
        port: free_port(),
        seed: 2,
        webhook: &dead_hook,
        am: &am_url,
        otlp: None,
        state: &b_state,
    };
    let mut b = replica(&demo, &b_replica);
    let (a_inst, b_inst) = (
        format!("127.0.0.1:{}", a.port),
        format!("127.0.0.1:{}", b.port),
    );
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/breakerbox.rules.yml");
    let prom = servers::prometheus(
        &[a_inst.clone(), b_inst.clone()],
        &[rules],
        Some(format!("127.0.0.1:{}", am.port)),
    );
    let prom_url = prom.url();
    servers::ready(&am).await;
    for r in [&a, &b] {
        eventually("the demo serving", Duration::from_secs(30), || async {
            let resp = http.get(format!("{}/metrics", r.url())).send().await.ok()?;
            resp.status().is_success().then_some(())
        })
        .await;
    }
    servers::ready(&prom).await;
    phase("servers ready");
    eventually("both replicas scraped", Duration::from_secs(30), || async {
        (query(&http, &prom_url, "up == 1").await.len() == 2).then_some(())
    })
    .await;
    phase("both replicas scraped");

    // An operator forces `search` open on both replicas (no TTL).
    let admin = |replica: &Server, path: &str| {
        http.post(format!("{}/api/circuit-breakers/{path}", replica.url()))
            .bearer_auth(TOKEN)
            .send()
    };
    for r in [&a, &b] {
        let resp = admin(r, "force-open/search").await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    eventually(
        "search forced open on both",
        Duration::from_secs(20),
        || async {
            let q = r#"breakerbox_state{breaker="search",state="forced_open"} == 1"#;
            (query(&http, &prom_url, q).await.len() == 2).then_some(())
        },
    )
    .await;
    phase("search forced open on both replicas");

    // Every dashboard query and template variable returns data. The demo's traffic takes
    // its breakers through every state within a 30 s cycle: retried until it has.
    let files = [
        "dashboards/breakerbox-overview.json",
        "dashboards/breakerbox-breaker.json",
    ];
    let mut args = vec!["--prometheus", prom_url.as_str()];
    args.extend(files);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (ok, out) = python("scripts/check_dashboards.py", &args).await;
        if ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dashboard queries failed:\n{out}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    phase("every dashboard query returns data");

    // Each replica moves every series of the newest metrics: the demo's hanging
    // dependencies time out (a failure and slow), the pricing API falls back for every
    // reason, the RPC node's bulkhead and the pricing API's rate limit refuse calls.
    let moving = [
        r#"breakerbox_calls_total{outcome="timeout"}"#,
        r#"breakerbox_slow_calls_total{outcome="timeout"}"#,
        r#"breakerbox_call_duration_seconds_count{outcome="timeout"}"#,
        r#"breakerbox_fallbacks_total{reason="rejected"}"#,
        r#"breakerbox_fallbacks_total{reason="timeout"}"#,
        r#"breakerbox_fallbacks_total{reason="failure"}"#,
        r#"breakerbox_limit_rejections_total{reason="bulkhead_full"}"#,
        r#"breakerbox_limit_rejections_total{reason="rate_limited"}"#,
        r#"breakerbox_state_store_saves_total{result="saved"}"#,
    ];
    for series in moving {
        let q = format!("sum by (instance) (increase({series}[5m])) > 0");
        eventually(series, Duration::from_secs(30), || async {
            (query(&http, &prom_url, &q).await.len() == 2).then_some(())
        })
        .await;
    }
    eventually(
        "calls in flight inside a bulkhead",
        Duration::from_secs(30),
        || async {
            let q = "max by (instance) (max_over_time(breakerbox_bulkhead_in_use[5m])) > 0";
            (query(&http, &prom_url, q).await.len() == 2).then_some(())
        },
    )
    .await;

    // Every rule evaluates without error.
    let rules = get_json(&http, &format!("{prom_url}/api/v1/rules")).await;
    let mut count = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            count += 1;
            assert_eq!(
                r["health"], "ok",
                "rule {} failed: {}",
                r["name"], r["lastError"]
            );
        }
    }
    assert!(count >= 10, "only {count} rules loaded");
    phase("every series moving, every rule healthy");

    // Replica b crashes, after half a minute of traffic, and is started again at once, on
    // its port and with its state file: about one scrape interval without it, so `up` may
    // never drop. Its forced open comes back from the state file, and its counters start
    // again from zero, below their last values: a counter reset inside a panel interval.
    let forced = eventually("b's force-open saved", Duration::from_secs(20), || async {
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&b_state).ok()?).ok()?;
        let record = file["breakers"]["search"].clone();
        (record["state"] == "forced_open").then_some(record)
    })
    .await;
    b.kill();
    let restarted_at = std::time::Instant::now();
    let mut b = replica(
        &demo,
        &Replica {
            name: "demo-b-restarted",
            ..b_replica
        },
    );
    let search = eventually(
        "the restarted replica serving",
        Duration::from_secs(30),
        || async {
            let url = format!("{}/api/circuit-breakers/health", b.url());
            let health: Value = http.get(url).send().await.ok()?.json().await.ok()?;
            health["breakers"]
                .as_array()?
                .iter()
                .find(|v| v["name"] == "search")
                .cloned()
        },
    )
    .await;
    phase("replica b restarted");
    assert_eq!(search["state"], "forced_open", "{search}");
    let last = &search["last_transition"];
    assert_eq!(last["restored"], true, "{search}");
    assert_eq!(last["reason"], "forced", "{search}");
    assert_eq!(
        last["at_unix_ms"], forced["at_unix_ms"],
        "{search} vs {forced}"
    );

    // The open alert (the shipped rule: a minute open without closing) fires on each
    // replica, and the fleet-wide one for the job; b's failing notifier fires too.
    let firing = |alert: &'static str, labels: String| {
        let (http, prom_url) = (http.clone(), prom_url.clone());
        move || {
            let q = format!(r#"ALERTS{{alertname="{alert}",alertstate="firing"{labels}}}"#);
            let (http, prom_url) = (http.clone(), prom_url.clone());
            async move { (!query(&http, &prom_url, &q).await.is_empty()).then_some(()) }
        }
    };
    for inst in [&a_inst, &b_inst] {
        let labels = format!(r#",breaker="search",instance="{inst}""#);
        eventually(
            "BreakerboxBreakerOpen for a forced-open breaker",
            Duration::from_secs(120),
            firing("BreakerboxBreakerOpen", labels),
        )
        .await;
    }
    eventually(
        "BreakerboxFleetWideOpen for a breaker forced open on both replicas",
        Duration::from_secs(60),
        firing("BreakerboxFleetWideOpen", r#",breaker="search""#.into()),
    )
    .await;
    eventually(
        "BreakerboxNotifierFailing for the replica with a dead webhook",
        Duration::from_secs(60),
        firing(
            "BreakerboxNotifierFailing",
            format!(r#",instance="{b_inst}""#),
        ),
    )
    .await;
    eventually(
        "BreakerboxReplicaRestarted for the replica restarted within a scrape",
        Duration::from_secs(30),
        firing(
            "BreakerboxReplicaRestarted",
            format!(r#",instance="{b_inst}""#),
        ),
    )
    .await;
    let steady = query(
        &http,
        &prom_url,
        &format!(r#"ALERTS{{alertname="BreakerboxReplicaRestarted",instance="{a_inst}"}}"#),
    )
    .await;
    assert!(
        steady.is_empty(),
        "the steady replica is reported: {steady:?}"
    );
    phase("open, fleet-wide, notifier and restart alerts firing");

    // Bar and heatmap panels count every event once: their points sum to the counters'
    // real increase over a range of 15 s intervals from before b's restart to now, where
    // b's counters were reset (never a negative bar).
    // The interval holding the restart must have ended a step before the checked range
    // does (the newest step is left out: its scrapes may still come in).
    let settled = Duration::from_secs(50);
    tokio::time::sleep(settled.saturating_sub(restarted_at.elapsed())).await;
    let steps = (restarted_at.elapsed().as_secs() / 15 + 3)
        .max(6)
        .to_string();
    let mut sums = args.clone();
    sums.extend(["--steps", steps.as_str(), "--expect-resets"]);
    let (ok, out) = python("scripts/check_panel_sums.py", &sums).await;
    eprintln!("{out}");
    assert!(
        ok,
        "bar or heatmap panels do not sum to the counters:\n{out}"
    );
    phase("bar and heatmap panels sum to the counters across a restart");

    // The open alert reached the receiver through Alertmanager.
    let alert = eventually(
        "the firing alert via Alertmanager",
        Duration::from_secs(30),
        || async { from_am(&am_inbox, "BreakerboxBreakerOpen", &a_inst, "firing") },
    )
    .await;
    assert_eq!(alert["labels"]["severity"], "warning");
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .contains("ALERTS.md#breakerboxbreakeropen")
    );

    // An operator resets the restored `search` on replica b: its alert resolves.
    let resp = admin(&b, "reset/search").await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    eventually(
        "the resolved alert via Alertmanager",
        Duration::from_secs(45),
        || async { from_am(&am_inbox, "BreakerboxBreakerOpen", &b_inst, "resolved") },
    )
    .await;
    phase("alert fired and resolved through Alertmanager");

    // Replica b dies (SIGKILL, no goodbye). Its own alerts resolve although their counters
    // stay in the rules' windows, and the dead replica fires. Replica a, still forced open,
    // is now the whole live fleet: `search` is open fleet-wide (counting the dead replica,
    // 1 of 2 would not be more than half, and the alert could not fire).
    let killed = Command::new("kill")
        .arg("-KILL")
        .arg(b.pid().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    b.stop(); // reaps it
    eventually(
        "the dead replica's other alerts resolved",
        Duration::from_secs(30),
        || async {
            let q = format!(
                r#"ALERTS{{instance="{b_inst}",alertname!="BreakerboxReplicaNotReporting"}}"#
            );
            query(&http, &prom_url, &q).await.is_empty().then_some(())
        },
    )
    .await;
    eventually(
        "BreakerboxReplicaNotReporting for the killed replica",
        Duration::from_secs(120),
        firing(
            "BreakerboxReplicaNotReporting",
            format!(r#",instance="{b_inst}",job="breakerbox""#),
        ),
    )
    .await;
    let live = query(
        &http,
        &prom_url,
        &format!(r#"ALERTS{{alertname="BreakerboxReplicaNotReporting",instance="{a_inst}"}}"#),
    )
    .await;
    assert!(live.is_empty(), "the live replica is reported: {live:?}");
    phase("the killed replica reported");
    eventually(
        "BreakerboxFleetWideOpen for the survivor still forced open",
        Duration::from_secs(60),
        firing("BreakerboxFleetWideOpen", r#",breaker="search""#.into()),
    )
    .await;
    phase("fleet-wide open with one of two replicas dead");
    eventually(
        "the dead replica via Alertmanager",
        Duration::from_secs(30),
        || async {
            from_am(
                &am_inbox,
                "BreakerboxReplicaNotReporting",
                &b_inst,
                "firing",
            )
        },
    )
    .await;

    // The breakers' own notifier delivered to the webhook and to Alertmanager.
    let hooks = hook_inbox.lock().unwrap().clone();
    assert!(
        hooks.iter().any(|h| h.to_string().contains("search")),
        "no webhook notification for search: {hooks:?}"
    );
    let sent = query(
        &http,
        &prom_url,
        r#"sum(breakerbox_notifications_total{result="sent"}) > 0"#,
    )
    .await;
    assert!(!sent.is_empty(), "no notification sent: {}", a.log());

    // Replica a exported its spans over OTLP: call spans, and the open -> half_open
    // transitions its eager timer made outside any span, as spans of their own.
    let spans = eventually(
        "spans exported over OTLP",
        Duration::from_secs(30),
        || async {
            let spans = exported(&traces);
            let timer_transition = spans.iter().any(|s| {
                s.name == SPAN_TRANSITION
                    && s.attrs
                        .contains(&(ATTR_REASON.into(), "timeout_elapsed".into()))
                    && s.attrs.contains(&(ATTR_TO.into(), "half_open".into()))
            });
            let call = spans.iter().any(|s| s.name == SPAN_CALL);
            (timer_transition && call).then_some(spans)
        },
    )
    .await;
    assert!(
        spans.iter().all(|s| s.service == "breakerbox-demo-e2e"),
        "service.name not taken from OTEL_SERVICE_NAME: {:?}",
        spans.first()
    );
    phase("spans exported");
    drop(a);
}
