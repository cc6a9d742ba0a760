//! `half_open_timeout` without calls: `poll_timeouts` (and so the eager timer) reopens a
//! half-open breaker whose every trial slot is held by a trial that hung, exactly as the
//! next call would; a free slot or no trial at all leaves it half-open (the next call
//! probes).
#![cfg(feature = "test-util")]

use std::time::Duration;

use breakerbox::{CircuitBreaker, Config, ManualClock, Reason, State};

const RESET: Duration = Duration::from_secs(30);
const HALF_OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// A breaker tripped and moved to HalfOpen by `poll_timeouts`, with `slots` trial slots.
fn half_open(slots: u32) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let cfg = Config::builder()
        .failure_threshold(1)
        .reset_timeout(RESET)
        .half_open_max_calls(slots)
        .success_threshold(slots)
        .half_open_timeout(HALF_OPEN_TIMEOUT)
        .build()
        .unwrap();
    let b = CircuitBreaker::builder("db")
        .config(cfg)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = b.call_sync(|| Err::<(), _>("down"));
    clock.advance(RESET);
    b.poll_timeouts();
    assert_eq!(b.state(), State::HalfOpen);
    (b, clock)
}

#[test]
fn poll_timeouts_reopens_an_idle_half_open_breaker_whose_only_trial_hung() {
    let (b, clock) = half_open(1);
    let hung = b.try_acquire().expect("the trial slot");
    clock.advance(HALF_OPEN_TIMEOUT);
    b.poll_timeouts();
    assert_eq!(b.state(), State::HalfOpen, "not past the timeout yet");
    clock.advance(Duration::from_nanos(1));
    b.poll_timeouts();
    assert_eq!(b.state(), State::Open, "reopened without a call");
    let t = b.snapshot().last_transition.expect("a transition");
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::HalfOpen, State::Open, Reason::TimeoutElapsed)
    );
    // The hung trial finishing late belongs to the old half-open round.
    hung.success();
    assert_eq!(b.state(), State::Open);
    // And the breaker probes again after its reset timeout, as after any trip.
    clock.advance(RESET);
    b.poll_timeouts();
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn poll_timeouts_keeps_half_open_while_a_trial_slot_is_free() {
    let (b, clock) = half_open(2);
    let _hung = b.try_acquire().expect("a trial slot");
    clock.advance(HALF_OPEN_TIMEOUT * 10);
    b.poll_timeouts();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "the next call takes the free slot"
    );
    assert!(b.try_acquire().is_ok());
}

#[test]
fn poll_timeouts_keeps_an_idle_half_open_breaker_without_trials_half_open() {
    let (b, clock) = half_open(1);
    clock.advance(HALF_OPEN_TIMEOUT * 10);
    b.poll_timeouts();
    assert_eq!(b.state(), State::HalfOpen, "the first call probes");
}
