//! The layer's rejection of a gRPC request, in-process on a manual clock: gRPC's own
//! answer (a trailers-only `UNAVAILABLE` with `grpc-retry-pushback-ms`), not an HTTP 503.
//! A real tonic client reading it is in the `clients` test binary.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::time::Duration;

use axum::body::Body;
use breakerbox::http::CircuitBreakerLayer;
use breakerbox::{BreakerOpen, CircuitBreaker, Config, ManualClock};
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt, service_fn};

async fn ok(_: Request<Body>) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(Response::new(Body::from("ok")))
}

fn request(content_type: &str) -> Request<Body> {
    Request::post("/shop.Orders/Get")
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, "5")
        .body(Body::from("\0\0\0\0\0"))
        .unwrap()
}

fn open_breaker(clock: &ManualClock) -> CircuitBreaker {
    let config = Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let b = CircuitBreaker::builder("orders")
        .config(config)
        .clock(clock.clone())
        .build()
        .unwrap();
    b.try_acquire().unwrap().failure();
    b
}

#[tokio::test]
async fn a_grpc_request_is_rejected_with_unavailable_and_a_pushback_not_a_503() {
    let clock = ManualClock::new();
    let b = open_breaker(&clock);
    clock.advance(Duration::from_millis(10_500));
    let svc = CircuitBreakerLayer::new(b.clone()).layer(service_fn(ok));

    let res = svc
        .clone()
        .oneshot(request("application/grpc"))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "gRPC errors travel with HTTP 200"
    );
    let h = res.headers();
    assert_eq!(h[header::CONTENT_TYPE], "application/grpc");
    assert_eq!(h["grpc-status"], "14");
    assert_eq!(h["grpc-retry-pushback-ms"], "19500");
    assert_eq!(h["grpc-message"], "circuit breaker `orders` is open");
    assert!(
        h.get(header::CONNECTION).is_none(),
        "HTTP/2 has no connection: close"
    );
    assert!(h.get(header::RETRY_AFTER).is_none());
    assert!(res.extensions().get::<BreakerOpen>().is_some());
    assert!(
        res.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );

    // A subtype of the gRPC media type is gRPC too; anything else gets the 503.
    let res = svc
        .clone()
        .oneshot(request("application/grpc+proto"))
        .await
        .unwrap();
    assert_eq!(res.headers()["grpc-status"], "14");
    let res = svc
        .clone()
        .oneshot(request("application/json"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "20");
    assert_eq!(b.snapshot().totals.rejected, 3);
}

#[tokio::test]
async fn hidden_breaker_names_stay_out_of_the_grpc_message_and_forced_open_says_do_not_retry() {
    let clock = ManualClock::new();
    let b = open_breaker(&clock);
    b.force_open();
    let svc = CircuitBreakerLayer::new(b.clone())
        .hide_breaker_names()
        .layer(service_fn(ok));
    let res = svc.oneshot(request("application/grpc")).await.unwrap();
    let h = res.headers();
    assert_eq!(h["grpc-status"], "14");
    assert_eq!(h["grpc-message"], "service temporarily unavailable");
    assert_eq!(h["grpc-retry-pushback-ms"], "-1");
}
