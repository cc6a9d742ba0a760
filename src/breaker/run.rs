//! The run path of a call once admitted: run inside the call's span, record the outcome
//! inside it. Blocking calls (`call_sync`, `call_sync_with`) run here; async calls
//! (`call`, `call_with`) are the hand-written future of `call.rs`, which starts and ends
//! their spans with the same two functions. Without a subscriber that may want spans,
//! nothing span-related is touched.

#[cfg(feature = "tracing")]
use super::engine::Admission;
use super::{CircuitBreaker, Permit};
use crate::event::Outcome;
#[cfg(feature = "tracing")]
use crate::observe::spans::{self, CallSpan, Late};

/// Runs a blocking call admitted with `permit` (`f` returns the result and the outcome
/// to record), inside its span when a subscriber may want one.
#[inline(always)]
pub(super) fn blocking<R>(
    breaker: &CircuitBreaker,
    permit: Permit<'_>,
    f: impl FnOnce() -> (R, Outcome),
) -> R {
    #[cfg(feature = "tracing")]
    if spans::wanted() {
        return blocking_traced(breaker, permit, f);
    }
    #[cfg(not(feature = "tracing"))]
    let _ = breaker;
    let (result, outcome) = f();
    let _ = permit.finish(outcome);
    result
}

#[cfg(feature = "tracing")]
#[inline(never)]
fn blocking_traced<R>(
    breaker: &CircuitBreaker,
    permit: Permit<'_>,
    f: impl FnOnce() -> (R, Outcome),
) -> R {
    let span = start(breaker, &permit.admission());
    let (result, outcome) = span.in_scope(f);
    end(breaker, permit, span, outcome);
    result
}

/// The span of the call `adm` admitted.
#[cfg(feature = "tracing")]
pub(super) fn start(breaker: &CircuitBreaker, adm: &Admission) -> CallSpan {
    let inner = &breaker.inner;
    CallSpan::start(
        inner.observer.span_sampler(),
        &inner.name,
        adm.state(),
        adm.trial(),
    )
}

/// Records `outcome` inside the call's span, which then shows what the engine measured.
#[cfg(feature = "tracing")]
pub(super) fn end(breaker: &CircuitBreaker, permit: Permit<'_>, span: CallSpan, outcome: Outcome) {
    let inner = &breaker.inner;
    let late = Late {
        name: &inner.name,
        clock: &*inner.clock,
        start: permit.started(),
        state: permit.state(),
    };
    span.finish(late, outcome, || permit.finish(outcome));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::clock::ManualClock;
    use crate::event::Outcome;
    use crate::{CircuitBreaker, Config, State};

    /// The engine returns what recording an outcome did: how long the call ran by the
    /// breaker's clock, whether it was slow, and the transition it won.
    #[test]
    fn completion_returns_duration_slowness_and_transition() {
        let clock = ManualClock::new();
        let config = Config::builder()
            .failure_threshold(2)
            .slow_call_duration(Duration::from_millis(10))
            .build()
            .unwrap();
        let b = CircuitBreaker::builder("completion")
            .config(config)
            .clock(clock.clone())
            .build()
            .unwrap();

        let permit = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(11));
        let done = permit.finish(Outcome::Failure);
        assert_eq!(done.duration, Duration::from_millis(11));
        assert!(done.slow);
        assert_eq!(done.state, State::Closed);
        assert_eq!(done.transition, None);

        let permit = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(10));
        let done = permit.finish(Outcome::Failure);
        assert!(
            !done.slow,
            "a call of exactly slow_call_duration is not slow"
        );
        assert_eq!(done.transition, Some(State::Open));
        assert_eq!(b.state(), State::Open);
    }
}
