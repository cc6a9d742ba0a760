//! The tower layer, driven in-process with `oneshot` and a manual clock: classification,
//! rejections as responses, per-route isolation, the key cap, and no backpressure.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::convert::Infallible;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use breakerbox::http::{
    CircuitBreakerLayer, KeyedBreakers, PROBLEM_JSON, ResponseBody, StatusClassifier,
};
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, Registry, State};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{Layer, Service, ServiceExt, service_fn};

fn config(failures: u32) -> Config {
    Config::builder()
        .failure_threshold(failures)
        .reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn breaker(clock: &ManualClock, failures: u32) -> CircuitBreaker {
    CircuitBreaker::builder("upstream")
        .config(config(failures))
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Answers with the status in the path (`/500`), or fails with an error on `/error`.
async fn by_path(req: Request<Body>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = req.uri().path().trim_start_matches('/');
    if path == "error" {
        return Err(std::io::Error::other("connection reset"));
    }
    let code: u16 = path.parse().unwrap_or(200);
    Ok(Response::builder()
        .status(code)
        .body(Full::new(Bytes::from_static(b"inner")))
        .unwrap())
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

async fn body_json<B>(res: Response<B>) -> serde_json::Value
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// The status of one request, and whether the service errored.
async fn status_of<S>(svc: &S, path: &str) -> Result<StatusCode, String>
where
    S: Service<Request<Body>, Response = Response<ResponseBody<Full<Bytes>>>> + Clone,
    S::Error: std::fmt::Display,
{
    match svc.clone().oneshot(get_req(path)).await {
        Ok(res) => Ok(res.status()),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test]
async fn default_classifier_counts_5xx_and_errors_as_failures() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 100);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(service_fn(by_path));

    assert_eq!(status_of(&svc, "/200").await, Ok(StatusCode::OK));
    assert_eq!(status_of(&svc, "/404").await, Ok(StatusCode::NOT_FOUND));
    assert_eq!(
        status_of(&svc, "/429").await,
        Ok(StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(
        status_of(&svc, "/500").await,
        Ok(StatusCode::INTERNAL_SERVER_ERROR)
    );
    assert_eq!(
        status_of(&svc, "/503").await,
        Ok(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        status_of(&svc, "/error").await,
        Err("connection reset".into())
    );

    let t = b.snapshot().totals;
    assert_eq!((t.successes, t.failures, t.ignored), (3, 3, 0));
}

#[tokio::test]
async fn status_classifier_rules_override_the_default() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 100);
    let classifier = StatusClassifier::new()
        .range(400..=499, Outcome::Ignore)
        .status(StatusCode::TOO_MANY_REQUESTS, Outcome::Failure)
        .status(StatusCode::NOT_IMPLEMENTED, Outcome::Ignore)
        .errors(Outcome::Ignore);
    let svc = CircuitBreakerLayer::new(b.clone())
        .classifier(classifier)
        .layer(service_fn(by_path));

    for path in ["/200", "/404", "/429", "/500", "/501", "/error"] {
        let _ = status_of(&svc, path).await;
    }
    let t = b.snapshot().totals;
    // 200 success; 404, 501 and the error ignored; 429 and 500 failures.
    assert_eq!((t.successes, t.failures, t.ignored), (1, 2, 3));
}

#[tokio::test]
async fn closure_classifier_decides_every_outcome() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    // Only a 504 counts against the breaker.
    let classify = |r: &Result<Response<Full<Bytes>>, std::io::Error>| match r {
        Ok(res) if res.status() == StatusCode::GATEWAY_TIMEOUT => Outcome::Failure,
        _ => Outcome::Success,
    };
    let svc = CircuitBreakerLayer::new(b.clone())
        .classifier(classify)
        .layer(service_fn(by_path));

    let _ = status_of(&svc, "/500").await;
    let _ = status_of(&svc, "/error").await;
    assert_eq!(b.state(), State::Closed);
    let _ = status_of(&svc, "/504").await;
    assert_eq!(b.state(), State::Open);
}

#[tokio::test]
async fn rejection_is_a_503_problem_json_with_retry_after_rounded_up() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(service_fn(by_path));
    let _ = status_of(&svc, "/500").await;
    assert_eq!(b.state(), State::Open);

    clock.advance(Duration::from_millis(10_500)); // 19.5 s left
    let res = svc.clone().oneshot(get_req("/200")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "20");
    assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    let body = body_json(res).await;
    assert_eq!(body["type"], "CircuitBreakerOpen");
    assert_eq!(body["status"], 503);
    assert_eq!(body["breaker"], "upstream");
    assert_eq!(body["state"], "open");
    assert_eq!(body["retry_after"], 20);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("`upstream` is open")
    );

    clock.advance(Duration::from_millis(19_499)); // 1 ms left: still at least 1 s
    let res = svc.clone().oneshot(get_req("/200")).await.unwrap();
    assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    // The rejected requests never reached the inner service.
    assert_eq!(b.snapshot().totals.rejected, 2);
}

#[tokio::test]
async fn forced_open_says_retry_after_only_when_it_has_a_ttl() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(service_fn(by_path));

    b.force_open();
    let res = svc.clone().oneshot(get_req("/200")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(header::RETRY_AFTER).is_none());
    let body = body_json(res).await;
    assert_eq!(body["state"], "forced_open");
    assert_eq!(body["retry_after"], serde_json::Value::Null);

    b.force_open_for(Duration::from_secs(90));
    let res = svc.clone().oneshot(get_req("/200")).await.unwrap();
    assert_eq!(res.headers()[header::RETRY_AFTER], "90");
}

#[tokio::test]
async fn infallible_service_stays_infallible() {
    fn infallible<S: Service<Request<Body>, Error = Infallible>>(s: S) -> S {
        s
    }
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let inner = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::builder().status(502).body(Body::empty()).unwrap())
    });
    let svc = infallible(CircuitBreakerLayer::new(b.clone()).layer(inner));

    let res = svc.clone().oneshot(get_req("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let res = svc.oneshot(get_req("/")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// An inner service that is never ready.
#[derive(Clone)]
struct NeverReady;

impl Service<Request<Body>> for NeverReady {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Pending
    }

    fn call(&mut self, _req: Request<Body>) -> Self::Future {
        unreachable!("never ready")
    }
}

#[tokio::test]
async fn poll_ready_is_the_inner_services_readiness_only() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let mut cx = Context::from_waker(Waker::noop());

    // The breaker adds no backpressure: open, the service is still ready...
    b.force_open();
    let mut ready = CircuitBreakerLayer::new(b.clone()).layer(service_fn(by_path));
    assert!(matches!(ready.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let res = ready.call(get_req("/200")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // ...and closed, it does not make a pending inner service ready.
    b.reset();
    let mut pending = CircuitBreakerLayer::new(b).layer(NeverReady);
    assert!(pending.poll_ready(&mut cx).is_pending());
}

#[tokio::test]
async fn dropped_response_future_counts_as_ignored_and_frees_the_trial_slot() {
    let clock = ManualClock::new();
    let cfg = Config::builder()
        .failure_threshold(1)
        .half_open_max_calls(1)
        .reset_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let b = CircuitBreaker::builder("upstream")
        .config(cfg)
        .clock(clock.clone())
        .build()
        .unwrap();
    b.force_open_for(Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    let hang = service_fn(|_req: Request<Body>| async {
        std::future::pending::<Result<Response<Body>, Infallible>>().await
    });
    let mut svc = CircuitBreakerLayer::new(b.clone()).layer(hang);

    // The only trial slot: taken, then given back when the caller gives up.
    let fut = svc.call(get_req("/"));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().half_open_in_flight, 1);
    drop(fut);
    assert_eq!(b.snapshot().half_open_in_flight, 0);
    let t = b.snapshot().totals;
    assert_eq!((t.successes, t.failures, t.ignored), (0, 0, 1));
    let _next_trial = svc.call(get_req("/"));
    assert_eq!(b.snapshot().totals.rejected, 0);
}

async fn code(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/status/{code}", get(code))
        .route("/users/{id}", get(|| async { "user" }))
}

fn registry(clock: &ManualClock) -> Registry {
    Registry::builder().clock(clock.clone()).build()
}

#[tokio::test]
async fn per_route_breakers_are_isolated() {
    let clock = ManualClock::new();
    let registry = registry(&clock);
    let app = routes().layer(CircuitBreakerLayer::per_route(&registry, config(2)));
    let send = |path: &'static str| app.clone().oneshot(get_req(path));

    for _ in 0..2 {
        assert_eq!(send("/status/500").await.unwrap().status(), 500);
    }
    assert_eq!(send("/status/200").await.unwrap().status(), 503);
    assert_eq!(send("/ok").await.unwrap().status(), 200);
    assert_eq!(send("/users/7").await.unwrap().status(), 200);
    assert_eq!(send("/users/8").await.unwrap().status(), 200);

    let open = registry.get("http:/status/{code}").unwrap();
    assert_eq!(open.state(), State::Open);
    assert_eq!(registry.get("http:/ok").unwrap().state(), State::Closed);
    // Keyed by the route template: /users/7 and /users/8 share one breaker.
    assert_eq!(
        registry.names(),
        ["http:/ok", "http:/status/{code}", "http:/users/{id}"]
    );
    assert_eq!(
        registry
            .get("http:/users/{id}")
            .unwrap()
            .snapshot()
            .totals
            .successes,
        2
    );
}

#[tokio::test]
async fn unmatched_requests_pass_unguarded() {
    let clock = ManualClock::new();
    let registry = registry(&clock);
    let app = routes().layer(CircuitBreakerLayer::per_route(&registry, config(1)));
    let res = app.oneshot(get_req("/nowhere")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(registry.names().is_empty());
}

#[tokio::test]
async fn key_cap_sends_new_keys_to_one_overflow_breaker() {
    let clock = ManualClock::new();
    let registry = registry(&clock);
    // Keyed by the raw path: unbounded input, bounded breakers.
    let raw_path = |req: &Request<Body>| Some(req.uri().path().to_owned());
    let keyed = KeyedBreakers::builder(&registry, config(1))
        .max_keys(2)
        .build(raw_path)
        .unwrap();
    let app = routes().layer(CircuitBreakerLayer::keyed(keyed.clone()));

    for i in 0..50 {
        let path = format!("/users/{i}");
        let res = app.clone().oneshot(get_req(&path)).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    assert_eq!(keyed.len(), 2);
    assert_eq!(
        registry.names(),
        ["http:/users/0", "http:/users/1", "http:~overflow"]
    );
    let overflow = keyed.overflow().unwrap();
    assert_eq!(overflow.snapshot().totals.successes, 48);

    // Keys past the cap share the overflow breaker: one failure trips it for all of them,
    // while the keys under the cap keep their own.
    let res = app.clone().oneshot(get_req("/status/500")).await.unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(overflow.state(), State::Open);
    let res = app.clone().oneshot(get_req("/users/99")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(body_json(res).await["breaker"], "http:~overflow");
    let res = app.clone().oneshot(get_req("/users/1")).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn keys_too_long_for_a_name_go_to_the_overflow_breaker() {
    let clock = ManualClock::new();
    let registry = registry(&clock);
    let raw_path = |req: &Request<Body>| Some(req.uri().path().to_owned());
    let keyed = KeyedBreakers::builder(&registry, config(1))
        .build(raw_path)
        .unwrap();
    let app = Router::new()
        .fallback(|| async { "any" })
        .layer(CircuitBreakerLayer::keyed(keyed.clone()));
    let long = format!("/{}", "x".repeat(200));
    let res = app.oneshot(get_req(&long)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(keyed.is_empty());
    assert_eq!(registry.names(), ["http:~overflow"]);
}

#[tokio::test]
async fn half_open_probe_closes_the_route_breaker_again() {
    let clock = ManualClock::new();
    let registry = registry(&clock);
    let cfg = Config::builder()
        .failure_threshold(1)
        .success_threshold(1)
        .reset_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let app = routes().layer(CircuitBreakerLayer::per_route(&registry, cfg));
    let send = |path: &'static str| app.clone().oneshot(get_req(path));

    assert_eq!(send("/status/502").await.unwrap().status(), 502);
    assert_eq!(send("/status/200").await.unwrap().status(), 503);
    clock.advance(Duration::from_secs(5));
    assert_eq!(send("/status/200").await.unwrap().status(), 200);
    assert_eq!(
        registry.get("http:/status/{code}").unwrap().state(),
        State::Closed
    );
}

#[tokio::test]
async fn an_inner_breakers_refusal_does_not_trip_the_route_breaker() {
    let clock = ManualClock::new();
    let registry = registry(&clock);
    let db = registry.breaker("postgres", config(1)).unwrap();
    db.force_open();
    let handler = {
        let db = db.clone();
        move || async move {
            db.call(async { Ok::<_, StatusCode>("rows") }).await?;
            Ok::<_, breakerbox::CallError<StatusCode>>("rows")
        }
    };
    let app = Router::new()
        .route("/orders", get(handler))
        .layer(CircuitBreakerLayer::per_route(&registry, config(1)));

    for _ in 0..3 {
        let res = app.clone().oneshot(get_req("/orders")).await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(body_json(res).await["breaker"], "postgres");
    }
    let route = registry.get("http:/orders").unwrap();
    assert_eq!(route.state(), State::Closed);
    assert_eq!(route.snapshot().totals.ignored, 3);

    // Counted as failures on request: the route trips on the first one.
    let strict = StatusClassifier::new().inner_rejections(Outcome::Failure);
    let keyed = KeyedBreakers::builder(&registry, config(1))
        .prefix("strict:")
        .build(|_: &Request<Body>| Some("orders"))
        .unwrap();
    let app = Router::new()
        .route(
            "/orders",
            get(move || async move { db.call(async { Ok::<_, StatusCode>("x") }).await }),
        )
        .layer(CircuitBreakerLayer::keyed(keyed).classifier(strict));
    let res = app.clone().oneshot(get_req("/orders")).await.unwrap();
    assert_eq!(body_json(res).await["breaker"], "postgres");
    let res = app.oneshot(get_req("/orders")).await.unwrap();
    assert_eq!(body_json(res).await["breaker"], "strict:orders");
}

#[test]
fn public_http_types_are_send_sync_and_debug() {
    fn check<T: Send + Sync + std::fmt::Debug>() {}
    use breakerbox::http::{BreakerApi, CircuitBreakerService, MatchedPathKey, ResponseFuture};
    check::<CircuitBreakerLayer>();
    check::<CircuitBreakerLayer<KeyedBreakers<MatchedPathKey>>>();
    check::<CircuitBreakerService<Router, KeyedBreakers<MatchedPathKey>, StatusClassifier>>();
    check::<ResponseFuture<std::future::Ready<()>, StatusClassifier>>();
    check::<ResponseBody<Full<Bytes>>>();
    check::<StatusClassifier>();
    check::<BreakerApi>();
}
