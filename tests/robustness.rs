//! No accepted input panics or wedges a breaker: extreme durations, factors and clock
//! advances; operator actions are epochs; a dry run keeps measuring. Regression tests for
//! each case, then a property test over random valid configs and random operations.

#![cfg(feature = "test-util")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::{
    CircuitBreaker, Config, ConfigBuilder, Event, ManualClock, Outcome, Reason, State,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

type Log = Arc<Mutex<Vec<(State, State, Reason)>>>;

struct Rig {
    b: CircuitBreaker,
    clock: ManualClock,
    log: Log,
    would_open: Arc<Mutex<Vec<Reason>>>,
}

fn rig_in(cfg: ConfigBuilder, initial: State) -> Rig {
    let clock = ManualClock::new();
    let log: Log = Arc::default();
    let would_open: Arc<Mutex<Vec<Reason>>> = Arc::default();
    let (sink, dry) = (log.clone(), would_open.clone());
    let b = CircuitBreaker::builder("dep")
        .config(cfg.build().unwrap())
        .clock(clock.clone())
        .initial_state(initial)
        .listener(move |e: &Event<'_>| match e {
            Event::Transition(t) => sink.lock().unwrap().push((t.from, t.to, t.reason)),
            Event::WouldOpen(t) => dry.lock().unwrap().push(t.reason),
            _ => {}
        })
        .build()
        .unwrap();
    Rig {
        b,
        clock,
        log,
        would_open,
    }
}

fn rig(cfg: ConfigBuilder) -> Rig {
    rig_in(cfg, State::Closed)
}

impl Rig {
    fn fail(&self) {
        if let Ok(p) = self.b.try_acquire() {
            p.failure();
        }
    }
    fn last(&self) -> (State, State, Reason) {
        *self.log.lock().unwrap().last().unwrap()
    }
}

/// Opens at the first failure.
fn touchy() -> ConfigBuilder {
    Config::builder().failure_threshold(1)
}

#[test]
fn a_huge_jittered_reset_timeout_neither_panics_nor_wedges_the_breaker() {
    let r = rig(touchy().reset_timeout(Duration::MAX).reset_jitter(0.5));
    r.fail();
    assert_eq!(r.b.state(), State::Open);
    let wait =
        r.b.snapshot()
            .retry_after
            .expect("an open breaker has a deadline");
    assert!(wait > 100 * YEAR, "{wait:?}");
    let rejected = r.b.try_acquire().unwrap_err();
    assert!(rejected.retry_after().unwrap() > 100 * YEAR);
    // Once the clock passes the deadline, the breaker probes.
    r.clock.advance(Duration::MAX);
    r.b.poll_timeouts();
    assert_eq!(r.b.state(), State::HalfOpen);
}

#[test]
fn a_backoff_that_overflows_is_capped_and_the_breaker_reopens_with_a_deadline() {
    let r = rig(touchy()
        .reset_timeout(secs(1))
        .max_reset_timeout(Duration::MAX)
        .backoff_factor(1e300)
        .reset_jitter(0.9));
    r.fail();
    r.clock.advance(secs(2)); // past the first, jittered, 1 s timeout
    r.fail(); // the trial fails: reopened with a backoff far beyond Duration::MAX
    assert_eq!(
        r.last(),
        (State::HalfOpen, State::Open, Reason::HalfOpenFailure)
    );
    let wait = r.b.snapshot().retry_after.unwrap();
    assert!(wait > 100 * YEAR, "{wait:?}");
    assert!(r.b.try_acquire().is_err());
    r.clock.advance(Duration::MAX);
    assert!(
        r.b.try_acquire().is_ok(),
        "past its deadline the breaker probes"
    );
    assert_eq!(r.b.state(), State::HalfOpen);
}

#[test]
fn the_reset_timeout_holds_far_from_the_clock_origin() {
    let r = rig(touchy().reset_timeout(secs(30)));
    // Ten years after the clock's origin: beyond microseconds in 48 bits.
    r.clock.advance(10 * YEAR);
    r.fail();
    assert_eq!(r.b.state(), State::Open);
    let wait = r.b.snapshot().retry_after.unwrap();
    assert!(wait > secs(29) && wait <= secs(30), "{wait:?}");
    r.clock.advance(secs(29));
    assert!(r.b.try_acquire().is_err(), "still open before the deadline");
    r.clock.advance(secs(1));
    assert!(r.b.try_acquire().is_ok());
    assert_eq!(r.b.state(), State::HalfOpen);
}

#[test]
fn a_force_open_ttl_at_the_end_of_time_is_sane() {
    let r = rig(touchy());
    r.clock.advance(Duration::MAX);
    r.b.force_open_for(Duration::MAX);
    assert_eq!(r.b.state(), State::ForcedOpen);
    assert!(r.b.snapshot().retry_after.unwrap() < secs(1));
    r.b.poll_timeouts();
    assert_eq!(r.b.state(), State::HalfOpen);
}

#[test]
fn manual_clock_advance_saturates_instead_of_wrapping() {
    let clock = ManualClock::new();
    clock.advance(secs(1));
    clock.advance(Duration::MAX);
    assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
    clock.advance(secs(1));
    assert_eq!(clock.elapsed(), Duration::from_nanos(u64::MAX));
}

#[test]
fn an_outcome_admitted_before_a_reset_of_a_closed_breaker_is_not_evaluated() {
    let r = rig(Config::builder());
    let permit = r.b.try_acquire().unwrap();
    r.b.reset();
    permit.failure();
    let s = r.b.snapshot();
    assert_eq!(
        s.window.calls, 0,
        "the old epoch's outcome stays out of the new window"
    );
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.totals.failures, 1, "but it is counted");
}

#[test]
fn every_operator_action_is_a_transition_even_in_the_same_state() {
    let r = rig(Config::builder());
    let epoch = |r: &Rig| r.b.try_acquire().unwrap().epoch();
    let e0 = epoch(&r);
    r.b.reset();
    assert_eq!(r.last(), (State::Closed, State::Closed, Reason::Manual));
    assert_ne!(epoch(&r), e0);
    r.b.force_open();
    r.b.force_open_for(secs(60));
    assert_eq!(
        r.last(),
        (State::ForcedOpen, State::ForcedOpen, Reason::Forced)
    );
    assert_eq!(r.b.snapshot().retry_after, Some(secs(60)));
    r.b.force_open();
    assert_eq!(
        r.b.snapshot().retry_after,
        None,
        "a new epoch without a TTL"
    );
    r.b.disable();
    let e1 = epoch(&r);
    r.b.disable();
    assert_eq!(r.last(), (State::Disabled, State::Disabled, Reason::Manual));
    assert_ne!(epoch(&r), e1);
    r.b.metrics_only();
    r.b.metrics_only();
    assert_eq!(
        r.last(),
        (State::MetricsOnly, State::MetricsOnly, Reason::Manual)
    );
    assert_eq!(r.log.lock().unwrap().len(), 8);
    let last = r.b.snapshot().last_transition.unwrap();
    assert_eq!(
        (last.from, last.to),
        (State::MetricsOnly, State::MetricsOnly)
    );
}

#[test]
fn a_dry_run_keeps_its_window_through_a_would_open() {
    let r = rig_in(
        Config::builder()
            .failure_threshold(3)
            .min_calls(4)
            .window_size(10)
            .reset_timeout(secs(30)),
        State::MetricsOnly,
    );
    for _ in 0..3 {
        r.fail();
    }
    assert_eq!(*r.would_open.lock().unwrap(), [Reason::ConsecutiveFailures]);
    let s = r.b.snapshot();
    assert_eq!(s.state, State::MetricsOnly);
    assert_eq!(
        (s.window.calls, s.window.failures),
        (3, 3),
        "the window is kept"
    );
    r.fail();
    let s = r.b.snapshot();
    assert_eq!(s.failure_rate, Some(1.0), "the real rate, not NaN");
    assert_eq!(s.window.calls, 4);
    // Within a reset timeout the would-open is not reported again.
    for _ in 0..5 {
        r.fail();
    }
    assert_eq!(r.would_open.lock().unwrap().len(), 1);
    r.clock.advance(secs(30));
    r.fail();
    assert_eq!(r.would_open.lock().unwrap().len(), 2);
    assert_eq!(r.b.snapshot().window.calls, 10);
    assert!(
        r.log.lock().unwrap().is_empty(),
        "a would-open is no transition"
    );
}

#[test]
fn a_permit_recorded_after_a_huge_clock_jump_is_counted() {
    let r = rig(Config::builder());
    let p = r.b.try_acquire().unwrap();
    r.clock.advance(Duration::MAX);
    p.record(Outcome::Success);
    let s = r.b.snapshot();
    assert_eq!(s.totals.successes, 1);
    assert_eq!(s.totals.slow, 1);
}
