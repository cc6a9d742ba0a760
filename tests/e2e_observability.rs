//! End to end, with real servers: the demo service (the same code as `examples/demo`) is
//! scraped every second by a real Prometheus with the shipped alert rules loaded, its
//! breakers are driven through every state, and then
//! - every panel query and template-variable query of every dashboard returns data,
//! - every alert rule evaluates without error,
//! - the open alert fires in Prometheus, reaches a webhook receiver through a real
//!   Alertmanager, and resolves after an operator resets the breaker through the admin API,
//! - the breaker's own notifier delivers to a webhook and to Alertmanager.
//!
//! Needs `prometheus`, `promtool` and `prometheus-alertmanager` (Debian packages; the test
//! script installs them).

#![cfg(feature = "full")]

#[path = "../examples/demo/app.rs"]
mod app;
#[path = "support/servers.rs"]
mod servers;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State as AxumState;
use axum::routing::post;
use breakerbox::{CallError, CircuitBreaker, State};
use serde_json::Value;
use servers::{eventually, free_port};

const TOKEN: &str = "e2e-admin-token";

type Inbox = Arc<Mutex<Vec<Value>>>;

/// A real HTTP receiver: `/alertmanager` takes Alertmanager's webhook posts, `/hook` the
/// breakerbox notifier's.
async fn receiver() -> (String, Inbox, Inbox) {
    let am: Inbox = Arc::default();
    let hook: Inbox = Arc::default();
    async fn push(AxumState(inbox): AxumState<Inbox>, Json(v): Json<Value>) -> &'static str {
        inbox.lock().unwrap().push(v);
        "ok"
    }
    let app = axum::Router::new()
        .route("/alertmanager", post(push).with_state(am.clone()))
        .route("/hook", post(push).with_state(hook.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, am, hook)
}

async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

async fn query(http: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let url = format!("{prom}/api/v1/query");
    let v: Value = http
        .get(url)
        .query(&[("query", q)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

async fn call(b: &CircuitBreaker, ok: bool, took: Duration) {
    let _ = b
        .call(async move {
            tokio::time::sleep(took).await;
            if ok { Ok(()) } else { Err("dependency error") }
        })
        .await;
}

async fn fail_until(b: &CircuitBreaker, state: State) {
    for _ in 0..100 {
        if b.state() == state {
            return;
        }
        call(b, false, Duration::from_millis(1)).await;
    }
    panic!("{} never reached {state}", b.name());
}

/// The shipped rules with `for:` shortened to a second, so the test need not wait minutes;
/// the expressions are unchanged.
fn fast_rules(dir: &Path) -> std::path::PathBuf {
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/breakerbox.rules.yml"),
    )
    .unwrap();
    let fast: String = rules
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("for:") {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}for: 1s\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    servers::write(dir, "rules.yml", &fast)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_alerts_and_notifications_work_against_real_servers() {
    for bin in ["prometheus", "prometheus-alertmanager", "promtool"] {
        assert!(
            servers::have(bin),
            "{bin} is not installed (scripts/test.sh installs it)"
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let (recv, am_inbox, hook_inbox) = receiver().await;
    let am = servers::alertmanager(&format!("{recv}/alertmanager"));
    eventually("alertmanager ready", Duration::from_secs(20), || async {
        let r = http
            .get(format!("{}/-/ready", am.url()))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    let demo = app::start(app::Options {
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        admin_token: Some(TOKEN.into()),
        webhook: Some(format!("{recv}/hook")),
        alertmanager: Some(am.url()),
        print_transitions: false,
    })
    .await
    .unwrap();
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = fast_rules(rules_dir.path());
    let prom = servers::prometheus(
        &[demo.addr.to_string()],
        &[rules],
        Some(format!("127.0.0.1:{}", am.port)),
    );
    let prom_url = prom.url();
    eventually("prometheus ready", Duration::from_secs(20), || async {
        let r = http.get(format!("{prom_url}/-/ready")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    // Drive every breaker through its states.
    let get = |n: &str| demo.registry.get(n).unwrap();
    let (postgres, redis, rpc) = (get("postgres"), get("redis"), get("solana-rpc"));
    let (pricing, recs, search) = (get("pricing-api"), get("recommendations"), get("search"));
    for b in [&postgres, &redis, &rpc, &pricing, &recs, &search] {
        for i in 0..12 {
            call(b, true, Duration::from_millis(1 + i % 4)).await;
        }
        call(b, true, Duration::from_millis(30)).await; // slow
    }
    fail_until(&postgres, State::Open).await;
    fail_until(&redis, State::Open).await;
    fail_until(&rpc, State::Open).await;
    for _ in 0..5 {
        call(&postgres, true, Duration::ZERO).await; // rejected
    }
    for _ in 0..12 {
        call(&recs, false, Duration::from_millis(1)).await; // dry-run trip
        call(&search, false, Duration::from_millis(1)).await; // disabled: measured only
    }
    let admin = |path: &str| {
        http.post(format!("http://{}/api/circuit-breakers/{path}", demo.addr))
            .bearer_auth(TOKEN)
            .send()
    };
    let r = admin("force-open/pricing-api?ttl=2s").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(matches!(
        pricing.call(async { Ok::<_, ()>(()) }).await,
        Err(CallError::Rejected(_))
    ));
    // The timer moves redis and rpc to half-open after their 3 s reset timeout.
    eventually("half-open", Duration::from_secs(10), || async {
        (redis.state() == State::HalfOpen && rpc.state() == State::HalfOpen).then_some(())
    })
    .await;
    call(&rpc, false, Duration::from_millis(1)).await; // failed trial: back to open
    assert_eq!(rpc.state(), State::Open);
    for _ in 0..3 {
        call(&redis, true, Duration::from_millis(2)).await;
    }
    assert_eq!(redis.state(), State::Closed);
    eventually(
        "pricing-api probing after its TTL",
        Duration::from_secs(10),
        || async { (pricing.state() == State::HalfOpen).then_some(()) },
    )
    .await;
    for s in [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Disabled,
        State::MetricsOnly,
    ] {
        assert!(demo.registry.snapshot_all().iter().any(|b| b.state == s) || s == State::Open,);
    }

    // Prometheus has scraped the states and several samples of every counter.
    let prom_url = prom.url();
    eventually(
        "scrapes of the final states",
        Duration::from_secs(30),
        || async {
            let closed = query(
                &http,
                &prom_url,
                r#"breakerbox_state{breaker="redis",state="closed"} == 1"#,
            )
            .await;
            let probing = query(
                &http,
                &prom_url,
                r#"breakerbox_state{breaker="pricing-api",state="half_open"} == 1"#,
            )
            .await;
            (closed.len() == 1 && probing.len() == 1).then_some(())
        },
    )
    .await;
    // Live traffic while the dashboards are checked, as in a real service: postgres keeps
    // failing (its trials fail, so it stays open and rejects), the dry-run and disabled
    // breakers keep measuring.
    let traffic = {
        let (postgres, recs, search) = (postgres.clone(), recs.clone(), search.clone());
        tokio::spawn(async move {
            loop {
                call(&postgres, false, Duration::from_millis(1)).await;
                call(&recs, true, Duration::from_millis(2)).await;
                call(&search, false, Duration::from_millis(1)).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Wait (by polling, not a fixed sleep) until rate() sees the live traffic.
    eventually("rates of the live traffic", Duration::from_secs(30), || async {
        let q = r#"sum(rate(breakerbox_calls_total{breaker="postgres",outcome="rejected"}[1m])) > 0"#;
        (!query(&http, &prom_url, q).await.is_empty()).then_some(())
    })
    .await;

    // Every dashboard query and template variable returns data.
    let out = tokio::process::Command::new("python3")
        .arg("scripts/check_dashboards.py")
        .arg("--prometheus")
        .arg(&prom_url)
        .arg("dashboards/breakerbox-overview.json")
        .arg("dashboards/breakerbox-breaker.json")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dashboard queries failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every rule evaluates without error.
    let rules = get_json(&http, &format!("{prom_url}/api/v1/rules"))
        .await
        .unwrap();
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
    assert!(count >= 9, "only {count} rules loaded");

    // The open alert fires in Prometheus...
    eventually("BreakerboxBreakerOpen firing for postgres", Duration::from_secs(30), || async {
        let r = query(&http, &prom_url, r#"ALERTS{alertname="BreakerboxBreakerOpen",breaker="postgres",alertstate="firing"}"#).await;
        (!r.is_empty()).then_some(())
    })
    .await;
    // ...and reaches the receiver through Alertmanager.
    let from_am = |status: &'static str| {
        let inbox = am_inbox.clone();
        move || {
            let inbox = inbox.clone();
            async move {
                inbox.lock().unwrap().iter().find_map(|msg| {
                    msg["alerts"]
                        .as_array()?
                        .iter()
                        .find(|a| {
                            a["labels"]["alertname"] == "BreakerboxBreakerOpen"
                                && a["labels"]["breaker"] == "postgres"
                                && a["status"] == status
                        })
                        .cloned()
                })
            }
        }
    };
    let firing = eventually(
        "the firing alert via Alertmanager",
        Duration::from_secs(30),
        from_am("firing"),
    )
    .await;
    assert_eq!(firing["labels"]["severity"], "warning");
    assert!(
        firing["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .contains("ALERTS.md#breakerboxbreakeropen")
    );

    // An operator resets postgres through the admin API: the alert resolves.
    traffic.abort();
    let _ = traffic.await;
    let r = admin("reset/postgres").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(postgres.state(), State::Closed);
    eventually(
        "the resolved alert via Alertmanager",
        Duration::from_secs(45),
        from_am("resolved"),
    )
    .await;

    // The breakers' own notifier delivered to the webhook and to Alertmanager.
    let hooks = hook_inbox.lock().unwrap().clone();
    assert!(
        hooks.iter().any(|h| h.to_string().contains("postgres")),
        "no webhook notification for postgres: {hooks:?}"
    );
    let sent = query(
        &http,
        &prom_url,
        r#"sum(breakerbox_notifications_total{result="sent"})"#,
    )
    .await;
    assert!(!sent.is_empty(), "notifications_total not scraped");
}
