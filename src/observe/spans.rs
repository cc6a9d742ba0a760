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
//!
//! A thin wrapper: the breaker's run path opens the call's span, runs the call in it and
//! records the outcome inside it; the engine returns what it measured (the duration,
//! whether the call was slow) as a value, which the span then shows.

use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Span, field::Empty};

use super::names::*;
use super::span_policy::{Choice, Sampler};
use crate::clock::Clock;
use crate::event::{Completion, Event, Outcome, Transition};
use crate::state::State;

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

/// The spans and events of the hook's events: a short error span for a rejection, an
/// event (and log line) for a transition or a dry-run trip. A finished call's span is the
/// run path's ([`CallSpan`]).
#[inline(always)]
pub(crate) fn observe(name: &str, event: &Event<'_>) {
    match *event {
        Event::Rejected { state, .. } if wanted() => rejected(name, state),
        Event::Rejected { .. } => {}
        Event::Transition(t) => transition(t),
        Event::WouldOpen(t) => would_open(t),
        Event::Call { .. } => {}
    }
}

/// The span of one admitted call, decided when the call starts.
#[derive(Debug)]
pub(crate) struct CallSpan {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Finished.
    Done,
    /// Not chosen: a short span when the call ends, if its outcome matters.
    Late,
    /// Chosen, but no subscriber records it.
    Disabled,
    /// Chosen and recording: the call runs inside it.
    Open(Span),
}

impl CallSpan {
    /// The span of a call admitted in `state` through breaker `name`, once [`wanted`]
    /// said a subscriber may want it: always one for a half-open trial, else as the
    /// breaker's span policy (`sampler`) says.
    #[inline]
    pub(crate) fn start(sampler: &Sampler, name: &str, state: State, trial: bool) -> CallSpan {
        let kind = if trial || chosen(sampler) {
            open(name, state)
        } else {
            Kind::Late
        };
        CallSpan { kind }
    }

    /// Runs a blocking call inside the span.
    #[inline]
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.kind {
            Kind::Open(span) => span.in_scope(f),
            _ => f(),
        }
    }

    /// Records the call's `outcome` with `record` (which returns what the engine did)
    /// inside the span, so a transition it causes is an event of that span, and shows
    /// the outcome and whether it was slow. A call without a span from its start gets a
    /// short one now if it failed, timed out or was slow; its start time is the `clock`
    /// reading `start`.
    #[inline]
    pub(crate) fn finish(
        mut self,
        late: Late<'_>,
        outcome: Outcome,
        record: impl FnOnce() -> Completion,
    ) {
        match std::mem::replace(&mut self.kind, Kind::Done) {
            Kind::Done | Kind::Disabled => {
                record();
            }
            Kind::Open(span) => finish_open(&span, outcome, record),
            Kind::Late => finish_late(late, outcome, record),
        }
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        // A call whose future was dropped before `finish`: its permit counts it as ignored.
        if let Kind::Open(span) = &self.kind {
            span.record(ATTR_OUTCOME, Outcome::Ignore.as_str());
        }
    }
}

/// What a span made after the fact needs to know about its call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Late<'a> {
    /// The breaker's name.
    pub(crate) name: &'a str,
    /// The breaker's clock, to date the span's start.
    pub(crate) clock: &'a dyn Clock,
    /// The clock reading when the call was admitted.
    pub(crate) start: u64,
    /// The state that admitted the call.
    pub(crate) state: State,
}

/// Whether an ordinary call gets a span from its start, as the span policy says.
#[inline]
fn chosen(sampler: &Sampler) -> bool {
    match sampler.choose() {
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

fn open(name: &str, state: State) -> Kind {
    let span = tracing::info_span!(
        target: TARGET,
        SPAN_CALL,
        { ATTR_NAME } = name,
        { ATTR_STATE } = state.as_str(),
        { ATTR_OUTCOME } = Empty,
        { ATTR_SLOW } = Empty,
        { OTEL_STATUS_CODE } = Empty,
    );
    if span.is_disabled() {
        Kind::Disabled
    } else {
        Kind::Open(span)
    }
}

fn finish_open(span: &Span, outcome: Outcome, record: impl FnOnce() -> Completion) {
    let _entered = span.enter();
    let done = record();
    span.record(ATTR_OUTCOME, outcome.as_str());
    span.record(ATTR_SLOW, done.slow);
    if outcome.is_failure() {
        span.record(OTEL_STATUS_CODE, "ERROR");
    }
}

/// Records the outcome of a call that ran without a span. A failure or a timeout is
/// recorded inside a short span made now (so a transition it causes is an event of it);
/// a success or an ignored call gets one only if the engine found it slow.
#[inline]
fn finish_late(late: Late<'_>, outcome: Outcome, record: impl FnOnce() -> Completion) {
    if outcome.is_failure() {
        let span = late_span(late, outcome);
        let _entered = span.enter();
        let done = record();
        late_attributes(late, &span, done);
        return;
    }
    let done = record();
    if done.slow {
        let span = late_span(late, outcome);
        late_attributes(late, &span, done);
    }
}

/// The short span of a call that matters but was not chosen when it started.
#[cold]
fn late_span(late: Late<'_>, outcome: Outcome) -> Span {
    let status = outcome.is_failure().then_some("ERROR");
    tracing::info_span!(
        target: TARGET,
        SPAN_CALL,
        { ATTR_NAME } = late.name,
        { ATTR_STATE } = late.state.as_str(),
        { ATTR_OUTCOME } = outcome.as_str(),
        { ATTR_SLOW } = Empty,
        { ATTR_AFTER_THE_FACT } = true,
        { ATTR_START_UNIX_NANOS } = Empty,
        { ATTR_DURATION_MS } = Empty,
        { OTEL_STATUS_CODE } = status,
    )
}

#[cold]
fn late_attributes(late: Late<'_>, span: &Span, done: Completion) {
    let unix = crate::time::unix_nanos_i64(late.clock.system_time(late.start));
    span.record(ATTR_START_UNIX_NANOS, unix);
    span.record(ATTR_SLOW, done.slow);
    span.record(ATTR_DURATION_MS, done.duration.as_nanos() as f64 / 1e6);
}

/// A short error span for a rejected call.
#[inline]
fn rejected(name: &str, state: State) {
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
            { ATTR_FLEET_CALLS } = $t.fleet.map(|f| int(f.calls)),
            { ATTR_FLEET_FAILURES } = $t.fleet.map(|f| int(f.failures)),
            { ATTR_FLEET_SLOW_CALLS } = $t.fleet.map(|f| int(f.slow_calls)),
            { ATTR_FLEET_FAILURE_RATE } = $t.fleet.map(|f| f.failure_rate),
            { ATTR_FLEET_SLOW_CALL_RATE } = $t.fleet.map(|f| f.slow_call_rate),
            { ATTR_FLEET_REPLICAS } = $t.fleet.map(|f| i64::from(f.replicas())),
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
fn transition(t: &Transition) {
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
fn would_open(t: &Transition) {
    let own = own_span(t);
    let _entered = own.as_ref().map(Span::enter);
    transition_event!(EVENT_WOULD_OPEN, Level::INFO, t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_span_is_disabled_without_a_subscriber() {
        assert!(!wanted());
        let span = CallSpan::start(&Sampler::default(), "x", State::Closed, true);
        assert!(matches!(span.kind, Kind::Disabled));
    }
}
