//! End to end, every alert rule fires and resolves: two calm replicas of the demo
//! (`--calm`: healthy until an incident starts) in fleet mode, a real Redis, Prometheus and
//! Alertmanager. Prometheus loads a copy of `alerts/breakerbox.rules.yml` whose time is
//! compressed by [`FACTOR`]: every `for:`, every range `[5m]`, every `offset` and the one
//! "seconds since" threshold (`time() - ... > 300`) divided by it, rewritten by
//! [`compress`], never by hand, so each rule's expression, labels and annotations are the
//! shipped ones and only time is scaled.
//!
//! Each incident is driven as an operator or a failure would drive it (the demo's
//! `/demo/incidents/{name}`, the admin API, killing Redis or a replica, a state file that
//! cannot be written), its alerts must reach Alertmanager's webhook firing, then the
//! incident stops and they must reach it resolved. Incidents on different breakers run at
//! once. The measured times are printed (docs/ALERTS.md, "Every alert, driven").

#![cfg(feature = "full")]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::demo;
use crate::support::eventually::eventually;
use crate::support::http::client;
use crate::support::process::{self, Server, free_port, write};
use crate::support::{redis, servers};
use axum::Json;
use axum::extract::State as AxumState;
use axum::routing::post;
use serde_json::Value;

/// How much faster than the shipped rules' clocks the copy runs.
pub const FACTOR: u64 = 20;

const TOKEN: &str = "e2e-incidents-token";

/// Seconds of a Prometheus duration literal (`90s`, `5m`, `1h`, `1d`) at the start of `s`,
/// and its length; `None` when `s` does not start with one (`5ms` is not one).
fn duration_at(s: &str) -> Option<(usize, u64)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let unit = s[digits..].chars().next()?;
    let after = s[digits..].chars().nth(1);
    if digits == 0 || after.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    Some((digits + 1, n * scale))
}

/// `secs` divided by `factor`, as seconds; the division must be exact.
fn scaled(secs: u64, factor: u64) -> String {
    assert_eq!(secs % factor, 0, "{secs}s is not a multiple of {factor}");
    format!("{}s", secs / factor)
}

/// The rules `text` with every duration divided by `factor`: `for:` values, ranges and
/// subquery ranges (`[5m]`, `[1h:1m]`), `offset` durations, and the threshold of a
/// "seconds since" comparison (`time() - x > 300`). Returns the text and how many
/// durations were rewritten.
pub fn compress(text: &str, factor: u64) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    for line in text.split_inclusive('\n') {
        let seconds_since = line.contains("time() -");
        let mut i = 0;
        while i < line.len() {
            let rest = &line[i..];
            let prefix = ["for: ", "[", "offset ", ":"]
                .into_iter()
                .find(|p| {
                    rest.starts_with(p)
                        && (*p != "for: " || line.trim_start().starts_with("for:"))
                        && (*p != ":" || out.ends_with(|c: char| c.is_ascii_alphanumeric()))
                })
                .or_else(|| (seconds_since && rest.starts_with("> ")).then_some("> "));
            if let Some(p) = prefix {
                let after = &rest[p.len()..];
                if p == "> " {
                    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                    if let Ok(secs) = after[..digits].parse::<u64>() {
                        assert_eq!(secs % factor, 0, "{secs} is not a multiple of {factor}");
                        out.push_str(p);
                        out.push_str(&(secs / factor).to_string());
                        count += 1;
                        i += p.len() + digits;
                        continue;
                    }
                } else if let Some((len, secs)) = duration_at(after) {
                    out.push_str(p);
                    out.push_str(&scaled(secs, factor));
                    count += 1;
                    i += p.len() + len;
                    continue;
                }
            }
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    (out, count)
}

type Inbox = Arc<Mutex<Vec<(Instant, Value)>>>;

/// Alertmanager's webhook receiver: every post, with the time it arrived.
async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    async fn push(AxumState(inbox): AxumState<Inbox>, Json(v): Json<Value>) -> &'static str {
        inbox.lock().unwrap().push((Instant::now(), v));
        "ok"
    }
    let app = axum::Router::new().route("/am", post(push).with_state(inbox.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/am", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

/// When Alertmanager first delivered `alert` with `labels` in `status`, after `since`.
fn delivered(
    inbox: &Inbox,
    alert: &str,
    labels: &[(&str, String)],
    status: &str,
    since: Instant,
) -> Option<Instant> {
    inbox.lock().unwrap().iter().find_map(|(at, msg)| {
        let found = msg["alerts"].as_array()?.iter().any(|a| {
            a["labels"]["alertname"] == alert
                && a["status"] == status
                && labels.iter().all(|(k, v)| a["labels"][*k] == v.as_str())
        });
        (found && *at >= since).then_some(*at)
    })
}

/// One demo replica, calm, in fleet mode, with a state file.
fn replica(
    bin: &Path,
    name: &'static str,
    port: u16,
    redis_url: &str,
    state: &Path,
    webhook: Option<&str>,
) -> Server {
    demo::calm_fleet_replica(bin, name, port, redis_url, state, TOKEN, webhook)
}

async fn post_ok(http: &reqwest::Client, url: String, delete: bool) {
    let req = if delete {
        http.delete(&url)
    } else {
        http.post(&url)
    };
    let resp = req.bearer_auth(TOKEN).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
}

/// An alert this test requires, with the labels that single it out.
type Expected = (&'static str, Vec<(&'static str, String)>);

/// Waits for every alert of `expected` to be delivered in `status` after `since`;
/// returns, per alert, the seconds it took.
async fn all_delivered(
    inbox: &Inbox,
    expected: &[Expected],
    status: &str,
    since: Instant,
) -> Vec<f64> {
    let mut took = Vec::new();
    for (alert, labels) in expected {
        let what = format!("{alert} {labels:?} {status}");
        let at = eventually(&what, Duration::from_secs(150), || async {
            delivered(inbox, alert, labels, status, since)
        })
        .await;
        took.push(at.duration_since(since).as_secs_f64());
    }
    took
}

/// Rows of docs/ALERTS.md's table: alert, incident, time to fire, time to resolve.
type Rows = Arc<Mutex<Vec<String>>>;

fn record(rows: &Rows, incident: &str, expected: &[Expected], fired: &[f64], resolved: &[f64]) {
    let mut rows = rows.lock().unwrap();
    for (((alert, _), f), r) in expected.iter().zip(fired).zip(resolved) {
        rows.push(format!("| {alert} | {incident} | {f:.0} s | {r:.0} s |"));
    }
}

#[test]
fn compressing_the_rules_scales_every_duration_and_nothing_else() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/breakerbox.rules.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let (fast, count) = compress(&text, FACTOR);
    assert!(count >= 30, "only {count} durations rewritten");
    assert!(
        fast.contains("for: 3s") && fast.contains("for: 30s"),
        "{fast}"
    );
    assert!(fast.contains("[15s]") && fast.contains("[180s]") && fast.contains("offset 3s"));
    assert!(fast.contains("breakerbox_state_since_timestamp_seconds > 15"));
    assert!(!fast.contains("[5m]") && !fast.contains("for: 5m") && !fast.contains("> 300"));
    // Nothing but the durations changed.
    assert_eq!(
        text.lines().count(),
        fast.lines().count(),
        "lines added or removed"
    );
    for (a, b) in text.lines().zip(fast.lines()) {
        let strip = |l: &str| l.replace(|c: char| c.is_ascii_digit(), "");
        let (a, b) = (strip(a), strip(b));
        // A duration's unit may change (5m -> 15s), nothing else.
        let same = a == b || a.replace(['m', 'h', 'd'], "s") == b.replace(['m', 'h', 'd'], "s");
        assert!(same, "{a}\n{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_rule_fires_and_resolves_through_alertmanager_with_compressed_time() {
    for bin in [
        "prometheus",
        "prometheus-alertmanager",
        "promtool",
        "redis-server",
    ] {
        assert!(
            process::have(bin),
            "{bin} is not installed (scripts/test.sh installs it)"
        );
    }
    let started = Instant::now();
    let phase = |what: &str| {
        eprintln!(
            "[incidents {:6.1} s] {what}",
            started.elapsed().as_secs_f64()
        )
    };
    let http = client();
    let demo = demo::demo_binary();
    let work = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/breakerbox.rules.yml");
    let (fast, _) = compress(&std::fs::read_to_string(shipped).unwrap(), FACTOR);
    let rules = write(work.path(), "compressed.rules.yml", &fast);
    let check = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let (hook, inbox) = receiver().await;
    let am = servers::alertmanager(&hook);
    let redis_port = free_port();
    let redis_server = Arc::new(Mutex::new(Some(redis::start(redis_port))));
    let redis_url = redis::url(redis_port);
    let (a_port, b_port) = (free_port(), free_port());
    let (a_state, b_state) = (work.path().join("a.json"), work.path().join("b.json"));
    let dead_hook = format!("http://127.0.0.1:{}/hook", free_port());
    let a = replica(&demo, "incidents-a", a_port, &redis_url, &a_state, None);
    let b_spec = (b_port, b_state.clone(), dead_hook.clone());
    let b = Arc::new(Mutex::new(Some(replica(
        &demo,
        "incidents-b",
        b_port,
        &redis_url,
        &b_state,
        Some(&dead_hook),
    ))));
    let (a_inst, b_inst) = (format!("127.0.0.1:{a_port}"), format!("127.0.0.1:{b_port}"));
    let am_addr = Some(format!("127.0.0.1:{}", am.port));
    let prom = servers::prometheus(
        &[a_inst.clone(), b_inst.clone()],
        std::slice::from_ref(&rules),
        am_addr.clone(),
    );
    // A second Prometheus that scrapes nothing yet: no breakerbox series at all.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let empty = servers::prometheus(
        std::slice::from_ref(&nowhere),
        std::slice::from_ref(&rules),
        am_addr,
    );
    let empty_started = Instant::now();
    servers::ready(&am).await;
    servers::ready(&prom).await;
    servers::ready(&empty).await;
    let prom_url = prom.url();
    eventually(
        "both calm replicas scraped",
        Duration::from_secs(60),
        || async {
            let url = format!("{prom_url}/api/v1/query");
            let v: Value = http
                .get(&url)
                .query(&[("query", "up == 1")])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["data"]["result"].as_array()?.len() == 2).then_some(())
        },
    )
    .await;
    phase("servers ready");

    let rows: Rows = Arc::default();
    let (a_url, b_url) = (format!("http://{a_inst}"), format!("http://{b_inst}"));
    let demo_incident = |url: &str, name: &str| format!("{url}/demo/incidents/{name}");
    let admin = |url: &str, path: &str| format!("{url}/api/circuit-breakers/{path}");
    let on = |breaker: &str, inst: &str| {
        vec![
            ("breaker", breaker.to_owned()),
            ("instance", inst.to_owned()),
        ]
    };
    let mut tasks = tokio::task::JoinSet::new();

    // The demo's own incidents, each on its breaker and replica.
    let demo_incidents: Vec<(&str, &str, Vec<Expected>)> = vec![
        (
            "timeouts",
            a_url.as_str(),
            vec![("BreakerboxCallTimeouts", on("redis", &a_inst))],
        ),
        (
            "near-threshold",
            a_url.as_str(),
            vec![(
                "BreakerboxFailureRateNearThreshold",
                on("postgres", &a_inst),
            )],
        ),
        (
            "flapping",
            a_url.as_str(),
            vec![("BreakerboxFlapping", on("recommendations", &a_inst))],
        ),
        (
            "bulkhead",
            a_url.as_str(),
            vec![("BreakerboxBulkheadSaturated", on("solana-rpc", &a_inst))],
        ),
        (
            "rate-limit",
            a_url.as_str(),
            vec![("BreakerboxRateLimited", on("pricing-api", &a_inst))],
        ),
        (
            "stuck-probe",
            b_url.as_str(),
            vec![("BreakerboxHalfOpenStuck", on("postgres", &b_inst))],
        ),
    ];
    for (name, url, expected) in demo_incidents {
        let (http, inbox, rows, url) = (
            http.clone(),
            inbox.clone(),
            rows.clone(),
            demo_incident(url, name),
        );
        let label = format!("demo incident `{name}`");
        tasks.spawn(async move {
            let t0 = Instant::now();
            post_ok(&http, url.clone(), false).await;
            let fired = all_delivered(&inbox, &expected, "firing", t0).await;
            let t1 = Instant::now();
            post_ok(&http, url, true).await;
            let resolved = all_delivered(&inbox, &expected, "resolved", t1).await;
            record(&rows, &label, &expected, &fired, &resolved);
        });
    }

    // An operator forces `search` open on both replicas, whose callers keep calling; B's
    // notifier posts to a dead webhook. Stopped by a reset on both.
    {
        let (http, inbox, rows) = (http.clone(), inbox.clone(), rows.clone());
        let urls = [
            admin(&a_url, "force-open/search"),
            admin(&b_url, "force-open/search"),
        ];
        let resets = [admin(&a_url, "reset/search"), admin(&b_url, "reset/search")];
        let expected: Vec<Expected> = vec![
            ("BreakerboxBreakerOpen", on("search", &a_inst)),
            ("BreakerboxBreakerOpenTooLong", on("search", &a_inst)),
            ("BreakerboxHighRejectionRatio", on("search", &a_inst)),
            (
                "BreakerboxFleetWideOpen",
                vec![("breaker", "search".to_owned())],
            ),
            (
                "BreakerboxNotifierFailing",
                vec![("instance", b_inst.clone())],
            ),
        ];
        tasks.spawn(async move {
            let t0 = Instant::now();
            for u in urls {
                post_ok(&http, u, false).await;
            }
            let fired = all_delivered(&inbox, &expected, "firing", t0).await;
            let t1 = Instant::now();
            for u in resets {
                post_ok(&http, u, false).await;
            }
            let resolved = all_delivered(&inbox, &expected, "resolved", t1).await;
            record(
                &rows,
                "force-open `search` on both (admin API); B's webhook is dead",
                &expected,
                &fired,
                &resolved,
            );
        });
    }

    // A's state file cannot be written (a directory took its place) while a change waits.
    {
        let (http, inbox, rows, path) =
            (http.clone(), inbox.clone(), rows.clone(), a_state.clone());
        let change = admin(&a_url, "force-open/search");
        let expected: Vec<Expected> = vec![(
            "BreakerboxStateStoreFailing",
            vec![("instance", a_inst.clone())],
        )];
        tasks.spawn(async move {
            let t0 = Instant::now();
            let _ = std::fs::remove_file(&path);
            std::fs::create_dir(&path).unwrap();
            post_ok(&http, change, false).await;
            let fired = all_delivered(&inbox, &expected, "firing", t0).await;
            let t1 = Instant::now();
            std::fs::remove_dir(&path).unwrap();
            let resolved = all_delivered(&inbox, &expected, "resolved", t1).await;
            record(
                &rows,
                "A's state file replaced by a directory",
                &expected,
                &fired,
                &resolved,
            );
        });
    }

    // Redis dies, then comes back on its port.
    {
        let (inbox, rows, redis_server) = (inbox.clone(), rows.clone(), redis_server.clone());
        let expected: Vec<Expected> = vec![(
            "BreakerboxFleetDisconnected",
            vec![("instance", a_inst.clone())],
        )];
        tasks.spawn(async move {
            let t0 = Instant::now();
            drop(redis_server.lock().unwrap().take());
            let fired = all_delivered(&inbox, &expected, "firing", t0).await;
            let t1 = Instant::now();
            *redis_server.lock().unwrap() = Some(redis::start(redis_port));
            let resolved = all_delivered(&inbox, &expected, "resolved", t1).await;
            record(
                &rows,
                "Redis killed, then restarted",
                &expected,
                &fired,
                &resolved,
            );
        });
    }

    // The second Prometheus scrapes no replica, then replica A (config reloaded).
    {
        let (http, inbox, rows) = (http.clone(), inbox.clone(), rows.clone());
        let config = empty.dir.path().join("prometheus.yml");
        let reload = format!("{}/-/reload", empty.url());
        let (nowhere, a_inst) = (nowhere.clone(), a_inst.clone());
        let expected: Vec<Expected> = vec![("BreakerboxMetricsAbsent", vec![])];
        tasks.spawn(async move {
            let t0 = empty_started;
            let fired = all_delivered(&inbox, &expected, "firing", t0).await;
            let t1 = Instant::now();
            let text = std::fs::read_to_string(&config)
                .unwrap()
                .replace(&nowhere, &a_inst);
            std::fs::write(&config, text).unwrap();
            let resp = http.post(reload).send().await.unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            let resolved = all_delivered(&inbox, &expected, "resolved", t1).await;
            record(
                &rows,
                "no replica scraped, then one",
                &expected,
                &fired,
                &resolved,
            );
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    phase("every incident fired and resolved");

    // Replica B is killed, then started again on its port with its state file.
    let expected: Vec<Expected> = vec![(
        "BreakerboxReplicaNotReporting",
        vec![("instance", b_inst.clone())],
    )];
    let t0 = Instant::now();
    drop(b.lock().unwrap().take());
    let fired = all_delivered(&inbox, &expected, "firing", t0).await;
    let t1 = Instant::now();
    let (port, state, hook) = b_spec;
    let _b = replica(
        &demo,
        "incidents-b-again",
        port,
        &redis_url,
        &state,
        Some(&hook),
    );
    let resolved = all_delivered(&inbox, &expected, "resolved", t1).await;
    record(
        &rows,
        "replica B killed, then started again",
        &expected,
        &fired,
        &resolved,
    );
    let restarted: Vec<Expected> = vec![(
        "BreakerboxReplicaRestarted",
        vec![("instance", b_inst.clone())],
    )];
    let fired = all_delivered(&inbox, &restarted, "firing", t1).await;
    let t2 = Instant::now();
    let resolved = all_delivered(&inbox, &restarted, "resolved", t2).await;
    record(
        &rows,
        "replica B started again (resolves by itself)",
        &restarted,
        &fired,
        &resolved,
    );
    phase("replica alerts fired and resolved");

    // Every rule of the shipped file was required.
    let rows = rows.lock().unwrap().clone();
    let shipped_alerts = fast
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(rows.len(), shipped_alerts, "{rows:#?}");
    eprintln!("| alert | incident | fires after | resolves after |\n|---|---|---|---|");
    for row in &rows {
        eprintln!("{row}");
    }
    drop(a);
}
