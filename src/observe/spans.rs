//! Spans and events through `tracing`, shaped for `tracing-opentelemetry`.
//!
//! - A `breakerbox.call` span for a call made with `call`, `call_with`, `call_sync` or
//!   `call_sync_with`: attributes `breakerbox.name`, `breakerbox.state` (the state that
//!   admitted it), `breakerbox.outcome` and `breakerbox.slow`; status error on a failure
//!   or a timeout.
//!   Which calls get one is the breaker's [`SpanPolicy`](super::SpanPolicy), decided when
//!   the call is admitted, before any span exists: a half-open trial and a call the policy
//!   chooses get a span around the call; any other call runs without one and, if it fails,
//!   times out or is slow, gets a short span when it ends (same name and attributes, plus
//!   `breakerbox.after_the_fact`, `breakerbox.start_unix_nanos` and
//!   `breakerbox.duration_ms`: tracing spans cannot be backdated).
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

    use crate::breaker::{Inner, Permit};
    use crate::event::{Outcome, Transition};
    use crate::observe::names::*;
    use crate::observe::span_policy::Choice;
    use crate::state::State;

    /// What the engine measured of a completion, handed to the span recording it.
    #[derive(Debug, Clone, Copy)]
    struct Measured {
        nanos: u64,
        slow: bool,
    }

    /// The slot's states: not armed, armed and waiting, or the engine's measurement.
    #[derive(Debug, Clone, Copy)]
    enum Slot {
        Idle,
        Armed,
        Done(Measured),
    }

    thread_local! {
        /// Carries "how long, and was it slow?" from the engine's completion hook back to
        /// the call span that is recording its permit. Armed only while a call records, so
        /// a permit of another breaker recorded inside the span cannot write into it.
        static SLOT: Cell<Slot> = const { Cell::new(Slot::Idle) };
    }

    /// Runs `record` with the slot armed; returns what the engine measured, if anything.
    #[inline]
    fn armed(record: impl FnOnce()) -> Option<Measured> {
        let previous = SLOT.replace(Slot::Armed);
        record();
        match SLOT.replace(previous) {
            Slot::Done(m) => Some(m),
            Slot::Idle | Slot::Armed => None,
        }
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

    /// A blocking call: inside its span if the policy chooses it, else bare (with a span
    /// after the fact if its outcome matters); `f` returns the result and the outcome.
    #[inline(never)]
    pub(crate) fn call_sync<R>(
        inner: &Inner,
        permit: Permit<'_>,
        f: impl FnOnce() -> (R, Outcome),
    ) -> R {
        if !chosen(inner, &permit) {
            let (result, outcome) = f();
            after_the_fact(inner, permit, outcome);
            return result;
        }
        let span = CallSpan::new(&inner.name, permit.state());
        let (result, outcome) = span.in_scope(f);
        span.finish(permit, outcome);
        result
    }

    /// A future, as [`call_sync`]; `fut` yields the result and the outcome to record.
    pub(crate) async fn call<R, F>(inner: &Inner, permit: Permit<'_>, fut: F) -> R
    where
        F: Future<Output = (R, Outcome)>,
    {
        if !chosen(inner, &permit) {
            let (result, outcome) = fut.await;
            after_the_fact(inner, permit, outcome);
            return result;
        }
        let span = CallSpan::new(&inner.name, permit.state());
        let (result, outcome) = span.run(fut).await;
        span.finish(permit, outcome);
        result
    }

    /// Whether the call gets a span from its start: always for a half-open trial, else as
    /// the breaker's span policy says.
    #[inline]
    fn chosen(inner: &Inner, permit: &Permit<'_>) -> bool {
        if permit.is_trial() {
            return true;
        }
        match inner.observer.span_sampler().choose() {
            Choice::Span => true,
            Choice::Skip => false,
            Choice::IfParentRecords => parent_records(),
        }
    }

    /// Whether the caller's current span records: with the `otel` feature and a span that
    /// OpenTelemetry knows, whether it was sampled; else whether it is enabled at all.
    fn parent_records() -> bool {
        let current = Span::current();
        if current.is_none() {
            return false;
        }
        #[cfg(feature = "otel")]
        {
            use opentelemetry::trace::TraceContextExt;
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let cx = current.context();
            let sc = cx.span().span_context().clone();
            if sc.is_valid() {
                return sc.is_sampled();
            }
        }
        true
    }

    /// Records the outcome of a call that ran without a span. A failure or a timeout is
    /// recorded inside a short span made now (so a transition it causes is an event of
    /// it); a success or an ignored call gets one only if the engine found it slow.
    #[inline]
    fn after_the_fact(inner: &Inner, permit: Permit<'_>, outcome: Outcome) {
        let start = permit.started();
        let state = permit.state();
        if outcome.is_failure() {
            let span = late_span(&inner.name, state, outcome);
            let _entered = span.enter();
            let measured = armed(|| permit.record(outcome));
            late_attributes(inner, &span, start, measured);
            return;
        }
        let measured = armed(|| permit.record(outcome));
        if let Some(m) = measured
            && m.slow
        {
            let span = late_span(&inner.name, state, outcome);
            late_attributes(inner, &span, start, Some(m));
        }
    }

    /// The short span of a call that matters but was not chosen when it started.
    #[cold]
    fn late_span(name: &str, state: State, outcome: Outcome) -> Span {
        let status = outcome.is_failure().then_some("ERROR");
        tracing::info_span!(
            target: TARGET,
            SPAN_CALL,
            { ATTR_NAME } = name,
            { ATTR_STATE } = state.as_str(),
            { ATTR_OUTCOME } = outcome.as_str(),
            { ATTR_SLOW } = Empty,
            { ATTR_AFTER_THE_FACT } = true,
            { ATTR_START_UNIX_NANOS } = Empty,
            { ATTR_DURATION_MS } = Empty,
            { OTEL_STATUS_CODE } = status,
        )
    }

    #[cold]
    fn late_attributes(inner: &Inner, span: &Span, start: u64, measured: Option<Measured>) {
        let unix = crate::time::unix_nanos_i64(inner.clock.system_time(start));
        span.record(ATTR_START_UNIX_NANOS, unix);
        if let Some(m) = measured {
            span.record(ATTR_SLOW, m.slow);
            span.record(ATTR_DURATION_MS, m.nanos as f64 / 1e6);
        }
    }

    /// Hands the engine's measurement to the call recording this completion, if any.
    #[inline]
    pub(crate) fn note_call(nanos: u64, slow: bool) {
        if info_enabled() {
            SLOT.with(|s| {
                if matches!(s.get(), Slot::Armed) {
                    s.set(Slot::Done(Measured { nanos, slow }));
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
        let measured = armed(|| permit.record(outcome));
        span.record(ATTR_OUTCOME, outcome.as_str());
        if let Some(m) = measured {
            span.record(ATTR_SLOW, m.slow);
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
        if t.to.rejects_calls() {
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
            note_call(5, true);
            assert!(matches!(SLOT.get(), Slot::Idle));
        }
    }
}

#[cfg(not(feature = "tracing"))]
mod disabled {
    use std::future::Future;

    use crate::breaker::{Inner, Permit};
    use crate::event::Outcome;

    /// Without the `tracing` feature no span is ever wanted.
    #[inline(always)]
    pub(crate) const fn wanted() -> bool {
        false
    }

    /// Never called: [`wanted`] is `false`.
    #[inline(always)]
    pub(crate) fn call_sync<R>(
        _inner: &Inner,
        permit: Permit<'_>,
        f: impl FnOnce() -> (R, Outcome),
    ) -> R {
        let (result, outcome) = f();
        permit.record(outcome);
        result
    }

    /// Never called: [`wanted`] is `false`.
    pub(crate) async fn call<R, F>(_inner: &Inner, permit: Permit<'_>, fut: F) -> R
    where
        F: Future<Output = (R, Outcome)>,
    {
        let (result, outcome) = fut.await;
        permit.record(outcome);
        result
    }
}
