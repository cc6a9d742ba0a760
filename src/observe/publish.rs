//! Publishing the lifetime call counters from the breakers' own totals (a render, the
//! eager timer's tick). Reads the breakers through their public handles, so it stands
//! above the breaker, apart from the observer the breaker holds.

use crate::breaker::CircuitBreaker;

/// Publishes the lifetime counters of `breakers` from their striped totals, for a render
/// that holds the scrape lock (see `lifetime`).
pub(crate) fn publish_counters_locked(breakers: &[CircuitBreaker]) {
    for b in breakers {
        b.observer().publish_counters(&b.outcome_totals());
    }
}

/// [`publish_counters_locked`] under the scrape lock: the eager timer's tick, for
/// exporters other than `prometheus::render`.
#[cfg(feature = "rt-tokio")]
pub(crate) fn publish_counters(breakers: &[CircuitBreaker]) {
    let _publishing = super::scrape::publishing();
    publish_counters_locked(breakers);
}
