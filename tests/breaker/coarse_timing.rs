//! Coarse call timing: a breaker whose `slow_call_duration` (and `call_timeout`) spans at
//! least `COARSE_TIMING_FACTOR` periods of its clock's coarse reading, and that keeps no
//! duration histogram, times its calls with `Clock::recent`. Its slow-call verdicts are
//! then off by less than one period: a call of `slow_call_duration` plus one period is
//! always slow, one of `slow_call_duration` minus one period never is. `ManualClock`'s
//! `with_upkeep` plays the upkeep: `recent` is the time of its last tick.

#![cfg(feature = "test-util")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::{COARSE_TIMING_FACTOR, CircuitBreaker, Config, Event, ManualClock, Outcome};

const PERIOD: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

/// A breaker on `clock` whose calls never trip it, with `slow` as `slow_call_duration`.
fn breaker(clock: &ManualClock, slow: Duration, call_timeout: Option<Duration>) -> CircuitBreaker {
    let mut config = Config::builder()
        .failure_threshold(u32::MAX)
        .slow_call_rate_threshold(1.0)
        .min_calls(u32::MAX)
        .slow_call_duration(slow);
    if let Some(limit) = call_timeout {
        config = config.call_timeout(limit);
    }
    CircuitBreaker::builder("coarse")
        .config(config.build().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Whether a call admitted `offset` after an upkeep tick and running `ran` was slow.
fn slow_verdict(b: &CircuitBreaker, clock: &ManualClock, offset: Duration, ran: Duration) -> bool {
    let seen = Arc::new(Mutex::new(None));
    let sink = seen.clone();
    let id = b.subscribe(move |e: &Event<'_>| {
        if let Event::Call { slow, .. } = *e {
            *sink.lock().unwrap() = Some(slow);
        }
    });
    // To the next tick, then `offset` past it.
    let now = clock.elapsed().as_nanos() as u64;
    let period = PERIOD.as_nanos() as u64;
    clock.advance(Duration::from_nanos(period - now % period) + offset);
    let permit = b.try_acquire().unwrap();
    clock.advance(ran);
    permit.success();
    b.unsubscribe(id);
    seen.lock().unwrap().expect("the call was reported")
}

/// Offsets after a tick: on it, just after, half-way, just before the next.
fn offsets() -> [Duration; 4] {
    [Duration::ZERO, NS, PERIOD / 2, PERIOD - NS]
}

#[test]
fn coarse_timing_errs_by_less_than_one_upkeep_period_at_its_edges() {
    let clock = ManualClock::new().with_upkeep(PERIOD);
    // Not a multiple of the period, so both errors show.
    let slow = PERIOD * COARSE_TIMING_FACTOR as u32 + PERIOD / 2;
    let b = breaker(&clock, slow, None);
    for offset in offsets() {
        assert!(
            slow_verdict(&b, &clock, offset, slow + PERIOD),
            "slow_call_duration + one period is always slow (offset {offset:?})"
        );
        assert!(
            !slow_verdict(&b, &clock, offset, slow - PERIOD),
            "slow_call_duration - one period is never slow (offset {offset:?})"
        );
    }
    // Inside the band, the verdict depends on where the call falls between ticks: this is
    // the error, and it is smaller than one period.
    assert!(
        !slow_verdict(&b, &clock, Duration::ZERO, slow + PERIOD / 2 - NS),
        "a call admitted on a tick is measured short by up to one period"
    );
    assert!(
        slow_verdict(&b, &clock, PERIOD - NS, slow - PERIOD / 2 + NS),
        "a call admitted just before a tick is measured long by up to one period"
    );
}

#[test]
fn a_slow_call_duration_under_the_factor_is_timed_finely() {
    let clock = ManualClock::new().with_upkeep(PERIOD);
    let slow = PERIOD * (COARSE_TIMING_FACTOR as u32 - 1);
    let b = breaker(&clock, slow, None);
    // Coarse timing would see slow + 1 ns, admitted on a tick, as exactly `slow`.
    assert!(slow_verdict(&b, &clock, Duration::ZERO, slow + NS));
    assert!(!slow_verdict(&b, &clock, PERIOD - NS, slow));
}

#[test]
fn a_short_call_timeout_keeps_fine_timing() {
    let clock = ManualClock::new().with_upkeep(PERIOD);
    let limit = PERIOD * (COARSE_TIMING_FACTOR as u32 / 2);
    let b = breaker(&clock, Duration::from_secs(5), Some(limit));
    let seen = Arc::new(Mutex::new(None));
    let sink = seen.clone();
    b.subscribe(move |e: &Event<'_>| {
        if let Event::Call { outcome, .. } = *e {
            *sink.lock().unwrap() = Some(outcome);
        }
    });
    // Admitted on a tick: coarse timing would measure exactly `limit`, not past it.
    let result = b.call_sync(|| {
        clock.advance(limit + NS);
        Ok::<(), ()>(())
    });
    assert!(result.is_ok());
    assert_eq!(*seen.lock().unwrap(), Some(Outcome::Timeout));
}

#[test]
fn a_clock_without_a_known_lag_times_finely() {
    // `ManualClock` without upkeep: `recent` is `now` and no lag is reported.
    let clock = ManualClock::new();
    let slow = Duration::from_secs(5);
    let b = breaker(&clock, slow, None);
    assert!(slow_verdict(&b, &clock, Duration::ZERO, slow + NS));
    assert!(!slow_verdict(&b, &clock, Duration::ZERO, slow));
}

#[cfg(feature = "metrics")]
#[test]
fn a_breaker_with_a_duration_histogram_is_timed_finely() {
    use breakerbox::DurationHistogram;
    use metrics_util::debugging::DebuggingRecorder;

    let slow = PERIOD * COARSE_TIMING_FACTOR as u32 * 2;
    let build = |histogram| {
        let clock = ManualClock::new().with_upkeep(PERIOD);
        let recorder = DebuggingRecorder::new();
        let b = metrics::with_local_recorder(&recorder, || {
            CircuitBreaker::builder("coarse_histogram")
                .config(Config::builder().slow_call_duration(slow).build().unwrap())
                .clock(clock.clone())
                .duration_histogram(histogram)
                .build()
                .unwrap()
        });
        (b, clock)
    };
    // Admitted on a tick, `slow` + 1 ns: slow by the fine clock, exactly `slow` by the
    // coarse one.
    let (b, clock) = build(DurationHistogram::default());
    assert!(slow_verdict(&b, &clock, Duration::ZERO, slow + NS));
    let (b, clock) = build(DurationHistogram::Off);
    assert!(!slow_verdict(&b, &clock, Duration::ZERO, slow + NS));
}
