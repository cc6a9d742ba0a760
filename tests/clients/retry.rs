//! The middleware with `reqwest-retry`, in both orders, with exact attempt counts.
//!
//! - Breaker inside the retries (`.with(retry).with(breaker)`): every attempt is a call
//!   of the breaker; once it opens, the retry middleware gets the rejection and does not
//!   retry it.
//! - Breaker outside the retries (`.with(breaker).with(retry)`): a request is one call
//!   whatever its attempts; a rejection is returned before any attempt.

use std::time::Duration;

use breakerbox::reqwest::{CircuitBreakerMiddleware, rejection};
use breakerbox::{Registry, State};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;

use crate::support::http::client;
use crate::upstream::{Mode, Upstream, registry, trips_after};

/// Three retries (four attempts), 1 ms apart: the waits are the policy's, not measured.
fn retries() -> RetryTransientMiddleware<ExponentialBackoff> {
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(1))
        .build_with_max_retries(3);
    RetryTransientMiddleware::new_with_policy(policy)
}

fn breaker_inside(mw: &CircuitBreakerMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(client())
        .with(retries())
        .with(mw.clone())
        .build()
}

fn breaker_outside(mw: &CircuitBreakerMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(client())
        .with(mw.clone())
        .with(retries())
        .build()
}

fn middleware(registry: &Registry, threshold: u32) -> CircuitBreakerMiddleware {
    CircuitBreakerMiddleware::builder(registry)
        .config(trips_after(threshold))
        .build()
        .unwrap()
}

#[tokio::test]
async fn breaker_inside_the_retries_counts_each_attempt() {
    let (registry, _clock) = registry();
    let up = Upstream::start().await;
    let mw = middleware(&registry, 100);
    let http = breaker_inside(&mw);
    up.set(Mode::Status(503, None));
    let res = http.get(up.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(up.hits(), 4);
    let b = mw.breakers().breaker_for(&up.origin()).unwrap();
    assert_eq!(b.snapshot().totals.failures, 4);
}

#[tokio::test]
async fn breaker_inside_the_retries_stops_them_once_open_and_the_rejection_is_not_retried() {
    let (registry, _clock) = registry();
    let up = Upstream::start().await;
    let mw = middleware(&registry, 2);
    let http = breaker_inside(&mw);
    up.set(Mode::Status(503, None));
    let err = http.get(up.url("/")).send().await.unwrap_err();
    // Two attempts trip the breaker; the third is rejected and ends the retries.
    assert_eq!(up.hits(), 2);
    let open = rejection(&err).expect("the retry middleware hands the rejection back");
    assert_eq!(open.state(), State::Open);
    let totals = mw
        .breakers()
        .breaker_for(&up.origin())
        .unwrap()
        .snapshot()
        .totals;
    assert_eq!((totals.failures, totals.rejected), (2, 1));
    // The next request is rejected once, with no attempt at all.
    let err = http.get(up.url("/")).send().await.unwrap_err();
    assert!(rejection(&err).is_some());
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn breaker_outside_the_retries_counts_a_request_once_and_a_rejection_is_not_retried() {
    let (registry, _clock) = registry();
    let up = Upstream::start().await;
    let mw = middleware(&registry, 2);
    let http = breaker_outside(&mw);
    up.set(Mode::Status(503, None));
    // Four attempts, one failed call: the breaker stays closed.
    assert_eq!(http.get(up.url("/")).send().await.unwrap().status(), 503);
    assert_eq!(up.hits(), 4);
    let b = mw.breakers().breaker_for(&up.origin()).unwrap();
    assert_eq!(b.snapshot().totals.failures, 1);
    assert_eq!(b.state(), State::Closed);
    // A second exhausted request trips it; the third is rejected before any attempt.
    let _ = http.get(up.url("/")).send().await.unwrap();
    assert_eq!(up.hits(), 8);
    assert_eq!(b.state(), State::Open);
    let err = http.get(up.url("/")).send().await.unwrap_err();
    assert!(rejection(&err).is_some(), "{err}");
    assert_eq!(up.hits(), 8);
    assert_eq!(b.snapshot().totals.rejected, 1);
}

#[tokio::test]
async fn breaker_outside_the_retries_counts_exhausted_transport_errors_as_one_failure() {
    let (registry, _clock) = registry();
    let mw = middleware(&registry, 100);
    let http = breaker_outside(&mw);
    let url = crate::upstream::closed_port_url();
    let err = http.get(&url).send().await.unwrap_err();
    assert!(rejection(&err).is_none());
    let b = mw
        .breakers()
        .breaker_for(url.trim_end_matches('/'))
        .unwrap();
    assert_eq!(b.snapshot().totals.failures, 1);
}
