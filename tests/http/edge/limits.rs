//! The limits as tower layers over real HTTP: a full bulkhead answers 503, a rate limit
//! 429 with `Retry-After`, both problem+json, and the handler never runs.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use breakerbox::ManualClock;
use breakerbox::limit::{Bulkhead, LimitLayer, RateLimit};
use tokio::sync::Notify;

use crate::support::http::{Served, client};

#[tokio::test]
async fn a_rate_limited_route_answers_429_with_retry_after() {
    let clock = ManualClock::new();
    let limit = RateLimit::builder("quotes")
        .per_second(1)
        .burst(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/quote", get(|| async { "42" }))
        .layer(LimitLayer::rate(limit));
    let served = Served::start(app).await;
    let http = client();
    let ok = http.get(served.url("/quote")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let limited = http.get(served.url("/quote")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["type"], "RateLimited");
    assert_eq!(body["breaker"], "quotes");
    clock.advance(Duration::from_secs(1));
    let ok = http.get(served.url("/quote")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_full_bulkhead_answers_503_until_a_slot_frees() {
    let slots = Bulkhead::new("trade", 1).unwrap();
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let (r, e) = (release.clone(), entered.clone());
    let app = Router::new()
        .route(
            "/trade",
            get(move || {
                let (r, e) = (r.clone(), e.clone());
                async move {
                    e.notify_one();
                    r.notified().await;
                    "done"
                }
            }),
        )
        .layer(LimitLayer::bulkhead(slots.clone()));
    let served = Served::start(app).await;
    let http = client();
    let first = tokio::spawn({
        let (http, url) = (http.clone(), served.url("/trade"));
        async move { http.get(url).send().await.unwrap().status() }
    });
    entered.notified().await;
    assert_eq!(slots.in_use(), 1);
    let full = http.get(served.url("/trade")).send().await.unwrap();
    assert_eq!(full.status(), 503);
    assert!(full.headers().get("retry-after").is_none());
    let body: serde_json::Value = full.json().await.unwrap();
    assert_eq!(body["type"], "BulkheadFull");
    release.notify_one();
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(slots.in_use(), 0);
}
