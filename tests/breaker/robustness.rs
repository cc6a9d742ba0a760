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

mod property {
    //! Random valid configs, extremes included, and random sequences of calls, operator
    //! actions, config swaps and clock advances.

    use super::*;
    use breakerbox::{BreakerOpen, Permit};
    use proptest::prelude::*;

    fn duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::from_nanos(1)),
            Just(Duration::MAX),
            Just(Duration::from_nanos(u64::MAX)),
            Just(Duration::from_secs(u64::MAX / 2)),
            (1u64..=120_000).prop_map(Duration::from_millis),
            (1u64..=10_000_000).prop_map(Duration::from_nanos),
            (1u64..=u64::MAX).prop_map(Duration::from_nanos),
        ]
    }

    fn count(small: u32, max: u32) -> impl Strategy<Value = u32> {
        prop_oneof![4 => 1..=small, 1 => Just(max)]
    }

    fn rate() -> impl Strategy<Value = f64> {
        prop_oneof![Just(1.0), Just(f64::MIN_POSITIVE), 0.01f64..=1.0]
    }

    #[derive(Debug, Clone)]
    enum Window {
        Default,
        Count(u32, Option<u32>),
        Time(Duration),
    }

    fn window() -> impl Strategy<Value = Window> {
        prop_oneof![
            Just(Window::Default),
            (1u32..=300, prop::option::of(1u32..=64)).prop_map(|(n, b)| Window::Count(n, b)),
            (1u32..=1_000).prop_map(|n| Window::Count(n, None)),
            Just(Window::Count(u32::MAX, None)),
            prop_oneof![
                (1u64..=600_000).prop_map(Duration::from_millis),
                Just(Duration::MAX),
            ]
            .prop_map(Window::Time),
        ]
    }

    /// A config the builder accepts, from random and extreme values.
    fn config() -> impl Strategy<Value = Config> {
        let counts = (
            count(10, u32::MAX),
            count(5, breakerbox::MAX_HALF_OPEN_COUNT),
            count(5, breakerbox::MAX_HALF_OPEN_COUNT),
            count(20, u32::MAX),
        );
        let times = (
            duration(),
            prop::option::of(duration()),
            duration(),
            duration(),
        );
        let factors = (
            prop_oneof![Just(1.0), 1.0f64..10.0, Just(1e300), Just(f64::MAX)],
            prop_oneof![Just(0.0), 0.0f64..0.999, Just(0.999_999_999)],
            rate(),
            rate(),
        );
        (counts, times, factors, window()).prop_map(
            |(
                (failures, successes, half_open, min_calls),
                (reset, max_reset, slow, half_open_timeout),
                (backoff, jitter, failure_rate, slow_rate),
                window,
            )| {
                let mut b = Config::builder()
                    .failure_threshold(failures)
                    .success_threshold(successes)
                    .half_open_max_calls(half_open)
                    .reset_timeout(reset)
                    .slow_call_duration(slow)
                    .half_open_timeout(half_open_timeout)
                    .backoff_factor(backoff)
                    .reset_jitter(jitter)
                    .failure_rate_threshold(failure_rate)
                    .slow_call_rate_threshold(slow_rate)
                    .min_calls(min_calls);
                if let Some(max) = max_reset {
                    b = b.max_reset_timeout(max.max(reset));
                }
                b = match window {
                    Window::Default => b,
                    Window::Count(n, buckets) => {
                        let b = b.window_size(n).min_calls(min_calls.min(n));
                        match buckets {
                            Some(buckets) => b.window_buckets(buckets.min(n)),
                            None => b,
                        }
                    }
                    Window::Time(d) => b.failure_window(d),
                };
                b.build().expect("a valid config")
            },
        )
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Acquire, let `hold` pass, record.
        Call(u8, Duration),
        /// Acquire and keep the permit.
        Hold,
        Complete(usize, u8),
        Drop(usize),
        Advance(Duration),
        Reset,
        ForceOpen,
        ForceOpenFor(Duration),
        Disable,
        MetricsOnly,
        SetConfig(Config),
        Poll,
        /// Moves the clock past the deadline of an Open or ForcedOpen breaker, then polls
        /// (or calls): the breaker must have left the open state.
        PassDeadline(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let short = (0u64..=10_000).prop_map(Duration::from_millis);
        prop_oneof![
            12 => (0u8..3, prop_oneof![3 => short.clone(), 1 => duration()])
                .prop_map(|(o, d)| Op::Call(o, d)),
            3 => Just(Op::Hold),
            3 => (0usize..4, 0u8..3).prop_map(|(i, o)| Op::Complete(i, o)),
            1 => (0usize..4).prop_map(Op::Drop),
            4 => prop_oneof![3 => short, 1 => duration()].prop_map(Op::Advance),
            1 => Just(Op::Reset),
            1 => Just(Op::ForceOpen),
            1 => duration().prop_map(Op::ForceOpenFor),
            1 => Just(Op::Disable),
            1 => Just(Op::MetricsOnly),
            1 => config().prop_map(Op::SetConfig),
            2 => Just(Op::Poll),
            2 => any::<bool>().prop_map(Op::PassDeadline),
        ]
    }

    fn outcome(code: u8) -> Outcome {
        [Outcome::Success, Outcome::Failure, Outcome::Ignore][usize::from(code % 3)]
    }

    /// What the test expects the lifetime totals to be.
    #[derive(Debug, Default)]
    struct Expected {
        outcomes: [u64; 3],
        rejected: u64,
    }

    impl Expected {
        fn record(&mut self, code: u8) {
            self.outcomes[usize::from(code % 3)] += 1;
        }
        /// The permit, or `None` with the rejection counted.
        fn admit<'a>(&mut self, r: Result<Permit<'a>, BreakerOpen>) -> Option<Permit<'a>> {
            r.map_err(|_| self.rejected += 1).ok()
        }
    }

    fn check(r: &Rig, expected: &Expected) -> Result<(), TestCaseError> {
        let s = r.b.snapshot();
        let t = s.totals;
        prop_assert_eq!([t.successes, t.failures, t.ignored], expected.outcomes);
        prop_assert_eq!(t.rejected, expected.rejected);
        prop_assert!(s.window.failures <= s.window.calls);
        prop_assert!(s.window.slow_calls <= s.window.calls);
        if s.state == State::Open {
            let wait = s.retry_after;
            prop_assert!(wait.is_some(), "an Open breaker has a deadline");
            let open_for = s.last_transition.as_ref().and_then(|t| t.open_for);
            prop_assert!(wait <= open_for, "{:?} > {:?}", wait, open_for);
        }
        Ok(())
    }

    fn run(cfg: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let r = rig_in(cfg.into_builder(), State::Closed);
        let mut expected = Expected::default();
        let mut held: Vec<Permit<'_>> = Vec::new();
        for op in ops {
            match op {
                Op::Call(code, hold) => {
                    if let Some(p) = expected.admit(r.b.try_acquire()) {
                        r.clock.advance(hold);
                        p.record(outcome(code));
                        expected.record(code);
                    }
                }
                Op::Hold => {
                    if let Some(p) = expected.admit(r.b.try_acquire()) {
                        if held.len() < 4 {
                            held.push(p);
                        } else {
                            p.success();
                            expected.record(0);
                        }
                    }
                }
                Op::Complete(i, code) if i < held.len() => {
                    held.remove(i).record(outcome(code));
                    expected.record(code);
                }
                Op::Drop(i) if i < held.len() => {
                    drop(held.remove(i));
                    expected.record(2);
                }
                Op::Complete(..) | Op::Drop(_) => {}
                Op::Advance(d) => r.clock.advance(d),
                Op::Reset => r.b.reset(),
                Op::ForceOpen => r.b.force_open(),
                Op::ForceOpenFor(d) => r.b.force_open_for(d),
                Op::Disable => r.b.disable(),
                Op::MetricsOnly => r.b.metrics_only(),
                Op::SetConfig(c) => r.b.set_config(c),
                Op::Poll => r.b.poll_timeouts(),
                Op::PassDeadline(by_call) => {
                    let s = r.b.snapshot();
                    if let (State::Open | State::ForcedOpen, Some(wait)) = (s.state, s.retry_after)
                    {
                        r.clock.advance(wait);
                        if by_call {
                            let p = expected.admit(r.b.try_acquire());
                            prop_assert!(p.is_some(), "admitted once the deadline passed");
                            if let Some(p) = p {
                                p.ignore();
                                expected.record(2);
                            }
                        } else {
                            r.b.poll_timeouts();
                        }
                        let now = r.b.state();
                        prop_assert!(
                            !matches!(now, State::Open | State::ForcedOpen),
                            "still {} after its deadline",
                            now
                        );
                    }
                }
            }
            check(&r, &expected)?;
        }
        for p in held.drain(..) {
            drop(p);
            expected.record(2);
        }
        check(&r, &expected)
    }

    proptest! {
        #![proptest_config(crate::proptest_config(256))]

        /// No panic, exact totals, and an Open breaker always leaves Open after its deadline.
        #[test]
        fn random_configs_and_operations_never_panic_or_wedge(
            cfg in config(),
            ops in prop::collection::vec(op(), 1..100),
        ) {
            run(cfg, ops)?;
        }
    }
}
