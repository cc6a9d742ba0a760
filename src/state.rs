//! The breaker's states and the reasons for transitions. The packed state word that holds
//! them is the engine's (`breaker/word.rs`).

use std::fmt;

/// A breaker state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum State {
    /// Calls pass; outcomes are counted and may trip the breaker.
    Closed,
    /// Calls are rejected until the reset timeout elapses.
    Open,
    /// A limited number of trial calls probe the dependency.
    HalfOpen,
    /// Operator state: every call is permitted and measured; the breaker never trips.
    Disabled,
    /// Operator state: every call is rejected, optionally until a TTL expires.
    ForcedOpen,
    /// Operator state (dry run): triggers are evaluated and reported as "would have
    /// opened", but no call is ever rejected.
    MetricsOnly,
}

impl State {
    /// Whether this state refuses every call: Open (until its reset timeout) and
    /// ForcedOpen. HalfOpen refuses only calls beyond its trial slots.
    #[inline]
    pub fn rejects_calls(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }

    /// Whether this state admits every call and counts its outcome in the window: Closed,
    /// Disabled (counts, never trips) and MetricsOnly (counts, reports would-open trips).
    #[inline]
    pub fn counts_calls(self) -> bool {
        matches!(self, State::Closed | State::Disabled | State::MetricsOnly)
    }

    /// Every state, in label order.
    pub const ALL: [State; 6] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::Disabled,
        State::ForcedOpen,
        State::MetricsOnly,
    ];

    /// The state's label value: `closed`, `open`, `half_open`, `disabled`, `forced_open` or
    /// `metrics_only`.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::Disabled => "disabled",
            State::ForcedOpen => "forced_open",
            State::MetricsOnly => "metrics_only",
        }
    }

    pub(crate) const fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::Disabled => 3,
            State::ForcedOpen => 4,
            State::MetricsOnly => 5,
        }
    }

    pub(crate) const fn from_code(code: u64) -> State {
        match code {
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::Disabled,
            4 => State::ForcedOpen,
            5 => State::MetricsOnly,
            _ => State::Closed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition happened. When two triggers fire on the same call, the reason is the
/// first in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Reason {
    /// `failure_threshold` consecutive failures in Closed.
    ConsecutiveFailures,
    /// The window's failure rate reached `failure_rate_threshold`.
    FailureRate,
    /// The window's slow-call rate reached `slow_call_rate_threshold`.
    SlowCallRate,
    /// A trial call failed in HalfOpen.
    HalfOpenFailure,
    /// A trial call succeeded but was slow in HalfOpen.
    HalfOpenSlowCall,
    /// `success_threshold` trial calls succeeded in HalfOpen.
    HalfOpenSuccess,
    /// A timeout elapsed: the reset timeout (Open to HalfOpen), a forced-open TTL (to
    /// HalfOpen) or the half-open timeout with hung trials (HalfOpen to Open).
    TimeoutElapsed,
    /// An operator reset, disabled or re-enabled the breaker, or put it in metrics-only mode.
    Manual,
    /// An operator forced the breaker open.
    Forced,
    /// A fleet verdict (feature `fleet-redis`): the replicas' aggregated window met the
    /// thresholds with a quorum of replicas seeing failures, or a peer's half-open probe
    /// decided the fleet's half-open round.
    Fleet,
}

impl Reason {
    /// Every reason, in priority order.
    pub const ALL: [Reason; 10] = [
        Reason::ConsecutiveFailures,
        Reason::FailureRate,
        Reason::SlowCallRate,
        Reason::HalfOpenFailure,
        Reason::HalfOpenSlowCall,
        Reason::HalfOpenSuccess,
        Reason::TimeoutElapsed,
        Reason::Manual,
        Reason::Forced,
        Reason::Fleet,
    ];

    /// The reason's label value, e.g. `consecutive_failures`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::ConsecutiveFailures => "consecutive_failures",
            Reason::FailureRate => "failure_rate",
            Reason::SlowCallRate => "slow_call_rate",
            Reason::HalfOpenFailure => "half_open_failure",
            Reason::HalfOpenSlowCall => "half_open_slow_call",
            Reason::HalfOpenSuccess => "half_open_success",
            Reason::TimeoutElapsed => "timeout_elapsed",
            Reason::Manual => "manual",
            Reason::Forced => "forced",
            Reason::Fleet => "fleet",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a fallback was taken: the `reason` label of `breakerbox_fallbacks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FallbackReason {
    /// The breaker, a bulkhead or a rate limit refused the call.
    Rejected,
    /// The call ran past the breaker's `call_timeout`.
    Timeout,
    /// The call ran and returned its own error.
    Failure,
}

impl FallbackReason {
    /// Every reason, in label order.
    pub const ALL: [FallbackReason; 3] = [
        FallbackReason::Rejected,
        FallbackReason::Timeout,
        FallbackReason::Failure,
    ];

    /// The label value: `rejected`, `timeout` or `failure`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FallbackReason::Rejected => "rejected",
            FallbackReason::Timeout => "timeout",
            FallbackReason::Failure => "failure",
        }
    }
}

impl std::fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_open_alone_neither_rejects_every_call_nor_counts_into_the_window() {
        for s in State::ALL {
            let (rejects, counts) = (s.rejects_calls(), s.counts_calls());
            assert!(!(rejects && counts), "{s:?}");
            assert_eq!(s == State::HalfOpen, !rejects && !counts, "{s:?}");
        }
        assert!(State::ForcedOpen.rejects_calls());
        assert!(State::MetricsOnly.counts_calls());
    }

    #[test]
    fn state_codes_round_trip() {
        for s in State::ALL {
            assert_eq!(State::from_code(s.code()), s);
        }
    }
}
