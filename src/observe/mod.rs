//! Observation at the edges: metric and span names, and the per-breaker observer that
//! the engine calls on every call, rejection and transition.
//!
//! - **Metrics** (feature `metrics`, default): through the [`metrics`](https://docs.rs/metrics)
//!   facade. Handles are registered once per breaker, when it is built, with the recorder
//!   in force at that moment: **install your recorder before building breakers** (in
//!   tests, build them inside `metrics::with_local_recorder`). breakerbox never installs a
//!   recorder itself; the `prometheus` helpers (feature `prometheus`) do on request.
//! - **Spans** (feature `tracing`, default): through `tracing`, at target `breakerbox`,
//!   exportable to OpenTelemetry with `tracing-opentelemetry` (see the `otel` helper,
//!   feature `otel`).
//! - The full contract, every name, label, attribute and example query, is
//!   `docs/METRICS.md`; every name is a constant in [`names`].
//!
//! Rates and the Open -> HalfOpen timeout are refreshed on transitions and by
//! [`CircuitBreaker::poll_timeouts`](crate::CircuitBreaker::poll_timeouts); on an idle
//! service run the eager timer (feature `rt-tokio`, `Registry::spawn_timer`) so gauges
//! stay true.

mod duration;
#[cfg(feature = "metrics")]
mod lifetime;
#[cfg(feature = "metrics")]
mod metrics;
pub mod names;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
#[cfg(feature = "metrics")]
mod scrape;
mod span_policy;
pub(crate) mod spans;
#[cfg(feature = "metrics")]
mod transitions;

pub use self::duration::DurationHistogram;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use self::metrics::describe_metrics;
pub use self::span_policy::{DEFAULT_SAMPLE_EVERY, SpanPolicy, Successes};

use std::sync::Arc;
use std::time::Duration;

use crate::breaker::OutcomeTotals;
use crate::config::Config;
use crate::event::{Outcome, Transition};
use crate::state::State;
use crate::window::WindowCounts;

/// Publishes the lifetime counters of `breakers` from their striped totals, for a render
/// that holds the scrape lock (see `lifetime`).
#[cfg(all(feature = "metrics", any(feature = "prometheus", feature = "rt-tokio")))]
pub(crate) fn publish_counters_locked(breakers: &[crate::CircuitBreaker]) {
    for b in breakers {
        let totals = b.inner.counters.by_outcome();
        b.inner.observer.publish_counters(&totals);
    }
}

/// [`publish_counters_locked`] under the scrape lock: the eager timer's tick, for
/// exporters other than [`prometheus::render`].
#[cfg(all(feature = "metrics", feature = "rt-tokio"))]
pub(crate) fn publish_counters(breakers: &[crate::CircuitBreaker]) {
    let _publishing = scrape::publishing();
    publish_counters_locked(breakers);
}

/// Per-breaker observation hooks, built once when the breaker is built.
#[derive(Debug)]
pub(crate) struct Observer {
    #[cfg(feature = "metrics")]
    metrics: self::metrics::Metrics,
    #[cfg(feature = "tracing")]
    name: Arc<str>,
    spans: span_policy::Sampler,
}

impl Observer {
    #[allow(unused_variables)]
    pub(crate) fn new(
        name: &Arc<str>,
        config: &Config,
        state: State,
        since_unix: f64,
        histogram: DurationHistogram,
    ) -> Self {
        Observer {
            #[cfg(feature = "metrics")]
            metrics: self::metrics::Metrics::new(name, config, state, since_unix, histogram),
            #[cfg(feature = "tracing")]
            name: name.clone(),
            spans: span_policy::Sampler::default(),
        }
    }

    /// The span policy and its 1-in-N counter.
    pub(crate) fn span_sampler(&self) -> &span_policy::Sampler {
        &self.spans
    }

    /// A call admitted in `state` finished.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn call(&self, state: State, outcome: Outcome, duration: Duration, slow: bool) {
        #[cfg(feature = "metrics")]
        self.metrics.call(outcome, duration, slow);
        #[cfg(feature = "tracing")]
        spans::note_call(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX), slow);
    }

    /// A fallback was taken.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn fallback(&self, reason: crate::FallbackReason) {
        #[cfg(feature = "metrics")]
        self.metrics.fallback(reason);
    }

    /// A call was refused in `state`.
    #[inline]
    #[allow(unused_variables)]
    pub(crate) fn rejected(&self, state: State) {
        #[cfg(feature = "metrics")]
        self.metrics.rejected();
        #[cfg(feature = "tracing")]
        spans::rejected(&self.name, state);
    }

    /// The breaker moved into the state epoch `epoch` (the state word's epoch after the
    /// transition). Racing transitions may be reported out of order; the epoch keeps the
    /// state gauges on the newest.
    #[allow(unused_variables)]
    pub(crate) fn transition(&self, t: &Transition, epoch: u64, since_unix: f64) {
        #[cfg(feature = "metrics")]
        self.metrics.transition(t, epoch, since_unix);
        #[cfg(feature = "tracing")]
        spans::transition(t);
    }

    /// The breaker starts in a persisted `state` (epoch `epoch`), open until
    /// `open_until_unix` (NaN when not open, +Inf without a deadline): not a transition, so
    /// only the state gauges change.
    #[allow(unused_variables)]
    pub(crate) fn restored(&self, state: State, epoch: u64, since_unix: f64, open_until_unix: f64) {
        #[cfg(feature = "metrics")]
        self.metrics
            .restored(state, epoch, since_unix, open_until_unix);
    }

    /// A `metrics_only` breaker would have opened.
    #[allow(unused_variables)]
    pub(crate) fn would_open(&self, t: &Transition) {
        #[cfg(feature = "metrics")]
        self.metrics.would_open(t);
        #[cfg(feature = "tracing")]
        spans::would_open(t);
    }

    /// The breaker was removed from its registry (`totals` reads its lifetime totals):
    /// its series leave the rendered output.
    #[allow(unused_variables)]
    pub(crate) fn removed(&self, totals: impl FnOnce() -> OutcomeTotals) {
        #[cfg(feature = "metrics")]
        self.metrics.removed(totals);
    }

    /// Publishes the lifetime counters from the breaker's totals `totals`, read just
    /// before, for a caller that holds the scrape lock.
    #[cfg(all(feature = "metrics", any(feature = "prometheus", feature = "rt-tokio")))]
    pub(crate) fn publish_counters(&self, totals: &OutcomeTotals) {
        self.metrics.publish_counters(totals);
    }

    /// Publishes the state gauges for a render that holds the scrape lock.
    #[cfg(feature = "prometheus")]
    pub(crate) fn publish(&self) {
        self.metrics.publish();
    }

    /// The breaker took a new config.
    #[allow(unused_variables)]
    pub(crate) fn config(&self, config: &Config) {
        #[cfg(feature = "metrics")]
        self.metrics.config(config);
    }

    /// Fresh window numbers (after a transition, and on every `poll_timeouts`).
    #[allow(unused_variables)]
    pub(crate) fn rates(&self, counts: WindowCounts, min_calls: u32) {
        #[cfg(feature = "metrics")]
        self.metrics.rates(counts, min_calls);
    }
}
