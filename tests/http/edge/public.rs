//! Public endpoints: rejection bodies without internal names, and readiness that ignores
//! optional dependencies.

use axum::Router;
use axum::routing::get;
use breakerbox::http::{CircuitBreakerLayer, Readiness};
use breakerbox::{Config, Registry};

use crate::support::http::{Served, client};

#[tokio::test]
async fn hidden_names_leave_the_breaker_out_of_the_503_body_only() {
    let registry = Registry::new();
    let ledger = registry
        .breaker("ledger-postgres-primary", Config::database())
        .unwrap();
    let app = Router::new()
        .route("/hidden", get(|| async { "ok" }))
        .layer(CircuitBreakerLayer::new(ledger.clone()).hide_breaker_names())
        .merge(
            Router::new()
                .route("/shown", get(|| async { "ok" }))
                .layer(CircuitBreakerLayer::new(ledger.clone())),
        );
    let served = Served::start(app).await;
    ledger.force_open_for(std::time::Duration::from_secs(30));
    let http = client();
    let hidden = http.get(served.url("/hidden")).send().await.unwrap();
    assert_eq!(hidden.status(), 503);
    assert_eq!(hidden.headers()["retry-after"], "30");
    let text = hidden.text().await.unwrap();
    assert!(!text.contains("ledger"), "{text}");
    assert!(!text.contains("forced_open"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["type"], "CircuitBreakerOpen");
    assert_eq!(body["retry_after"], 30);
    let shown = http.get(served.url("/shown")).send().await.unwrap();
    let body: serde_json::Value = shown.json().await.unwrap();
    assert_eq!(body["breaker"], "ledger-postgres-primary");
}

#[tokio::test]
async fn readiness_ignores_optional_dependencies_only() {
    let registry = Registry::new();
    let db = registry.breaker("postgres", Config::database()).unwrap();
    let cache = registry.breaker("redis", Config::cache()).unwrap();
    let app = Readiness::new(&registry).optional("redis").router::<()>();
    let served = Served::start(Router::new().merge(app)).await;
    let http = client();
    let ready = || async {
        let res = http.get(served.url("/ready")).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json::<serde_json::Value>().await.unwrap())
    };
    let (status, _) = ready().await;
    assert_eq!(status, 200);
    cache.force_open();
    let (status, body) = ready().await;
    assert_eq!(status, 200, "an optional dependency only degrades: {body}");
    assert_eq!(body["degraded"], serde_json::json!(["redis"]));
    db.force_open();
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["open"], serde_json::json!(["postgres"]));
    assert_eq!(body["ready"], false);
}
