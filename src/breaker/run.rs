//! The one run path of every call shape (`call`, `call_with`, `call_sync`,
//! `call_sync_with`): admit, run inside the call's span, record the outcome inside it.

use std::future::Future;

use super::{CircuitBreaker, Permit};
use crate::error::BreakerOpen;
use crate::event::Outcome;
#[cfg(feature = "tracing")]
use crate::observe::spans::{CallSpan, Late};

/// One admitted call: its permit and, with `tracing`, its span.
pub(super) struct Run<'a> {
    #[cfg(feature = "tracing")]
    breaker: &'a CircuitBreaker,
    permit: Permit<'a>,
    #[cfg(feature = "tracing")]
    span: CallSpan,
}

impl<'a> Run<'a> {
    /// Admits a call through `breaker` and decides its span.
    ///
    /// # Errors
    /// [`BreakerOpen`] when the breaker refuses the call.
    #[inline]
    pub(super) fn begin(breaker: &'a CircuitBreaker) -> Result<Run<'a>, BreakerOpen> {
        let permit = breaker.try_acquire()?;
        Ok(Run {
            #[cfg(feature = "tracing")]
            span: CallSpan::start(
                breaker.inner.observer.span_sampler(),
                &breaker.inner.name,
                permit.state(),
                permit.is_trial(),
            ),
            #[cfg(feature = "tracing")]
            breaker,
            permit,
        })
    }

    /// The clock reading at admission.
    #[inline]
    pub(super) fn started(&self) -> u64 {
        self.permit.started()
    }

    /// Runs a blocking call (`f` returns the result and the outcome to record).
    #[inline]
    pub(super) fn blocking<R>(self, f: impl FnOnce() -> (R, Outcome)) -> R {
        #[cfg(feature = "tracing")]
        let (result, outcome) = self.span.in_scope(f);
        #[cfg(not(feature = "tracing"))]
        let (result, outcome) = f();
        self.end(outcome);
        result
    }

    /// Runs a future (it yields the result and the outcome to record).
    pub(super) async fn future<R, F>(self, fut: F) -> R
    where
        F: Future<Output = (R, Outcome)>,
    {
        #[cfg(feature = "tracing")]
        let (result, outcome) = self.span.run(fut).await;
        #[cfg(not(feature = "tracing"))]
        let (result, outcome) = fut.await;
        self.end(outcome);
        result
    }

    /// Records `outcome` (inside the call's span, which then shows what the engine
    /// measured).
    #[inline]
    fn end(self, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        {
            let Run {
                breaker,
                permit,
                span,
            } = self;
            let inner = &breaker.inner;
            let late = Late {
                name: &inner.name,
                clock: &*inner.clock,
                start: permit.started(),
                state: permit.state(),
            };
            span.finish(late, outcome, || permit.finish(outcome));
        }
        #[cfg(not(feature = "tracing"))]
        self.permit.record(outcome);
    }
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
