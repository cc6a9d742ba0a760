//! A breaker driven through every state and transition reason on a manual clock, and the
//! local Prometheus recorder the metrics tests render it with.

use std::time::Duration;

#[cfg(feature = "prometheus")]
use breakerbox::observe::prometheus::{self, PrometheusHandle, PrometheusRecorder};
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, Reason, State};

/// `s` seconds.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A Prometheus recorder to install locally (`metrics::with_local_recorder`), and its handle.
#[cfg(feature = "prometheus")]
pub fn recorder() -> (PrometheusRecorder, PrometheusHandle) {
    let recorder = prometheus::builder().build_recorder();
    let handle = recorder.handle();
    (recorder, handle)
}

/// The config [`drive_through_every_state`] starts from: trips after 3 consecutive failures
/// (or on the failure rate from 4 calls on), slow after 1 s, half-open after 10 s with 2
/// trials and 60 s at most, closed again after 2 successes.
pub fn config() -> Config {
    Config::builder()
        .failure_threshold(3)
        .success_threshold(2)
        .half_open_max_calls(2)
        .min_calls(4)
        .slow_call_duration(secs(1))
        .reset_timeout(secs(10))
        .half_open_timeout(secs(60))
        .build()
        .unwrap()
}

/// Drives `b` through every state and transition reason. Returns nothing: the listeners
/// and the caller check what they need.
pub fn drive_through_every_state(b: &CircuitBreaker, clock: &ManualClock) {
    let ok = || b.call_sync(|| Ok::<_, ()>(()));
    let fail = || b.call_sync(|| Err::<(), _>(()));
    // Closed: successes, a slow success, an ignored call.
    for _ in 0..2 {
        ok().unwrap();
    }
    b.call_sync(|| {
        clock.advance(secs(2));
        Ok::<_, ()>(())
    })
    .unwrap();
    let _ = b.call_sync_with(|_| Outcome::Ignore, || Err::<(), _>(()));
    // Closed -> Open (consecutive_failures); two rejections.
    for _ in 0..3 {
        let _ = fail();
    }
    assert_eq!(b.state(), State::Open);
    assert!(ok().is_err() && ok().is_err());
    // Open -> HalfOpen (timeout_elapsed) -> Open (half_open_failure).
    clock.advance(secs(10));
    let _ = fail();
    assert_eq!(b.state(), State::Open);
    // Open -> HalfOpen -> Open (half_open_slow_call).
    clock.advance(secs(10));
    let _ = b.call_sync(|| {
        clock.advance(secs(2));
        Ok::<_, ()>(())
    });
    assert_eq!(b.state(), State::Open);
    // Open -> HalfOpen (eagerly, by poll) -> Open (timeout_elapsed: hung trials).
    clock.advance(secs(10));
    b.poll_timeouts();
    assert_eq!(b.state(), State::HalfOpen);
    let hung = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
    clock.advance(secs(61));
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), State::Open);
    drop(hung);
    // Open -> HalfOpen -> Closed (half_open_success).
    clock.advance(secs(10));
    ok().unwrap();
    ok().unwrap();
    assert_eq!(b.state(), State::Closed);
    // Closed -> Open (failure_rate): 2 successes then failures interleaved.
    for _ in 0..2 {
        ok().unwrap();
    }
    let _ = fail();
    ok().unwrap();
    let _ = fail();
    let _ = fail();
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.snapshot().last_transition.unwrap().reason,
        Reason::FailureRate
    );
    // Open -> Closed (manual reset), then a reconfiguration that keeps the state.
    b.reset();
    b.set_config(
        Config::builder()
            .failure_threshold(100)
            .min_calls(4)
            .slow_call_duration(secs(1))
            .slow_call_rate_threshold(0.5)
            .build()
            .unwrap(),
    );
    // Closed -> Open (slow_call_rate).
    for _ in 0..4 {
        b.call_sync(|| {
            clock.advance(secs(2));
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.snapshot().last_transition.unwrap().reason,
        Reason::SlowCallRate
    );
    b.set_config(config());
    // Operator states.
    b.force_open(); // Open -> ForcedOpen (forced)
    assert!(ok().is_err());
    b.reset(); // ForcedOpen -> Closed (manual)
    b.reset(); // Closed -> Closed: no transition
    b.disable(); // Closed -> Disabled (manual)
    for _ in 0..5 {
        let _ = fail();
    }
    assert_eq!(b.state(), State::Disabled);
    b.metrics_only(); // Disabled -> MetricsOnly (manual)
    for _ in 0..3 {
        let _ = fail(); // a dry-run trip (consecutive_failures)
    }
    assert_eq!(b.state(), State::MetricsOnly);
    b.force_open_for(secs(5)); // MetricsOnly -> ForcedOpen (forced)
    clock.advance(secs(5));
    b.poll_timeouts(); // ForcedOpen -> HalfOpen (timeout_elapsed)
    assert_eq!(b.state(), State::HalfOpen);
    b.reset(); // HalfOpen -> Closed (manual)
    assert_eq!(b.state(), State::Closed);
}
