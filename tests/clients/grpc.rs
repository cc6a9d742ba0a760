//! gRPC against a real tonic server: the server side's rejection read by a real tonic
//! client, and the client layer's classification of every status code.

use std::sync::atomic::Ordering;
use std::time::Duration;

use breakerbox::tonic::{GrpcBreakerLayer, GrpcKey, pushback_ms};
use breakerbox::{CallTotals, CircuitBreaker, ManualClock, Outcome, State};
use tonic::Code;
use tonic::transport::Channel;
use tower::ServiceBuilder;

use crate::grpc_server::{GrpcServer, call};
use crate::upstream::{registry, trips_after};

/// A breaker that never trips on its own (no threshold is reached), on `clock`.
fn steady(name: &str, clock: &ManualClock) -> CircuitBreaker {
    let config = trips_after(1000)
        .into_builder()
        .min_calls(1000)
        .build()
        .unwrap();
    CircuitBreaker::builder(name)
        .config(config)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_rejected_grpc_request_reads_as_unavailable_with_the_pushback_trailer() {
    let clock = ManualClock::new();
    let guard = steady("grpc-server", &clock);
    let server = GrpcServer::start(guard.clone()).await;
    let channel = server.channel().await;
    assert_eq!(
        call(channel.clone(), "Answer", Code::Ok).await.unwrap(),
        b"ok"
    );

    guard.force_open_for(Duration::from_millis(1500));
    let status = call(channel.clone(), "Answer", Code::Ok).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(pushback_ms(&status), Some(1500));
    assert_eq!(
        status.message(),
        "circuit breaker `grpc-server` is forced_open"
    );

    guard.force_open();
    let status = call(channel.clone(), "Answer", Code::Ok).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(pushback_ms(&status), Some(-1), "no TTL: do not retry");
    assert_eq!(
        server.calls.load(Ordering::SeqCst),
        1,
        "rejections never reach it"
    );
    assert_eq!(guard.snapshot().totals.rejected, 2);
}

/// Every code, and how the default classifier counts it (the table in the docs).
const TABLE: [(Code, Outcome); 17] = [
    (Code::Ok, Outcome::Success),
    (Code::Cancelled, Outcome::Ignore),
    (Code::Unknown, Outcome::Failure),
    (Code::InvalidArgument, Outcome::Success),
    (Code::DeadlineExceeded, Outcome::Failure),
    (Code::NotFound, Outcome::Success),
    (Code::AlreadyExists, Outcome::Success),
    (Code::PermissionDenied, Outcome::Success),
    (Code::ResourceExhausted, Outcome::Failure),
    (Code::FailedPrecondition, Outcome::Success),
    (Code::Aborted, Outcome::Success),
    (Code::OutOfRange, Outcome::Success),
    (Code::Unimplemented, Outcome::Success),
    (Code::Internal, Outcome::Failure),
    (Code::Unavailable, Outcome::Failure),
    (Code::DataLoss, Outcome::Failure),
    (Code::Unauthenticated, Outcome::Success),
];

fn delta(before: CallTotals, after: CallTotals) -> Outcome {
    match (
        after.successes - before.successes,
        after.failures - before.failures,
        after.ignored - before.ignored,
    ) {
        (1, 0, 0) => Outcome::Success,
        (0, 1, 0) => Outcome::Failure,
        (0, 0, 1) => Outcome::Ignore,
        other => panic!("not one call counted once: {other:?}"),
    }
}

#[tokio::test]
async fn the_client_layer_classifies_every_status_code_as_the_table_says() {
    let clock = ManualClock::new();
    let server = GrpcServer::start(steady("server", &clock)).await;
    let client_breaker = steady("grpc:codes", &clock);
    let svc = ServiceBuilder::new()
        .layer(GrpcBreakerLayer::new(client_breaker.clone()))
        .service(server.channel().await);
    for (code, expected) in TABLE {
        let before = client_breaker.snapshot().totals;
        let result = call(svc.clone(), "Answer", code).await;
        assert_eq!(result.err().map_or(Code::Ok, |s| s.code()), code);
        assert_eq!(
            delta(before, client_breaker.snapshot().totals),
            expected,
            "{code:?}"
        );
    }
}

#[tokio::test]
async fn a_user_classifier_replaces_the_table() {
    let clock = ManualClock::new();
    let server = GrpcServer::start(steady("server", &clock)).await;
    let b = steady("grpc:strict", &clock);
    let only_ok = |code: Code| match code {
        Code::Ok => Outcome::Success,
        _ => Outcome::Failure,
    };
    let svc = ServiceBuilder::new()
        .layer(GrpcBreakerLayer::new(b.clone()).classifier(only_ok))
        .service(server.channel().await);
    let before = b.snapshot().totals;
    let _ = call(svc, "Answer", Code::NotFound).await;
    assert_eq!(delta(before, b.snapshot().totals), Outcome::Failure);
}

#[tokio::test]
async fn a_transport_error_counts_as_unavailable_and_an_open_breaker_answers_with_pushback() {
    let (registry, clock) = registry();
    let b = registry.breaker("grpc:down", trips_after(1)).unwrap();
    let url = crate::upstream::closed_port_url();
    let channel = Channel::from_shared(url).unwrap().connect_lazy();
    let svc = ServiceBuilder::new()
        .layer(GrpcBreakerLayer::new(b.clone()))
        .service(channel);
    let status = call(svc.clone(), "Answer", Code::Ok).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(b.snapshot().totals.failures, 1);
    assert_eq!(b.state(), State::Open);
    clock.advance(Duration::from_secs(4));
    let status = call(svc, "Answer", Code::Ok).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "circuit breaker `grpc:down` is open");
    assert_eq!(pushback_ms(&status), Some(6000));
    assert_eq!(b.snapshot().totals.rejected, 1);
}

#[tokio::test]
async fn per_method_breakers_trip_only_their_method_and_per_service_share_one() {
    let (registry, _clock) = registry();
    let clock = ManualClock::new();
    let server = GrpcServer::start(steady("server", &clock)).await;
    let channel = server.channel().await;
    let per_method = GrpcBreakerLayer::keyed(&registry, trips_after(2), GrpcKey::Method).unwrap();
    let svc = ServiceBuilder::new()
        .layer(per_method)
        .service(channel.clone());
    for _ in 0..2 {
        let _ = call(svc.clone(), "Broken", Code::Internal).await;
    }
    let rejected = call(svc.clone(), "Broken", Code::Ok).await.unwrap_err();
    assert!(pushback_ms(&rejected).is_some(), "{rejected:?}");
    assert_eq!(call(svc.clone(), "Fine", Code::Ok).await.unwrap(), b"ok");
    let state = |name: &str| registry.get(name).unwrap().state();
    assert_eq!(state("grpc:test.Codes/Broken"), State::Open);
    assert_eq!(state("grpc:test.Codes/Fine"), State::Closed);

    let per_service = GrpcBreakerLayer::keyed(&registry, trips_after(2), GrpcKey::Service).unwrap();
    let svc = ServiceBuilder::new().layer(per_service).service(channel);
    let _ = call(svc.clone(), "A", Code::Unavailable).await;
    let _ = call(svc.clone(), "B", Code::DeadlineExceeded).await;
    assert_eq!(state("grpc:test.Codes"), State::Open);
    let status = call(svc, "C", Code::Ok).await.unwrap_err();
    assert!(pushback_ms(&status).is_some());
}
