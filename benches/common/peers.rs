//! The peer crates, configured as close to breakerbox's defaults as their APIs allow.

use std::convert::Infallible;
use std::future::poll_fn;

use failsafe::failure_policy::{self, ConsecutiveFailures, OrElse, SuccessRateOverTimeWindow};
use failsafe::{StateMachine, backoff};
use recloser::{AsyncRecloser, Recloser};
use tower::Service;
use tower_resilience_circuitbreaker::{
    CircuitBreakerError, CircuitBreakerLayer, DefaultClassifier,
};

use super::LONG;

/// failsafe with a consecutive-failure policy (5 failures, like breakerbox's default).
pub type FailsafeConsecutive = StateMachine<ConsecutiveFailures<backoff::Constant>, ()>;
/// failsafe's default policy (success rate over a time window, or consecutive failures).
pub type FailsafeDefault = StateMachine<
    OrElse<
        SuccessRateOverTimeWindow<backoff::EqualJittered>,
        ConsecutiveFailures<backoff::EqualJittered>,
    >,
    (),
>;

pub fn failsafe_consecutive(failures: u32) -> FailsafeConsecutive {
    failsafe::Config::new()
        .failure_policy(failure_policy::consecutive_failures(
            failures,
            backoff::constant(LONG),
        ))
        .build()
}

pub fn failsafe_default() -> FailsafeDefault {
    failsafe::Config::new().build()
}

/// Opens a failsafe breaker.
pub fn failsafe_trip<P, I>(sm: &StateMachine<P, I>)
where
    P: failsafe::FailurePolicy,
    I: failsafe::Instrument,
{
    while sm.is_call_permitted() {
        let _ = failsafe::CircuitBreaker::call(sm, || Err::<(), _>("down"));
    }
}

/// recloser with its defaults (a ring of 100 calls, 50% error rate).
pub fn recloser() -> Recloser {
    Recloser::custom().open_wait(LONG).build()
}

pub fn recloser_async() -> AsyncRecloser {
    AsyncRecloser::from(recloser())
}

/// An open recloser.
pub fn recloser_open() -> Recloser {
    let r = Recloser::custom().closed_len(1).open_wait(LONG).build();
    for _ in 0..3 {
        let _ = r.call(|| Err::<(), _>("down"));
    }
    assert!(matches!(
        r.call(|| Ok::<_, ()>(())),
        Err(recloser::Error::Rejected)
    ));
    r
}

/// The inner service: answers at once.
pub type Inner = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, Infallible>>>;

fn echo(x: u64) -> std::future::Ready<Result<u64, Infallible>> {
    std::future::ready(Ok(x))
}

/// tower-resilience-circuitbreaker's service around an inner service that answers at once.
pub type TowerCb = tower_resilience_circuitbreaker::CircuitBreaker<Inner, DefaultClassifier>;

pub fn tower_cb() -> TowerCb {
    let layer: CircuitBreakerLayer = CircuitBreakerLayer::builder()
        .name("bench")
        .wait_duration_in_open(LONG)
        .build()
        .expect("valid layer");
    layer.layer_fn(tower::service_fn(echo as fn(u64) -> _))
}

/// One call through the tower service: `poll_ready`, then `call`.
pub async fn tower_call(svc: &mut TowerCb, x: u64) -> Result<u64, CircuitBreakerError<Infallible>> {
    poll_fn(|cx| svc.poll_ready(cx)).await?;
    svc.call(x).await
}
