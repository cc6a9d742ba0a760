//! Every transition and reason of the state machine, driven with a manual clock: no sleeps.

#![cfg(feature = "test-util")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::{
    CallError, CircuitBreaker, Config, ConfigBuilder, Event, ManualClock, Outcome, Reason, State,
    Transition,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A breaker on a manual clock that records its transitions.
struct Rig {
    b: CircuitBreaker,
    clock: ManualClock,
    log: Arc<Mutex<Vec<Transition>>>,
}

fn rig(cfg: ConfigBuilder) -> Rig {
    let clock = ManualClock::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let b = CircuitBreaker::builder("dep")
        .config(cfg.build().unwrap())
        .clock(clock.clone())
        .listener(move |e: &Event<'_>| {
            if let Event::Transition(t) = e {
                sink.lock().unwrap().push((*t).clone());
            }
        })
        .build()
        .unwrap();
    Rig { b, clock, log }
}

impl Rig {
    fn ok(&self) -> bool {
        self.b.call_sync(|| Ok::<_, ()>(())).is_ok()
    }
    fn fail(&self) -> Result<(), CallError<()>> {
        self.b.call_sync(|| Err(()))
    }
    fn slow(&self, d: Duration, ok: bool) {
        if let Ok(p) = self.b.try_acquire() {
            self.clock.advance(d);
            p.record(if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
    }
    fn reasons(&self) -> Vec<(State, State, Reason)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|t| (t.from, t.to, t.reason))
            .collect()
    }
    fn last(&self) -> Transition {
        self.log.lock().unwrap().last().cloned().unwrap()
    }
}

fn base() -> ConfigBuilder {
    Config::builder()
        .failure_threshold(3)
        .min_calls(10)
        .success_threshold(2)
        .half_open_max_calls(2)
        .reset_timeout(secs(30))
        .slow_call_duration(secs(1))
}

#[test]
fn consecutive_failures_open_the_breaker() {
    let r = rig(base());
    let _ = r.fail();
    let _ = r.fail();
    assert_eq!(r.b.state(), State::Closed);
    let _ = r.fail();
    assert_eq!(r.b.state(), State::Open);
    let t = r.last();
    assert_eq!(t.reason, Reason::ConsecutiveFailures);
    assert_eq!(t.consecutive_failures, 3);
    assert_eq!(t.threshold, Some(3.0));
    assert_eq!(t.open_for, Some(secs(30)));
}

#[test]
fn a_success_resets_the_consecutive_count() {
    let r = rig(base());
    let _ = r.fail();
    let _ = r.fail();
    r.ok();
    let _ = r.fail();
    let _ = r.fail();
    assert_eq!(r.b.state(), State::Closed);
}

#[test]
fn failure_rate_equal_to_threshold_trips() {
    let r = rig(base().failure_threshold(100));
    for i in 0..10 {
        if i % 2 == 0 {
            let _ = r.fail();
        } else {
            r.ok();
        }
    }
    assert_eq!(r.b.state(), State::Open);
    let t = r.last();
    assert_eq!(t.reason, Reason::FailureRate);
    assert_eq!(t.failure_rate, Some(0.5));
    assert_eq!(t.threshold, Some(0.5));
    assert_eq!(t.counts.calls, 10);
    assert_eq!(t.counts.failures, 5);
}

#[test]
fn rates_are_not_evaluated_below_min_calls() {
    let r = rig(base().failure_threshold(100));
    for _ in 0..9 {
        let _ = r.fail();
    }
    assert_eq!(r.b.state(), State::Closed);
    assert_eq!(r.b.snapshot().failure_rate, None);
}

#[test]
fn the_call_that_reaches_min_calls_can_trip_even_if_it_succeeds() {
    let r = rig(base().failure_threshold(100));
    for _ in 0..5 {
        let _ = r.fail();
    }
    for _ in 0..4 {
        r.ok();
    }
    assert_eq!(r.b.state(), State::Closed);
    r.ok(); // 10th call: 5/10 = 0.5
    assert_eq!(r.b.state(), State::Open);
    assert_eq!(r.last().reason, Reason::FailureRate);
}

#[test]
fn slow_call_rate_trips_and_boundary_is_strict() {
    let r = rig(base().failure_threshold(100));
    // Exactly slow_call_duration is not slow.
    for _ in 0..10 {
        r.slow(secs(1), true);
    }
    assert_eq!(r.b.state(), State::Closed);
    assert_eq!(r.b.snapshot().window.slow_calls, 0);
    for _ in 0..10 {
        r.slow(Duration::from_millis(1001), true);
    }
    assert_eq!(r.b.state(), State::Open);
    let t = r.last();
    assert_eq!(t.reason, Reason::SlowCallRate);
    assert_eq!(t.threshold, Some(0.5));
}

#[test]
fn when_two_triggers_fire_the_first_reason_wins() {
    // The 10th call is a failure that is the 3rd consecutive one and makes the rate 100%.
    let r = rig(base().failure_threshold(10));
    for _ in 0..10 {
        r.slow(Duration::from_secs(2), false);
    }
    assert_eq!(r.last().reason, Reason::ConsecutiveFailures);

    // Failure rate and slow-call rate together: failure_rate wins.
    let r = rig(base().failure_threshold(100));
    for _ in 0..10 {
        r.slow(Duration::from_secs(2), false);
    }
    assert_eq!(r.last().reason, Reason::FailureRate);
}

#[test]
fn open_rejects_with_retry_after_then_half_opens_after_timeout() {
    let r = rig(base());
    for _ in 0..3 {
        let _ = r.fail();
    }
    r.clock.advance(secs(10));
    let err = r.b.call_sync(|| Ok::<_, ()>(())).unwrap_err();
    let open = err.rejection().unwrap();
    assert_eq!(open.state(), State::Open);
    assert_eq!(open.retry_after(), Some(secs(20)));
    assert_eq!(open.name(), "dep");
    r.clock.advance(secs(20));
    assert!(r.ok());
    assert_eq!(r.b.state(), State::HalfOpen);
    assert_eq!(
        r.reasons()[1],
        (State::Open, State::HalfOpen, Reason::TimeoutElapsed)
    );
}

#[test]
fn poll_timeouts_half_opens_an_idle_breaker() {
    let r = rig(base());
    for _ in 0..3 {
        let _ = r.fail();
    }
    r.b.poll_timeouts();
    assert_eq!(r.b.state(), State::Open);
    r.clock.advance(secs(30));
    r.b.poll_timeouts();
    assert_eq!(r.b.state(), State::HalfOpen);
}

fn open_then_half_open(r: &Rig) {
    for _ in 0..3 {
        let _ = r.fail();
    }
    r.clock.advance(secs(30));
    r.b.poll_timeouts();
    assert_eq!(r.b.state(), State::HalfOpen);
}

#[test]
fn half_open_successes_close() {
    let r = rig(base());
    open_then_half_open(&r);
    assert!(r.ok());
    assert_eq!(r.b.state(), State::HalfOpen);
    assert!(r.ok());
    assert_eq!(r.b.state(), State::Closed);
    assert_eq!(r.last().reason, Reason::HalfOpenSuccess);
    assert_eq!(
        r.b.snapshot().window.calls,
        0,
        "closing starts an empty window"
    );
}

#[test]
fn half_open_failure_reopens() {
    let r = rig(base());
    open_then_half_open(&r);
    let _ = r.fail();
    assert_eq!(r.b.state(), State::Open);
    assert_eq!(r.last().reason, Reason::HalfOpenFailure);
}

#[test]
fn half_open_slow_success_reopens() {
    let r = rig(base());
    open_then_half_open(&r);
    r.slow(secs(2), true);
    assert_eq!(r.b.state(), State::Open);
    assert_eq!(r.last().reason, Reason::HalfOpenSlowCall);
}

#[test]
fn half_open_admits_exactly_max_calls() {
    let r = rig(base());
    open_then_half_open(&r);
    let p1 = r.b.try_acquire().unwrap();
    let p2 = r.b.try_acquire().unwrap();
    assert!(p1.is_trial() && p2.is_trial());
    let rejected = r.b.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::HalfOpen);
    assert_eq!(rejected.retry_after(), None);
    p1.success();
    let p3 = r.b.try_acquire().unwrap();
    p2.success();
    assert_eq!(r.b.state(), State::Closed);
    // p3 was admitted in the half-open epoch; its outcome does not touch the new Closed.
    p3.failure();
    assert_eq!(r.b.state(), State::Closed);
    assert_eq!(r.b.snapshot().window.calls, 0);
}

#[test]
fn dropped_permit_returns_its_half_open_slot() {
    let r = rig(base());
    open_then_half_open(&r);
    for _ in 0..100 {
        let p = r.b.try_acquire().unwrap();
        drop(p);
    }
    let s = r.b.snapshot();
    assert_eq!(s.half_open_in_flight, 0);
    assert_eq!(s.state, State::HalfOpen);
    assert_eq!(s.totals.ignored, 100);
}

#[test]
fn dropped_future_counts_as_ignored_and_frees_the_slot() {
    let r = rig(base());
    open_then_half_open(&r);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pending = r.b.call(std::future::pending::<Result<(), ()>>());
        let timed = tokio::time::timeout(Duration::from_millis(1), pending).await;
        assert!(timed.is_err());
    });
    assert_eq!(r.b.snapshot().half_open_in_flight, 0);
    assert_eq!(r.b.snapshot().totals.ignored, 1);
}

#[test]
fn hung_trials_do_not_leave_half_open_stuck() {
    let r = rig(base().half_open_timeout(secs(60)));
    open_then_half_open(&r);
    let _hung1 = r.b.try_acquire().unwrap();
    let _hung2 = r.b.try_acquire().unwrap();
    r.clock.advance(secs(59));
    assert!(r.b.try_acquire().is_err());
    assert_eq!(r.b.state(), State::HalfOpen);
    r.clock.advance(secs(2));
    assert!(r.b.try_acquire().is_err());
    assert_eq!(r.b.state(), State::Open);
    assert_eq!(r.last().reason, Reason::TimeoutElapsed);
    // After the reset timeout it probes again with fresh slots.
    r.clock.advance(secs(30));
    assert!(r.b.try_acquire().is_ok());
}

#[test]
fn outcome_counts_in_the_epoch_it_was_admitted_in() {
    let r = rig(base());
    let early = r.b.try_acquire().unwrap();
    for _ in 0..3 {
        let _ = r.fail();
    }
    r.clock.advance(secs(30));
    r.b.poll_timeouts();
    // A call that started before the trip finishes now: it is not a half-open trial.
    early.failure();
    assert_eq!(r.b.state(), State::HalfOpen);
    assert_eq!(r.b.snapshot().totals.failures, 4);
}

#[test]
fn backoff_grows_the_reset_timeout_and_caps_it() {
    let r = rig(base().backoff_factor(2.0).max_reset_timeout(secs(100)));
    for _ in 0..3 {
        let _ = r.fail();
    }
    let mut expected = vec![30, 60, 100, 100];
    for want in expected.drain(..) {
        assert_eq!(r.last().open_for, Some(secs(want)));
        r.clock.advance(secs(want));
        r.b.poll_timeouts();
        let _ = r.fail(); // trial fails: reopen with a longer timeout
    }
    // Recovery resets the backoff.
    r.clock.advance(secs(100));
    r.b.poll_timeouts();
    r.ok();
    r.ok();
    assert_eq!(r.b.state(), State::Closed);
    for _ in 0..3 {
        let _ = r.fail();
    }
    assert_eq!(r.last().open_for, Some(secs(30)));
}

#[test]
fn jitter_spreads_reset_timeouts_within_bounds() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let r = rig(base().reset_jitter(0.2));
        for _ in 0..3 {
            let _ = r.fail();
        }
        let d = r.last().open_for.unwrap();
        assert!(d >= secs(24) && d <= secs(36), "{d:?}");
        seen.insert(d);
    }
    assert!(seen.len() > 1, "jitter must vary between breakers");
}

#[test]
fn reset_returns_to_closed_with_an_empty_window_from_any_state() {
    let r = rig(base().failure_threshold(100));
    for _ in 0..5 {
        let _ = r.fail();
    }
    r.b.reset();
    assert_eq!(r.b.snapshot().window.calls, 0);
    // Already closed: still a transition (a new epoch), closed -> closed.
    assert_eq!(
        r.reasons(),
        vec![(State::Closed, State::Closed, Reason::Manual)]
    );
    r.b.force_open();
    r.b.reset();
    assert_eq!(r.b.state(), State::Closed);
    assert_eq!(
        r.reasons(),
        vec![
            (State::Closed, State::Closed, Reason::Manual),
            (State::Closed, State::ForcedOpen, Reason::Forced),
            (State::ForcedOpen, State::Closed, Reason::Manual)
        ]
    );
}

#[test]
fn forced_open_rejects_until_reset() {
    let r = rig(base());
    r.b.force_open();
    r.clock.advance(secs(3600));
    let e = r.b.try_acquire().unwrap_err();
    assert_eq!(e.state(), State::ForcedOpen);
    assert_eq!(e.retry_after(), None);
    assert_eq!(r.b.state(), State::ForcedOpen);
}

#[test]
fn force_open_ttl_expires_into_half_open_not_closed() {
    let r = rig(base());
    r.b.force_open_for(secs(10));
    assert_eq!(r.b.try_acquire().unwrap_err().retry_after(), Some(secs(10)));
    r.clock.advance(secs(10));
    let p = r.b.try_acquire().unwrap();
    assert!(p.is_trial());
    assert_eq!(r.b.state(), State::HalfOpen);
    assert_eq!(
        r.reasons().last().copied(),
        Some((State::ForcedOpen, State::HalfOpen, Reason::TimeoutElapsed))
    );
    p.success();
}

#[test]
fn disabled_permits_everything_and_measures() {
    let r = rig(base());
    r.b.disable();
    for _ in 0..50 {
        let _ = r.fail();
    }
    let s = r.b.snapshot();
    assert_eq!(s.state, State::Disabled);
    assert_eq!(s.window.failures, 50);
    assert_eq!(r.last().reason, Reason::Manual);
}

#[test]
fn metrics_only_reports_would_open_and_never_rejects() {
    let clock = ManualClock::new();
    let would = Arc::new(Mutex::new(Vec::new()));
    let sink = would.clone();
    let b = CircuitBreaker::builder("dry")
        .config(base().build().unwrap())
        .clock(clock.clone())
        .initial_state(State::MetricsOnly)
        .listener(move |e: &Event<'_>| {
            if let Event::WouldOpen(t) = e {
                sink.lock().unwrap().push(t.reason);
            }
        })
        .build()
        .unwrap();
    for _ in 0..9 {
        assert!(matches!(
            b.call_sync(|| Err::<(), _>(())),
            Err(CallError::Inner(()))
        ));
    }
    assert_eq!(b.state(), State::MetricsOnly);
    // One dry-run trip: for a reset timeout after it the breaker "would still be open".
    assert_eq!(*would.lock().unwrap(), vec![Reason::ConsecutiveFailures]);
    clock.advance(secs(30));
    for _ in 0..3 {
        let _ = b.call_sync(|| Err::<(), _>(()));
    }
    assert_eq!(*would.lock().unwrap(), vec![Reason::ConsecutiveFailures; 2]);
}

#[test]
fn reconfiguration_keeps_state_and_window() {
    let r = rig(base().failure_threshold(100));
    for _ in 0..4 {
        let _ = r.fail();
    }
    r.b.set_config(base().failure_threshold(5).build().unwrap());
    assert_eq!(r.b.snapshot().window.failures, 4);
    let _ = r.fail();
    assert_eq!(r.b.state(), State::Open);
    // A new window shape carries the counts over; the Open state stays.
    r.b.set_config(base().window_size(50).window_buckets(5).build().unwrap());
    let s = r.b.snapshot();
    assert_eq!(s.state, State::Open);
    assert_eq!(s.window.failures, 5);
    assert_eq!(s.config.failure_threshold(), 3);
}

#[test]
fn ignored_outcomes_do_not_count_toward_trips() {
    let r = rig(base());
    for _ in 0..20 {
        let res =
            r.b.call_sync_with(|_| Outcome::Ignore, || Err::<(), _>("404"));
        assert!(matches!(res, Err(CallError::Inner("404"))));
    }
    let s = r.b.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!(s.totals.ignored, 20);
    assert_eq!(s.window.calls, 0);
}

#[test]
fn time_window_forgets_old_failures() {
    let r = rig(base().failure_threshold(100).failure_window(secs(10)));
    for _ in 0..5 {
        let _ = r.fail();
    }
    r.clock.advance(secs(11));
    for _ in 0..5 {
        r.ok();
    }
    let s = r.b.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!((s.window.calls, s.window.failures), (5, 0));
}

#[test]
fn snapshot_reports_since_and_last_transition() {
    let r = rig(base());
    r.clock.advance(secs(5));
    for _ in 0..3 {
        let _ = r.fail();
    }
    let s = r.b.snapshot();
    let t = s.last_transition.unwrap();
    assert_eq!(t.reason, Reason::ConsecutiveFailures);
    assert_eq!(s.since, t.at);
    assert_eq!(s.retry_after, Some(secs(30)));
    assert_eq!(s.totals.failures, 3);
}

#[test]
fn a_panicking_listener_is_disabled_and_calls_keep_working() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("p")
        .clock(clock)
        .listener(|_: &Event<'_>| panic!("listener bug"))
        .build()
        .unwrap();
    for _ in 0..3 {
        assert!(b.call_sync(|| Ok::<_, ()>(1)).is_ok());
    }
    assert_eq!(b.snapshot().totals.successes, 3);
}

#[test]
fn rejections_carry_short_and_long_names() {
    for name in ["db", &"n".repeat(46), &"long-".repeat(25)] {
        let b = CircuitBreaker::builder(name).build().unwrap();
        b.force_open();
        let e = b.try_acquire().unwrap_err();
        assert_eq!(e.name(), name);
        assert_eq!(e.clone(), e);
        assert!(e.to_string().contains(name));
        assert!(format!("{e:?}").contains(name));
    }
}
