//! Metrics and spans of the limits, registered once when a limit is built.

use std::sync::Arc;

use crate::limited::LimitReason;

/// The metric handles of one limit (nothing without the feature `metrics`).
#[derive(Debug)]
pub(super) struct LimitObserver {
    name: Arc<str>,
    #[cfg(feature = "metrics")]
    rejected: [metrics::Counter; 2],
    #[cfg(feature = "metrics")]
    in_use: metrics::Gauge,
}

impl LimitObserver {
    /// Registers the rejection counters (both reasons, at 0) and, for a bulkhead, its
    /// gauges; for a rate limit, its configured rate.
    pub(super) fn new(
        name: &Arc<str>,
        max_concurrent: Option<u32>,
        per_second: Option<f64>,
    ) -> Self {
        #[cfg(feature = "metrics")]
        {
            use crate::observe::names::*;
            crate::observe::describe_metrics();
            let b = || name.clone();
            let rejected = LimitReason::ALL.map(|r| {
                metrics::counter!(LIMIT_REJECTIONS_TOTAL, LABEL_BREAKER => b(), LABEL_REASON => r.as_str())
            });
            // Only a bulkhead has slots: a rate limit exports no bulkhead gauge.
            let in_use = match max_concurrent {
                Some(max) => {
                    let in_use = metrics::gauge!(BULKHEAD_IN_USE, LABEL_BREAKER => b());
                    in_use.set(0.0);
                    metrics::gauge!(BULKHEAD_MAX_CONCURRENT, LABEL_BREAKER => b())
                        .set(f64::from(max));
                    in_use
                }
                None => metrics::Gauge::noop(),
            };
            if let Some(rate) = per_second {
                metrics::gauge!(RATE_LIMIT_PER_SECOND, LABEL_BREAKER => b()).set(rate);
            }
            LimitObserver {
                name: name.clone(),
                rejected,
                in_use,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (max_concurrent, per_second);
            LimitObserver { name: name.clone() }
        }
    }

    /// A call was refused.
    pub(super) fn rejected(&self, reason: LimitReason) {
        #[cfg(feature = "metrics")]
        self.rejected[match reason {
            LimitReason::BulkheadFull => 0,
            LimitReason::RateLimited => 1,
        }]
        .increment(1);
        #[cfg(feature = "tracing")]
        {
            use crate::observe::names::*;
            let _span = tracing::info_span!(
                target: TARGET,
                SPAN_CALL,
                { ATTR_NAME } = &*self.name,
                { ATTR_OUTCOME } = reason.as_str(),
                { ATTR_ERROR_TYPE } = reason.as_str(),
                { OTEL_STATUS_CODE } = "ERROR",
            );
        }
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = reason;
    }

    /// The bulkhead now has `n` calls in flight.
    pub(super) fn in_use(&self, n: u32) {
        #[cfg(not(feature = "metrics"))]
        let _ = n;
        #[cfg(feature = "metrics")]
        self.in_use.set(f64::from(n));
    }

    /// The limit's name.
    pub(super) fn name(&self) -> &Arc<str> {
        &self.name
    }
}
