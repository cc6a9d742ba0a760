//! A point-in-time view of one breaker.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::event::Transition;
use crate::state::{Reason, State};
use crate::window::WindowCounts;

/// Lifetime call counts of a breaker (since it was built). Each call is counted exactly
/// once: `successes + failures + ignored` calls ran, `rejected` did not.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CallTotals {
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed, timed-out calls included (outcomes `failure` and `timeout`).
    pub failures: u64,
    /// Of `failures`, the calls cancelled or recorded at their `call_timeout` (outcome
    /// `timeout`): `failures - timeouts` is the outcome `failure` of the metrics.
    pub timeouts: u64,
    /// Calls classified as ignored, or whose permit was dropped unrecorded.
    pub ignored: u64,
    /// Calls refused.
    pub rejected: u64,
    /// Calls that ran longer than `slow_call_duration` (any outcome).
    pub slow: u64,
}

impl CallTotals {
    /// Every call counted: successes, failures, ignored and rejected.
    pub fn total(&self) -> u64 {
        self.successes + self.failures + self.ignored + self.rejected
    }
}

/// A point-in-time view of a breaker, for health endpoints and dashboards.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Snapshot {
    /// The breaker's name.
    pub name: Arc<str>,
    /// The current state.
    pub state: State,
    /// When the current state began.
    pub since: SystemTime,
    /// Counts in the sliding window.
    pub window: WindowCounts,
    /// Failure rate over the window, `None` below `min_calls`.
    pub failure_rate: Option<f64>,
    /// Slow-call rate over the window, `None` below `min_calls`.
    pub slow_call_rate: Option<f64>,
    /// Consecutive failures counted in Closed.
    pub consecutive_failures: u32,
    /// Half-open trials running.
    pub half_open_in_flight: u32,
    /// Half-open trials that succeeded in this half-open phase.
    pub half_open_successes: u32,
    /// Remaining open time (Open, or ForcedOpen with a TTL).
    pub retry_after: Option<Duration>,
    /// Lifetime call counts.
    pub totals: CallTotals,
    /// The last transition, with its reason and numbers.
    pub last_transition: Option<Arc<Transition>>,
    /// Transitions since the breaker was built, one entry per `from`, `to` and `reason`
    /// that happened, in the order each first happened: the breaker's own count of what
    /// `breakerbox_transitions_total` counts (dry-run trips are not transitions).
    pub transitions: Vec<TransitionCount>,
    /// The config in force.
    pub config: Config,
}

/// How many times a breaker made one kind of transition (see [`Snapshot::transitions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TransitionCount {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// How many times, since the breaker was built.
    pub count: u64,
}

/// The breaker's transition counts. Written only by the winner of a transition, on the
/// cold path, so a lock is enough; a panic elsewhere cannot poison the counts for good.
#[derive(Debug, Default)]
pub(crate) struct TransitionCounts(Mutex<Vec<TransitionCount>>);

impl TransitionCounts {
    /// Counts one transition.
    pub(crate) fn record(&self, from: State, to: State, reason: Reason) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match counts
            .iter_mut()
            .find(|c| (c.from, c.to, c.reason) == (from, to, reason))
        {
            Some(c) => c.count = c.count.saturating_add(1),
            None => counts.push(TransitionCount {
                from,
                to,
                reason,
                count: 1,
            }),
        }
    }

    /// Every count so far.
    pub(crate) fn list(&self) -> Vec<TransitionCount> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
