//! The edge preset leaves slowness to the dependency's breaker, and route breakers are
//! registered before the first request.

use std::time::Duration;

use axum::Router;
use axum::extract::State as AxState;
use axum::routing::get;
use breakerbox::http::{BreakerApi, CircuitBreakerLayer};
use breakerbox::observe::names::CALLS_TOTAL;
use breakerbox::{CallError, CircuitBreaker, Config, ManualClock, Registry, State};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::support::http::{Served, client, get_json};

#[derive(Clone)]
struct App {
    prices: CircuitBreaker,
    clock: ManualClock,
}

/// A price API that takes 6 s (by the shared manual clock) to answer.
async fn quote(AxState(app): AxState<App>) -> Result<String, CallError<String>> {
    let clock = app.clock.clone();
    app.prices
        .call(async move {
            clock.advance(Duration::from_secs(6));
            Ok::<_, String>("42".to_owned())
        })
        .await
}

#[tokio::test]
async fn a_slow_dependency_trips_its_own_breaker_not_the_edge_route() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let prices = registry.breaker("prices", Config::external_api()).unwrap();
    let app = Router::new()
        .route("/quote", get(quote))
        .with_state(App {
            prices: prices.clone(),
            clock,
        })
        .layer(CircuitBreakerLayer::per_route(&registry, Config::edge()).preregister(["/quote"]));
    let served = Served::start(app).await;
    let http = client();
    let min_calls = Config::external_api().min_calls();
    for _ in 0..min_calls {
        let res = http.get(served.url("/quote")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        prices.state(),
        State::Open,
        "slow-call rate of the dependency"
    );
    let route = registry.get("http:/quote").unwrap();
    assert_eq!(
        route.state(),
        State::Closed,
        "the edge does not trip on slowness"
    );
    // Clients are told which dependency is unavailable, not the route.
    let res = http.get(served.url("/quote")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["breaker"], "prices");
    assert_eq!(
        route.state(),
        State::Closed,
        "an inner refusal is not a failure"
    );
}

#[tokio::test]
async fn preregistered_routes_are_in_health_and_metrics_before_any_request() {
    let rec = DebuggingRecorder::new();
    let registry = Registry::new();
    let layer = metrics::with_local_recorder(&rec, || {
        CircuitBreakerLayer::per_route(&registry, Config::edge())
            .preregister(["/trade", "/quotes/{symbol}"])
    });
    let app = Router::new()
        .route("/trade", get(|| async { "ok" }))
        .route("/quotes/{symbol}", get(|| async { "42" }))
        .layer(layer)
        .merge(BreakerApi::new(&registry).router());
    let served = Served::start(app).await;
    let health = get_json(&client(), &served.url("/health")).await;
    let names: Vec<&str> = health["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["http:/quotes/{symbol}", "http:/trade"]);
    // The effective window and caps, where the config says null.
    let b = &health["breakers"][0];
    assert_eq!(b["config"]["failure_window"], serde_json::Value::Null);
    assert_eq!(
        b["effective"],
        serde_json::json!({
            "window_kind": "time",
            "window": "1m",
            "window_buckets": 10,
            "max_reset_timeout": "2m 30s",
            "call_timeout": "none",
        })
    );
    let series: Vec<String> = rec
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, _, _, v)| {
            k.key().name() == CALLS_TOTAL
                && *v == DebugValue::Counter(0)
                && k.key().labels().any(|l| l.value() == "success")
        })
        .filter_map(|(k, ..)| {
            k.key()
                .labels()
                .find(|l| l.key() == "breaker")
                .map(|l| l.value().to_owned())
        })
        .collect();
    assert_eq!(series.len(), 2, "{series:?}");
}
