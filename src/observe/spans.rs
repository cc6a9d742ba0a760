//! Spans and events through `tracing`, shaped for `tracing-opentelemetry`.
//!
//! - One `breakerbox.call` span per call made with `call`, `call_with`, `call_sync` or
//!   `call_sync_with`: attributes `breakerbox.name`, `breakerbox.state` (the state that
//!   admitted it), `breakerbox.outcome` and `breakerbox.slow`; status error on a failure
//!   or a timeout.
//! - A rejected call (any call shape, permits included) is a short `breakerbox.call` span
//!   with `breakerbox.outcome = "rejected"`, `error.type = "circuit_open"` and status error.
//! - A transition is an event named `breakerbox.transition` (a dry-run trip:
//!   `breakerbox.would_open`) with the reason and the window numbers. It is a span event of
//!   the span current when it happened (the call that tripped the breaker, the request that
//!   reset it) and, for a log subscriber, a structured log line. A transition decided
//!   outside any span (the eager timer, `poll_timeouts` from a scrape or a health poll, an
//!   operator call from a bare thread) gets a short span of its own, `breakerbox.transition`,
//!   with the breaker, from, to and reason, so that an OpenTelemetry-only subscriber, which
//!   drops events without a span, still receives it.
//!
//! Spans at target `breakerbox`, transition events at `breakerbox::transition` (so logs
//! can show every state change without per-call spans), at `INFO` (trips to open at
//! `WARN`). When no subscriber wants them, creating them is a level check and a cached
//! callsite check: no allocation, no clock read, no thread-local access.

#[cfg(not(feature = "tracing"))]
pub(crate) use disabled::*;
#[cfg(feature = "tracing")]
pub(crate) use enabled::*;

#[cfg(feature = "tracing")]
mod enabled {
    use std::cell::Cell;
    use std::future::Future;

    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    use tracing::{Level, Span, field::Empty};

    use crate::breaker::Permit;
    use crate::event::{Outcome, Transition};
    use crate::observe::names::*;
    use crate::state::State;

    const IDLE: u8 = 0;
    const ARMED: u8 = 1;
    const FAST: u8 = 2;
    const SLOW: u8 = 3;

    thread_local! {
        /// Carries "was it slow?" from the engine's completion hook back to the call span
        /// that is recording its permit. Armed only while an enabled call span records, so
        /// a permit of another breaker recorded inside the span cannot write into it.
        static SLOW_SLOT: Cell<u8> = const { Cell::new(IDLE) };
    }

    #[inline]
    fn info_enabled() -> bool {
        Level::INFO <= STATIC_MAX_LEVEL && Level::INFO <= LevelFilter::current()
    }

    /// Whether a call span may be wanted: one load of tracing's global max level. `false`
    /// lets the call paths skip everything span-related.
    #[inline(always)]
    pub(crate) fn wanted() -> bool {
        info_enabled()
    }

    /// A blocking call inside its span; `f` returns the result and the outcome to record.
    #[inline(never)]
    pub(crate) fn call_sync<R>(
        name: &str,
        permit: Permit<'_>,
        f: impl FnOnce() -> (R, Outcome),
    ) -> R {
        let span = CallSpan::new(name, permit.state());
        let (result, outcome) = span.in_scope(f);
        span.finish(permit, outcome);
        result
    }

    /// A future inside its span; `fut` yields the result and the outcome to record.
    pub(crate) async fn call<R, F>(name: &str, permit: Permit<'_>, fut: F) -> R
    where
        F: Future<Output = (R, Outcome)>,
    {
        let span = CallSpan::new(name, permit.state());
        let (result, outcome) = span.run(fut).await;
        span.finish(permit, outcome);
        result
    }

    /// Hands the engine's slow verdict to the call span recording this completion, if any.
    #[inline]
    pub(crate) fn note_slow(slow: bool) {
        if info_enabled() {
            SLOW_SLOT.with(|s| {
                if s.get() == ARMED {
                    s.set(if slow { SLOW } else { FAST });
                }
            });
        }
    }

    /// The span of one admitted call; `None` when no subscriber wants it, so that every
    /// method is a single branch on a value the compiler can see.
    #[derive(Debug)]
    struct CallSpan {
        span: Option<Span>,
    }

    impl CallSpan {
        fn new(name: &str, state: State) -> CallSpan {
            let span = tracing::info_span!(
                target: TARGET,
                SPAN_CALL,
                { ATTR_NAME } = name,
                { ATTR_STATE } = state.as_str(),
                { ATTR_OUTCOME } = Empty,
                { ATTR_SLOW } = Empty,
                { OTEL_STATUS_CODE } = Empty,
            );
            CallSpan {
                span: (!span.is_disabled()).then_some(span),
            }
        }

        /// Runs a blocking call inside the span.
        fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
            let _entered = self.span.as_ref().map(Span::enter);
            f()
        }

        /// Runs a future inside the span.
        async fn run<F: Future>(&self, fut: F) -> F::Output {
            match &self.span {
                None => fut.await,
                Some(span) => tracing::Instrument::instrument(fut, span.clone()).await,
            }
        }

        /// Records the outcome with the permit, inside the span (so a transition it causes
        /// is an event of this span), and sets the outcome and slow attributes.
        fn finish(mut self, permit: Permit<'_>, outcome: Outcome) {
            match self.span.take() {
                None => permit.record(outcome),
                Some(span) => finish_enabled(&span, permit, outcome),
            }
        }
    }

    fn finish_enabled(span: &Span, permit: Permit<'_>, outcome: Outcome) {
        let _entered = span.enter();
        let previous = SLOW_SLOT.replace(ARMED);
        permit.record(outcome);
        let slow = SLOW_SLOT.replace(previous);
        span.record(ATTR_OUTCOME, outcome.as_str());
        if slow >= FAST {
            span.record(ATTR_SLOW, slow == SLOW);
        }
        if outcome.is_failure() {
            span.record(OTEL_STATUS_CODE, "ERROR");
        }
    }

    impl Drop for CallSpan {
        fn drop(&mut self) {
            // A call whose future was dropped before `finish`: its permit counts it as
            // ignored.
            if let Some(span) = &self.span {
                span.record(ATTR_OUTCOME, Outcome::Ignore.as_str());
            }
        }
    }

    /// A short error span for a rejected call.
    #[inline]
    pub(crate) fn rejected(name: &str, state: State) {
        let _span = tracing::info_span!(
            target: TARGET,
            SPAN_CALL,
            { ATTR_NAME } = name,
            { ATTR_STATE } = state.as_str(),
            { ATTR_OUTCOME } = "rejected",
            { ATTR_ERROR_TYPE } = ERROR_TYPE_CIRCUIT_OPEN,
            { OTEL_STATUS_CODE } = "ERROR",
        );
    }

    /// OpenTelemetry has signed integers only; `tracing-opentelemetry` turns a `u64` into
    /// a string.
    fn int(n: u64) -> i64 {
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    macro_rules! transition_event {
        ($name:expr, $level:expr, $t:expr) => {
            tracing::event!(
                name: $name,
                target: TRANSITION_TARGET,
                $level,
                { ATTR_NAME } = &*$t.breaker,
                { ATTR_FROM } = $t.from.as_str(),
                { ATTR_TO } = $t.to.as_str(),
                { ATTR_REASON } = $t.reason.as_str(),
                { ATTR_WINDOW_CALLS } = int($t.counts.calls),
                { ATTR_WINDOW_FAILURES } = int($t.counts.failures),
                { ATTR_WINDOW_SLOW_CALLS } = int($t.counts.slow_calls),
                { ATTR_FAILURE_RATE } = $t.failure_rate,
                { ATTR_SLOW_CALL_RATE } = $t.slow_call_rate,
                { ATTR_CONSECUTIVE_FAILURES } = i64::from($t.consecutive_failures),
                { ATTR_THRESHOLD } = $t.threshold,
                { ATTR_OPEN_FOR_SECONDS } = $t.open_for.map(|d| d.as_secs_f64()),
            )
        };
    }

    /// A short span for a transition decided outside any span; disabled (so `None`) when
    /// no subscriber wants it.
    fn own_span(t: &Transition) -> Option<Span> {
        if !Span::current().is_none() {
            return None;
        }
        let span = tracing::info_span!(
            target: TARGET,
            SPAN_TRANSITION,
            { ATTR_NAME } = &*t.breaker,
            { ATTR_FROM } = t.from.as_str(),
            { ATTR_TO } = t.to.as_str(),
            { ATTR_REASON } = t.reason.as_str(),
        );
        (!span.is_disabled()).then_some(span)
    }

    /// The event and log line of a transition: `WARN` when it opens, `INFO` otherwise;
    /// inside a span of its own when no span is current.
    pub(crate) fn transition(t: &Transition) {
        let own = own_span(t);
        let _entered = own.as_ref().map(Span::enter);
        if matches!(t.to, State::Open | State::ForcedOpen) {
            transition_event!(EVENT_TRANSITION, Level::WARN, t);
        } else {
            transition_event!(EVENT_TRANSITION, Level::INFO, t);
        }
    }

    /// The event and log line of a dry-run trip (in a span of its own when no span is
    /// current).
    pub(crate) fn would_open(t: &Transition) {
        let own = own_span(t);
        let _entered = own.as_ref().map(Span::enter);
        transition_event!(EVENT_WOULD_OPEN, Level::INFO, t);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn call_span_is_disabled_without_a_subscriber() {
            let span = CallSpan::new("x", State::Closed);
            assert!(span.span.is_none());
        }

        #[test]
        fn slot_is_untouched_unless_armed() {
            note_slow(true);
            assert_eq!(SLOW_SLOT.get(), IDLE);
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod disabled {
    use std::future::Future;

    use crate::breaker::Permit;
    use crate::event::Outcome;

    /// Without the `tracing` feature no span is ever wanted.
    #[inline(always)]
    pub(crate) const fn wanted() -> bool {
        false
    }

    /// Never called: [`wanted`] is `false`.
    #[inline(always)]
    pub(crate) fn call_sync<R>(
        _name: &str,
        permit: Permit<'_>,
        f: impl FnOnce() -> (R, Outcome),
    ) -> R {
        let (result, outcome) = f();
        permit.record(outcome);
        result
    }

    /// Never called: [`wanted`] is `false`.
    pub(crate) async fn call<R, F>(_name: &str, permit: Permit<'_>, fut: F) -> R
    where
        F: Future<Output = (R, Outcome)>,
    {
        let (result, outcome) = fut.await;
        permit.record(outcome);
        result
    }
}
