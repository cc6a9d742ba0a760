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
#[cfg(feature = "prometheus")]
mod exposition;
#[cfg(feature = "prometheus")]
mod histogram;
#[cfg(feature = "metrics")]
mod lifetime;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "metrics")]
mod mode;
pub mod names;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
#[cfg(all(feature = "metrics", any(feature = "prometheus", feature = "rt-tokio")))]
pub(crate) mod publish;
#[cfg(feature = "metrics")]
mod scrape;
mod span_policy;
#[cfg(feature = "tracing")]
pub(crate) mod spans;
#[cfg(feature = "metrics")]
mod transitions;

pub use self::duration::{
    COARSE_DURATION_BUCKETS, DurationBuckets, DurationHistogram, MAX_DURATION_BOUNDS,
};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use self::metrics::describe_metrics;
pub use self::span_policy::{DEFAULT_SAMPLE_EVERY, SpanPolicy, Successes};

use std::sync::Arc;

use crate::config::Config;
use crate::event::{Event, OutcomeTotals};
use crate::state::State;
use crate::window::WindowCounts;

#[cfg(feature = "metrics")]
pub(crate) use self::scrape::Recorders;

/// Without metrics, a registry has no recorders to scope its renders to.
#[cfg(not(feature = "metrics"))]
#[derive(Debug, Default)]
pub(crate) struct Recorders(());

/// Per-breaker observation hooks, built once when the breaker is built.
pub(crate) struct Observer {
    #[cfg(feature = "metrics")]
    metrics: self::metrics::Metrics,
    name: Arc<str>,
    spans: span_policy::Sampler,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("name", &self.name)
            .field("spans", &self.spans)
            .finish_non_exhaustive()
    }
}

/// Defines an observer method that only the metrics observe: its body with the feature
/// `metrics`, an empty method without (no parameter is left unused).
macro_rules! metrics_only {
    ($(#[$m:meta])* fn $name:ident(&$self:ident $(, $arg:ident: $ty:ty)* $(,)?) $body:block) => {
        $(#[$m])*
        #[cfg(feature = "metrics")]
        pub(crate) fn $name(&$self $(, $arg: $ty)*) $body

        $(#[$m])*
        #[cfg(not(feature = "metrics"))]
        #[inline(always)]
        pub(crate) fn $name(&$self $(, _: $ty)*) {}
    };
}

impl Observer {
    /// The observer of breaker `name`, built in `state` at `since_unix` with `config`.
    #[cfg(feature = "metrics")]
    pub(crate) fn new(
        name: &Arc<str>,
        config: &Config,
        state: State,
        since_unix: f64,
        histogram: DurationHistogram,
    ) -> Self {
        Observer {
            metrics: self::metrics::Metrics::new(name, config, state, since_unix, histogram),
            name: name.clone(),
            spans: span_policy::Sampler::default(),
        }
    }

    /// The observer of breaker `name` (without metrics, the rest is not needed).
    #[cfg(not(feature = "metrics"))]
    pub(crate) fn new(name: &Arc<str>, _: &Config, _: State, _: f64, _: DurationHistogram) -> Self {
        Observer {
            name: name.clone(),
            spans: span_policy::Sampler::default(),
        }
    }

    /// Uses `bounds` for the histograms the breaker keeps itself (feature `prometheus`),
    /// before its first call.
    pub(crate) fn set_duration_buckets(&mut self, bounds: duration::Bounds) {
        #[cfg(feature = "prometheus")]
        self.metrics.set_duration_buckets(bounds);
        #[cfg(not(feature = "prometheus"))]
        let _ = bounds;
    }

    /// Whether the breaker records call durations into a histogram (its own, or the
    /// recorder's): its calls then need fine time (see `COARSE_TIMING_FACTOR`).
    pub(crate) fn times_durations(&self) -> bool {
        #[cfg(feature = "metrics")]
        return self.metrics.times_durations();
        #[cfg(not(feature = "metrics"))]
        false
    }

    /// The span policy and its 1-in-N counter.
    pub(crate) fn span_sampler(&self) -> &span_policy::Sampler {
        &self.spans
    }

    /// The one hook: a call finished, a call was refused, the breaker changed state (the
    /// state word's epoch after the transition is `epoch`: racing transitions may be
    /// reported out of order, and the epoch keeps the state gauges on the newest) or a
    /// dry run would have opened.
    #[cfg(feature = "metrics")]
    #[inline(always)]
    pub(crate) fn observe(&self, event: &Event<'_>, epoch: u64) {
        self.metrics_hook(event, epoch);
        #[cfg(feature = "tracing")]
        spans::observe(&self.name, event);
    }

    /// Spans only: the epoch orders the state gauges, which need `metrics`.
    #[cfg(all(feature = "tracing", not(feature = "metrics")))]
    #[inline(always)]
    pub(crate) fn observe(&self, event: &Event<'_>, _epoch: u64) {
        spans::observe(&self.name, event);
    }

    /// Without metrics and spans there is nothing to observe.
    #[cfg(not(any(feature = "metrics", feature = "tracing")))]
    #[inline(always)]
    pub(crate) fn observe(&self, _event: &Event<'_>, _epoch: u64) {}

    #[cfg(feature = "metrics")]
    #[inline(always)]
    fn metrics_hook(&self, event: &Event<'_>, epoch: u64) {
        match *event {
            Event::Call {
                outcome,
                duration,
                slow,
                ..
            } => self.metrics.call(outcome, duration, slow),
            Event::Rejected { .. } => self.metrics.rejected(),
            Event::Transition(t) => {
                self.metrics
                    .transition(t, epoch, crate::time::unix_seconds(t.at))
            }
            Event::WouldOpen(t) => self.metrics.would_open(t),
        }
    }

    metrics_only! {
        /// A fallback was taken.
        fn fallback(&self, reason: crate::FallbackReason) {
            self.metrics.fallback(reason);
        }
    }

    metrics_only! {
        /// The breaker starts in a persisted `state` (epoch `epoch`), open until
        /// `open_until_unix` (NaN when not open, +Inf without a deadline): not a
        /// transition, so only the state gauges change.
        fn restored(&self, state: State, epoch: u64, since_unix: f64, open_until_unix: f64) {
            self.metrics
                .restored(state, epoch, since_unix, open_until_unix);
        }
    }

    metrics_only! {
        /// The breaker was removed from its registry (`totals` reads its lifetime
        /// totals): its series leave the rendered output.
        fn removed(&self, totals: impl FnOnce() -> OutcomeTotals) {
            self.metrics.removed(totals);
        }
    }

    /// Publishes the lifetime counters from the breaker's totals `totals`, read just
    /// before, for a caller that holds the scrape lock.
    #[cfg(all(feature = "metrics", any(feature = "prometheus", feature = "rt-tokio")))]
    pub(crate) fn publish_counters(&self, totals: &OutcomeTotals) {
        self.metrics.publish_counters(totals);
    }

    /// Adds the recorder the breaker's series live in to `recorders` (its registry's).
    pub(crate) fn scope(&self, recorders: &Recorders) {
        #[cfg(feature = "metrics")]
        recorders.add(self.metrics.recorder());
        #[cfg(not(feature = "metrics"))]
        let _ = recorders;
    }

    /// Publishes the state gauges for a render that holds the scrape lock.
    #[cfg(feature = "prometheus")]
    pub(crate) fn publish(&self) {
        self.metrics.publish();
    }

    /// The breaker's metrics, for a render.
    #[cfg(feature = "prometheus")]
    pub(crate) fn metrics(&self) -> &self::metrics::Metrics {
        &self.metrics
    }

    metrics_only! {
        /// The breaker took a new config.
        fn config(&self, config: &Config) {
            self.metrics.config(config);
        }
    }

    metrics_only! {
        /// Fresh window numbers (after a transition, and on every `poll_timeouts`).
        fn rates(&self, counts: WindowCounts, min_calls: u32) {
            self.metrics.rates(counts, min_calls);
        }
    }
}

/// Registers `breakerbox_notifications_total` of `breaker` on `channel` at 0 for every
/// result, so that the first failure is an increase Prometheus can see.
#[cfg(all(feature = "notify", feature = "metrics"))]
pub(crate) fn preregister_notifications(breaker: &str, channel: &str) {
    use names::{LABEL_BREAKER, LABEL_CHANNEL, LABEL_RESULT, NOTIFICATIONS_TOTAL};
    for result in ["sent", "failed", "dropped"] {
        ::metrics::counter!(
            NOTIFICATIONS_TOTAL,
            LABEL_BREAKER => breaker.to_owned(),
            LABEL_CHANNEL => channel.to_owned(),
            LABEL_RESULT => result,
        )
        .increment(0);
    }
}

/// Without `metrics` there is no counter to register.
#[cfg(all(feature = "notify", not(feature = "metrics")))]
pub(crate) fn preregister_notifications(_breaker: &str, _channel: &str) {}

/// Counts one delivery `result` (`sent`, `failed`, `dropped`) of `breaker`'s notification
/// on `channel` in `breakerbox_notifications_total`.
#[cfg(all(feature = "notify", feature = "metrics"))]
pub(crate) fn count_notification(breaker: &str, channel: &str, result: &'static str) {
    use names::{LABEL_BREAKER, LABEL_CHANNEL, LABEL_RESULT, NOTIFICATIONS_TOTAL};
    ::metrics::counter!(
        NOTIFICATIONS_TOTAL,
        LABEL_BREAKER => breaker.to_owned(),
        LABEL_CHANNEL => channel.to_owned(),
        LABEL_RESULT => result,
    )
    .increment(1);
}

/// Without `metrics` there is no counter to count in.
#[cfg(all(feature = "notify", not(feature = "metrics")))]
pub(crate) fn count_notification(_breaker: &str, _channel: &str, _result: &'static str) {}

/// Counts one delivery on `channel` refused by TLS for `cause` in
/// `breakerbox_notification_tls_errors_total`.
#[cfg(all(feature = "notify", feature = "metrics"))]
pub(crate) fn count_notification_tls_error(channel: &str, cause: &'static str) {
    use names::{LABEL_CAUSE, LABEL_CHANNEL, NOTIFICATION_TLS_ERRORS_TOTAL};
    ::metrics::counter!(
        NOTIFICATION_TLS_ERRORS_TOTAL,
        LABEL_CHANNEL => channel.to_owned(),
        LABEL_CAUSE => cause,
    )
    .increment(1);
}

/// Without `metrics` there is no counter to count in.
#[cfg(all(feature = "notify", not(feature = "metrics")))]
pub(crate) fn count_notification_tls_error(_channel: &str, _cause: &'static str) {}
