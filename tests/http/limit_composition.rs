//! A limit's refusal never counts against a breaker, in every order of the layers: a
//! bulkhead or rate limit under a `CircuitBreakerLayer` (plain or keyed) answers its 503 or
//! 429 and the breaker above sees an ignored call, whatever its classifier; a limit above
//! the breaker refuses before the breaker sees anything.
#![cfg(all(feature = "axum", feature = "limit", feature = "test-util"))]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use breakerbox::http::{CircuitBreakerLayer, ClassifyResponse, KeyedBreakers, StatusClassifier};
use breakerbox::limit::{Bulkhead, LimitLayer, RateLimit};
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, Registry, State};
use http::{Request, Response, StatusCode};
use tower::ServiceExt;

/// Trips on the first failure.
fn config() -> Config {
    Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn breaker(clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder("upstream")
        .config(config())
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn routes() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

async fn send(app: &Router) -> StatusCode {
    let req = Request::get("/").body(Body::empty()).unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

/// A full bulkhead (its one slot held by the test) and a rate limit with no capacity left.
fn exhausted_limits(clock: &ManualClock) -> (Bulkhead, LimitLayer, LimitLayer) {
    let slots = Bulkhead::new("upstream", 1).unwrap();
    let rate = RateLimit::builder("upstream")
        .per_minute(1)
        .burst(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    rate.check().unwrap();
    (
        slots.clone(),
        LimitLayer::bulkhead(slots),
        LimitLayer::rate(rate),
    )
}

/// A classifier that calls every response a failure, refusals included.
#[derive(Clone)]
struct EverythingFails;

impl<B, E> ClassifyResponse<B, E> for EverythingFails {
    fn classify(&self, _: &Result<Response<B>, E>) -> Outcome {
        Outcome::Failure
    }
}

#[tokio::test]
async fn a_bulkhead_refusal_under_a_breaker_is_not_a_failure_of_that_breaker() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let (slots, bulkhead, _) = exhausted_limits(&clock);
    let app = routes()
        .layer(bulkhead)
        .layer(CircuitBreakerLayer::new(b.clone()));
    let held = slots.try_acquire().unwrap();
    assert_eq!(send(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.state(), State::Closed);
    let totals = b.snapshot().totals;
    assert_eq!((totals.failures, totals.ignored), (0, 2));
    drop(held);
    assert_eq!(send(&app).await, StatusCode::OK);
    assert_eq!(b.snapshot().totals.successes, 1);
}

#[tokio::test]
async fn a_limit_refusal_is_ignored_even_by_a_classifier_that_counts_it_a_failure() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let (slots, bulkhead, rate) = exhausted_limits(&clock);
    let _held = slots.try_acquire().unwrap();
    let strict = StatusClassifier::new()
        .status(StatusCode::TOO_MANY_REQUESTS, Outcome::Failure)
        .range(500..=599, Outcome::Failure);
    for (limit, status) in [
        (bulkhead, StatusCode::SERVICE_UNAVAILABLE),
        (rate, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let layer = CircuitBreakerLayer::new(b.clone());
        let app = routes()
            .layer(limit.clone())
            .layer(layer.clone().classifier(strict.clone()));
        assert_eq!(send(&app).await, status);
        let app = routes()
            .layer(limit)
            .layer(layer.classifier(EverythingFails));
        assert_eq!(send(&app).await, status);
    }
    assert_eq!(b.state(), State::Closed);
    let totals = b.snapshot().totals;
    assert_eq!((totals.failures, totals.ignored), (0, 4));
}

#[tokio::test]
async fn a_limit_above_a_breaker_refuses_before_the_breaker_sees_the_call() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let (slots, bulkhead, rate) = exhausted_limits(&clock);
    let _held = slots.try_acquire().unwrap();
    for (limit, status) in [
        (bulkhead, StatusCode::SERVICE_UNAVAILABLE),
        (rate, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let app = routes()
            .layer(CircuitBreakerLayer::new(b.clone()).classifier(EverythingFails))
            .layer(limit);
        assert_eq!(send(&app).await, status);
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().totals.total(), 0);
}

#[tokio::test]
async fn a_limit_refusal_under_a_keyed_layer_is_not_a_failure_of_the_keys_breaker() {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let keyed = KeyedBreakers::builder(&registry, config())
        .build(|_: &Request<Body>| Some("orders"))
        .unwrap();
    let (slots, bulkhead, rate) = exhausted_limits(&clock);
    let _held = slots.try_acquire().unwrap();
    for limit in [bulkhead, rate] {
        let app = routes()
            .layer(limit)
            .layer(CircuitBreakerLayer::keyed(keyed.clone()));
        assert_ne!(send(&app).await, StatusCode::OK);
    }
    let b = registry.get("http:orders").expect("the key's breaker");
    assert_eq!(b.state(), State::Closed);
    let totals = b.snapshot().totals;
    assert_eq!((totals.failures, totals.ignored), (0, 2));
}
