//! End to end, fleet mode: two replicas of the demo service (two processes of the built
//! `demo` example) share their breakers through one real `redis-server`
//! (`--redis URL --replica-id ID`), scraped every second by a real Prometheus. Then
//! - every query of the overview dashboard's "State store and fleet" row returns data, and
//!   its "Replicas deciding without their fleet" stat reads 0 while both replicas are
//!   connected,
//! - a dependency failing on both replicas too slowly for either one's own window (the
//!   demo's `fleet-trip` incident) opens the breaker by a fleet verdict on both, and their
//!   health JSON says why: reason `fleet` and the fleet's numbers (calls, rate, replicas
//!   failing, quorum) next to the replica's own smaller window,
//! - an operator's force-open on one replica reaches the other through the fleet (the
//!   Prometheus series of both say `forced_open`, and the other replica's health JSON),
//! - when Redis dies, the same stat counts both replicas deciding alone.
//!
//! Runs beside the two-replica test of `e2e.rs` (its own processes, ports and Prometheus);
//! it waits on no alert clock. Needs `prometheus`, `redis-server` (scripts/test.sh installs
//! them).

#![cfg(feature = "full")]

use std::path::Path;
use std::time::Duration;

use crate::support::demo;
use crate::support::eventually::eventually;
use crate::support::http::{client, json};
use crate::support::process::{self, Server, free_port};
use crate::support::{redis, servers};
use serde_json::Value;

const TOKEN: &str = "e2e-fleet-token";

/// The row of the overview dashboard whose queries this test requires to return data.
const FLEET_ROW: &str = "State store and fleet";

/// The stat of that row counting replicas that decide without their fleet.
const DECIDING_ALONE: &str = "Replicas deciding without their fleet";

async fn query(http: &reqwest::Client, prom: &str, q: &str) -> Vec<Value> {
    let url = format!("{prom}/api/v1/query");
    let v = json(http.get(url).query(&[("query", q)])).await;
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// One demo replica in fleet mode, with a state file (the row's state-store panels).
fn replica(bin: &Path, name: &'static str, redis_url: &str, state: &Path) -> Server {
    demo::calm_fleet_replica(bin, name, free_port(), redis_url, state, TOKEN, None)
}

/// Every (panel title, query) of the overview dashboard's row `row`, with the dashboard's
/// variables as `scripts/check_dashboards.py` substitutes them (every value; 1m and 5m
/// ranges).
fn row_queries(row: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/breakerbox-overview.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let row = panels
        .iter()
        .find(|p| p["type"] == "row" && p["title"] == row)
        .unwrap_or_else(|| panic!("no row {row:?} in the overview dashboard"));
    // A collapsed row holds its panels; an expanded one is followed by them.
    let nested = row["panels"].as_array().cloned().unwrap_or_default();
    let members: Vec<Value> = if nested.is_empty() {
        panels
            .iter()
            .skip_while(|p| *p != row)
            .skip(1)
            .take_while(|p| p["type"] != "row")
            .cloned()
            .collect()
    } else {
        nested
    };
    let mut out = Vec::new();
    for panel in &members {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let expr = ["job", "instance", "breaker"]
                .iter()
                .fold(expr.to_owned(), |e, v| {
                    e.replace(&format!("${{{v}:regex}}"), ".*")
                })
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "1m")
                .replace("$__range", "5m");
            assert!(!expr.contains('$'), "unsubstituted variable in {expr}");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    assert!(
        out.len() >= 3,
        "the {row:?} row has too few queries: {out:?}"
    );
    out
}

/// The value of the one-series result of `q`.
async fn scalar(http: &reqwest::Client, prom: &str, q: &str) -> Option<f64> {
    let result = query(http, prom, q).await;
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_in_fleet_mode_fill_the_fleet_panels_and_share_an_operator_action() {
    for bin in ["prometheus", "redis-server"] {
        assert!(
            process::have(bin),
            "{bin} is not installed (scripts/test.sh installs it)"
        );
    }
    let http = client();
    let demo = demo::demo_binary();
    let mut redis_server = redis::start(free_port());
    let redis_url = redis::url(redis_server.port);
    let states = tempfile::tempdir().unwrap();
    let c = replica(&demo, "fleet-c", &redis_url, &states.path().join("c.json"));
    let d = replica(&demo, "fleet-d", &redis_url, &states.path().join("d.json"));
    let instances = [c.port, d.port].map(|p| format!("127.0.0.1:{p}"));
    let prom = servers::prometheus(&instances, &[], None);
    let prom_url = prom.url();
    servers::ready(&prom).await;
    let connected = "max by (instance) (breakerbox_fleet_connected) == 1";
    eventually(
        "both replicas scraped and connected to their fleet",
        Duration::from_secs(60),
        || async { (query(&http, &prom_url, connected).await.len() == 2).then_some(()) },
    )
    .await;

    // (First, so the calm replicas have state changes to save for the store panels.)
    // A dependency failing on both replicas, too slowly for either replica's own window to
    // trip (under min_calls, under the consecutive threshold): the fleet's window trips it,
    // and the health JSON says why with the fleet's numbers.
    for r in [&c, &d] {
        let resp = http
            .post(format!("{}/demo/incidents/fleet-trip", r.url()))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    for r in [&c, &d] {
        let t = eventually(
            "postgres opened by a fleet verdict",
            Duration::from_secs(60),
            || async {
                let health: Value =
                    json(http.get(format!("{}/api/circuit-breakers/health", r.url()))).await;
                let pg = health["breakers"]
                    .as_array()?
                    .iter()
                    .find(|b| b["name"] == "postgres")?
                    .clone();
                let t = pg["last_transition"].clone();
                (t["reason"] == "fleet" && t["to"] == "open").then_some(t)
            },
        )
        .await;
        let fleet = &t["fleet"];
        assert!(fleet["calls"].as_u64().unwrap() >= 10, "{t}");
        assert_eq!(fleet["replicas_failing"], 2, "{t}");
        assert_eq!(fleet["quorum"], 2, "{t}");
        assert_eq!(fleet["trigger"], "failure_rate", "{t}");
        assert!(fleet["failure_rate"].as_f64().unwrap() >= 0.7, "{t}");
        assert!(
            t["calls"].as_u64().unwrap() < 10,
            "its own window was under min_calls: {t}"
        );
    }
    for r in [&c, &d] {
        let _ = http
            .delete(format!("{}/demo/incidents/fleet-trip", r.url()))
            .send()
            .await;
    }

    // Every query of the fleet row returns data; nobody decides alone.
    let queries = row_queries(FLEET_ROW);
    for (title, expr) in &queries {
        eventually(title, Duration::from_secs(30), || async {
            (!query(&http, &prom_url, expr).await.is_empty()).then_some(())
        })
        .await;
    }
    let alone = queries
        .iter()
        .find(|(title, _)| title == DECIDING_ALONE)
        .map(|(_, expr)| expr.clone())
        .unwrap_or_else(|| panic!("no panel {DECIDING_ALONE:?} in {FLEET_ROW:?}"));
    assert_eq!(scalar(&http, &prom_url, &alone).await, Some(0.0));

    // An operator forces `search` open on replica c only: d follows through the fleet.
    let resp = http
        .post(format!(
            "{}/api/circuit-breakers/force-open/search",
            c.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    eventually(
        "search forced open on both replicas",
        Duration::from_secs(30),
        || async {
            let q = r#"breakerbox_state{breaker="search",state="forced_open"} == 1"#;
            (query(&http, &prom_url, q).await.len() == 2).then_some(())
        },
    )
    .await;
    let health: Value = json(http.get(format!("{}/api/circuit-breakers/health", d.url()))).await;
    let search = health["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "search")
        .cloned()
        .unwrap();
    assert_eq!(search["state"], "forced_open", "{search}");

    // Redis dies: both replicas decide alone, and the fleet stat counts them.
    redis_server.stop();
    eventually(
        "both replicas deciding without their fleet",
        Duration::from_secs(60),
        || async { (scalar(&http, &prom_url, &alone).await == Some(2.0)).then_some(()) },
    )
    .await;
    drop((c, d));
}
