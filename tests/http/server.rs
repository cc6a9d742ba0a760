//! The layer and the `IntoResponse` rejections over real HTTP: an axum server on
//! 127.0.0.1:0, a reqwest client, and a manual clock for the breakers.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use breakerbox::http::CircuitBreakerLayer;
use breakerbox::{CallError, CircuitBreaker, Config, ManualClock, Registry, State};

use crate::support::http::{Served, client};

fn quick_config() -> Config {
    Config::builder()
        .failure_threshold(2)
        .success_threshold(1)
        .reset_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn open_route_answers_503_problem_json_over_http_while_others_serve() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let app = Router::new()
        .route(
            "/quotes/{symbol}",
            get(move || async move {
                if flag.load(Ordering::SeqCst) {
                    (StatusCode::OK, "42.0")
                } else {
                    (StatusCode::BAD_GATEWAY, "upstream down")
                }
            }),
        )
        .route("/ping", get(|| async { "pong" }))
        .layer(CircuitBreakerLayer::per_route(&registry, quick_config()));
    let server = Served::start(app).await;
    let http = client();
    let get = |path: &str| http.get(server.url(path)).send();

    assert_eq!(get("/quotes/SOL").await.unwrap().status(), 502);
    assert_eq!(get("/quotes/BTC").await.unwrap().status(), 502);

    clock.advance(Duration::from_millis(2_300)); // 7.7 s of the 10 s left
    let res = get("/quotes/ETH").await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "8");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["type"], "CircuitBreakerOpen");
    assert_eq!(body["breaker"], "http:/quotes/{symbol}");
    assert_eq!(body["retry_after"], 8);

    // Another route has its own breaker.
    let res = get("/ping").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "pong");

    // The upstream recovers; after the reset timeout one trial closes the breaker.
    healthy.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_millis(7_700));
    let res = get("/quotes/SOL").await.unwrap();
    assert_eq!(res.status(), 200);
    let quotes = registry.get("http:/quotes/{symbol}").unwrap();
    assert_eq!(quotes.state(), State::Closed);
    assert_eq!(quotes.snapshot().totals.rejected, 1);
}

/// A handler's own error type.
#[derive(Debug)]
struct DbError;

impl IntoResponse for DbError {
    fn into_response(self) -> axum::response::Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response()
    }
}

async fn balance(AxState(db): AxState<CircuitBreaker>) -> Result<String, CallError<DbError>> {
    // One line: the breaker's result, `?` answers 503 when it refuses.
    let cents: u64 = db.call(async { Err::<u64, _>(DbError) }).await?;
    Ok(cents.to_string())
}

#[tokio::test]
async fn handlers_answer_503_with_question_mark_on_a_refused_call() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let db = registry.breaker("postgres", quick_config()).unwrap();
    let app = Router::new()
        .route("/balance", get(balance))
        .with_state(db.clone());
    let server = Served::start(app).await;
    let http = client();

    for _ in 0..2 {
        let res = http.get(server.url("/balance")).send().await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(res.text().await.unwrap(), "database error");
    }
    assert_eq!(db.state(), State::Open);
    let res = http.get(server.url("/balance")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "10");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["breaker"], "postgres");
    assert_eq!(body["state"], "open");
}
