//! The serde views of a transition, a window and lifetime totals: what every JSON document
//! breakerbox writes says about them (the health JSON, the webhook payload, Alertmanager
//! alerts), converted from the core's types in one place, with one unit convention and
//! one time formatter (see `crate::time`): times are RFC 3339 UTC with milliseconds plus
//! Unix milliseconds, durations whole milliseconds.

use serde::{Deserialize, Serialize};

#[cfg(feature = "axum")]
use crate::breaker::CallTotals;
use crate::event::{FleetNumbers, Transition};
use crate::state::{Reason, State};
use crate::time::{millis, rfc3339, unix_ms};
#[cfg(feature = "axum")]
use crate::window::WindowCounts;

/// One transition as JSON documents write it: the states, why, when, and how long the
/// breaker stays open. The window's numbers at that moment are a [`WindowNumbers`].
///
/// The webhook payload carries these fields at its top level; the health JSON in each
/// breaker's `last_transition`; Alertmanager alerts as annotations (as strings).
///
/// ```json
/// {"from": "closed", "to": "open", "reason": "failure_rate",
///  "at": "2025-03-01T12:00:00.000Z", "at_unix_ms": 1740830400000, "open_for_ms": 30000}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransitionView {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Why, e.g. `failure_rate`.
    pub reason: Reason,
    /// Time of the transition, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// Time of the transition, Unix milliseconds.
    pub at_unix_ms: u64,
    /// How long the breaker stays open before probing, in milliseconds, if it opened or
    /// was forced open with a TTL.
    pub open_for_ms: Option<u64>,
    /// The fleet's numbers behind a fleet verdict (reason `fleet`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetView>,
}

/// The fleet's numbers behind a fleet verdict, as JSON documents write them:
///
/// ```json
/// {"calls": 12, "failures": 6, "slow_calls": 0, "failure_rate": 0.5, "slow_call_rate": 0.0,
///  "replicas_failing": 2, "replicas_slow": 0, "trigger": "failure_rate", "threshold": 0.5,
///  "quorum": 2}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FleetView {
    /// Calls in the fleet window, summed over the live replicas.
    pub calls: u64,
    /// Failed calls among them.
    pub failures: u64,
    /// Slow calls among them.
    pub slow_calls: u64,
    /// The fleet's failure rate (0 to 1).
    pub failure_rate: f64,
    /// The fleet's slow-call rate (0 to 1).
    pub slow_call_rate: f64,
    /// Live replicas that saw failures.
    pub replicas_failing: u32,
    /// Live replicas that saw slow calls.
    pub replicas_slow: u32,
    /// The rate that tripped: `failure_rate` or `slow_call_rate`.
    pub trigger: Reason,
    /// That rate's threshold.
    pub threshold: f64,
    /// Replicas that had to see failures (slow calls) for a verdict.
    pub quorum: u32,
}

impl From<&FleetNumbers> for FleetView {
    fn from(f: &FleetNumbers) -> FleetView {
        FleetView {
            calls: f.calls,
            failures: f.failures,
            slow_calls: f.slow_calls,
            failure_rate: f.failure_rate,
            slow_call_rate: f.slow_call_rate,
            replicas_failing: f.replicas_failing,
            replicas_slow: f.replicas_slow,
            trigger: f.trigger,
            threshold: f.threshold,
            quorum: f.quorum,
        }
    }
}

impl From<&Transition> for TransitionView {
    fn from(t: &Transition) -> TransitionView {
        TransitionView {
            from: t.from,
            to: t.to,
            reason: t.reason,
            at: rfc3339(t.at),
            at_unix_ms: unix_ms(t.at),
            open_for_ms: t.open_for.map(millis),
            fleet: t.fleet.as_ref().map(FleetView::from),
        }
    }
}

/// The window's numbers at a transition: the answer to "why did it open?".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowNumbers {
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Failure rate (0 to 1), `null` below `min_calls`.
    pub failure_rate: Option<f64>,
    /// Slow-call rate (0 to 1), `null` below `min_calls`.
    pub slow_call_rate: Option<f64>,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// The threshold of the trigger that fired, if any (a rate, or the failure count).
    pub threshold: Option<f64>,
}

impl From<&Transition> for WindowNumbers {
    fn from(t: &Transition) -> WindowNumbers {
        WindowNumbers {
            calls: t.counts.calls,
            failures: t.counts.failures,
            slow_calls: t.counts.slow_calls,
            failure_rate: t.failure_rate,
            slow_call_rate: t.slow_call_rate,
            consecutive_failures: t.consecutive_failures,
            threshold: t.threshold,
        }
    }
}

/// The window now: its counts and rates (`null` below `min_calls`).
#[cfg(feature = "axum")]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WindowView {
    calls: u64,
    failures: u64,
    slow_calls: u64,
    failure_rate: Option<f64>,
    slow_call_rate: Option<f64>,
}

#[cfg(feature = "axum")]
impl WindowView {
    pub(crate) fn new(
        counts: WindowCounts,
        failure_rate: Option<f64>,
        slow_call_rate: Option<f64>,
    ) -> WindowView {
        WindowView {
            calls: counts.calls,
            failures: counts.failures,
            slow_calls: counts.slow_calls,
            failure_rate,
            slow_call_rate,
        }
    }
}

/// Lifetime call counts of a breaker.
#[cfg(feature = "axum")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TotalsView {
    successes: u64,
    failures: u64,
    timeouts: u64,
    ignored: u64,
    rejected: u64,
    slow: u64,
}

#[cfg(feature = "axum")]
impl From<CallTotals> for TotalsView {
    fn from(t: CallTotals) -> TotalsView {
        TotalsView {
            successes: t.successes,
            failures: t.failures,
            timeouts: t.timeouts,
            ignored: t.ignored,
            rejected: t.rejected,
            slow: t.slow,
        }
    }
}
