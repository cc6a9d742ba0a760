//! Which call durations a breaker records into `breakerbox_call_duration_seconds`.

use crate::event::Outcome;

/// Which outcomes of a breaker get a `breakerbox_call_duration_seconds` histogram.
///
/// Each histogram is 20 series in the Prometheus exposition (18 buckets with the crate's
/// bounds, `_sum` and `_count`), so with every outcome it is 80 of a breaker's 126 lines.
/// Bucket bounds are `observe::prometheus::DURATION_BUCKETS` in what
/// `observe::prometheus::render` writes (from the breaker's own striped counts), and the
/// exporter's, set per metric name by the application (see `observe::prometheus::builder`),
/// in what a recorder renders itself; what a breaker chooses is which histograms it has.
/// Calls are counted in `breakerbox_calls_total` whatever this says.
///
/// ```
/// use breakerbox::{CircuitBreaker, DurationHistogram};
///
/// // One of thousands of per-tenant breakers: counters and state, no latency histogram.
/// let breaker = CircuitBreaker::builder("tenant-4711")
///     .duration_histogram(DurationHistogram::Off)
///     .build()?;
/// # let _ = breaker;
/// # Ok::<(), breakerbox::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DurationHistogram {
    /// One histogram per outcome that ran: `success`, `failure`, `ignored`, `timeout`
    /// (the default).
    #[default]
    ByOutcome,
    /// `success` and `failure` only: the latencies dashboards draw; a timeout's duration
    /// is the timeout, and ignored calls are not the dependency's health.
    SuccessAndFailure,
    /// No histogram.
    Off,
}

impl DurationHistogram {
    /// Whether calls with `outcome` are recorded.
    pub fn records(self, outcome: Outcome) -> bool {
        match self {
            DurationHistogram::ByOutcome => true,
            DurationHistogram::SuccessAndFailure => {
                matches!(outcome, Outcome::Success | Outcome::Failure)
            }
            DurationHistogram::Off => false,
        }
    }
}
