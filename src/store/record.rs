//! One breaker's persisted record: the state to start in after a restart and, for Open and
//! ForcedOpen, the wall-clock deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::event::Transition;
use crate::state::State;
use crate::time::{millis, unix_ms};

/// What survives a restart of one breaker. Only Open, ForcedOpen, Disabled and
/// MetricsOnly have records; a Closed or HalfOpen breaker has none and starts Closed.
///
/// Deadlines are wall-clock times (milliseconds since the Unix epoch), so the remaining
/// time survives the process; `open_for_ms` bounds the remaining time, should the wall
/// clock have moved back while the process was down.
///
/// ```
/// use breakerbox::State;
/// use breakerbox::store::Record;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let r = Record::open(State::ForcedOpen, at, Duration::from_secs(600));
/// assert_eq!(r.until(), Some(at + Duration::from_secs(600)));
/// assert_eq!(r.remaining_at(at + Duration::from_secs(60)), Some(Duration::from_secs(540)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Record {
    /// The state to start in.
    pub state: State,
    /// When an Open breaker, or one forced open with a TTL, probes (HalfOpen):
    /// milliseconds since the Unix epoch.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub until_unix_ms: Option<u64>,
    /// How long the breaker was set to stay open (the TTL or the open timeout), in
    /// milliseconds: the most a restored breaker waits.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub open_for_ms: Option<u64>,
}

impl Record {
    /// A record of `state` without a deadline: Disabled, MetricsOnly, or ForcedOpen
    /// without a TTL.
    pub fn new(state: State) -> Record {
        Record {
            state,
            until_unix_ms: None,
            open_for_ms: None,
        }
    }

    /// A record of `state` (Open, or ForcedOpen with a TTL) entered at `at` for `open_for`.
    /// Saturates: a deadline beyond what milliseconds since 1970 in a `u64` can say is
    /// kept as the largest one.
    pub fn open(state: State, at: SystemTime, open_for: Duration) -> Record {
        let open_for_ms = millis(open_for);
        Record {
            state,
            until_unix_ms: Some(unix_ms(at).saturating_add(open_for_ms)),
            open_for_ms: Some(open_for_ms),
        }
    }

    /// The record a transition leaves behind, `None` for Closed and HalfOpen.
    pub(crate) fn after(t: &Transition) -> Option<Record> {
        match (t.to, t.open_for) {
            (State::Closed | State::HalfOpen, _) => None,
            (State::Open | State::ForcedOpen, Some(d)) => Some(Record::open(t.to, t.at, d)),
            (state, _) => Some(Record::new(state)),
        }
    }

    /// The deadline as a wall-clock time, if there is one (and the platform can hold it).
    pub fn until(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_millis(self.until_unix_ms?))
    }

    /// The open time left at `now`: zero once the deadline has passed, at most
    /// `open_for_ms`; `None` without a deadline.
    pub fn remaining_at(&self, now: SystemTime) -> Option<Duration> {
        let left = self.until_unix_ms?.saturating_sub(unix_ms(now));
        let left = self.open_for_ms.map_or(left, |max| left.min(max));
        Some(Duration::from_millis(left))
    }

    /// The state and open time a breaker built at `now` starts with, `None` to start
    /// Closed (a Closed or HalfOpen record, or an Open one without a deadline). A deadline
    /// that has passed leaves zero time: the breaker probes (HalfOpen) at once, as the
    /// expiry of `force_open_for` would have made it.
    pub(crate) fn start_at(&self, now: SystemTime) -> Option<(State, Option<Duration>)> {
        match self.state {
            State::Closed | State::HalfOpen => None,
            State::Disabled | State::MetricsOnly => Some((self.state, None)),
            State::ForcedOpen => Some((State::ForcedOpen, self.remaining_at(now))),
            State::Open => Some((State::Open, Some(self.remaining_at(now)?))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Reason;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn closed_and_half_open_leave_no_record() {
        let mut t = Transition {
            breaker: "a".into(),
            from: State::Open,
            to: State::HalfOpen,
            reason: Reason::TimeoutElapsed,
            counts: crate::window::WindowCounts::default(),
            failure_rate: None,
            slow_call_rate: None,
            consecutive_failures: 0,
            threshold: None,
            open_for: None,
            at: at(),
            fleet: None,
        };
        assert_eq!(Record::after(&t), None);
        t.to = State::Closed;
        assert_eq!(Record::after(&t), None);
        t.to = State::Disabled;
        assert_eq!(Record::after(&t), Some(Record::new(State::Disabled)));
    }

    #[test]
    fn a_deadline_that_has_passed_leaves_zero_time() {
        let r = Record::open(State::ForcedOpen, at(), Duration::from_secs(60));
        let later = at() + Duration::from_secs(3600);
        assert_eq!(
            r.start_at(later),
            Some((State::ForcedOpen, Some(Duration::ZERO)))
        );
    }

    #[test]
    fn a_wall_clock_moved_back_waits_at_most_the_original_time() {
        let r = Record::open(State::Open, at(), Duration::from_secs(30));
        let before = at() - Duration::from_secs(86_400);
        assert_eq!(
            r.start_at(before),
            Some((State::Open, Some(Duration::from_secs(30))))
        );
    }

    #[test]
    fn huge_open_times_saturate() {
        let r = Record::open(State::ForcedOpen, at(), Duration::MAX);
        assert_eq!(r.until_unix_ms, Some(u64::MAX));
        assert!(r.remaining_at(at()).unwrap() > Duration::from_secs(1 << 40));
        let r = Record::open(
            State::Open,
            UNIX_EPOCH - Duration::from_secs(5),
            Duration::ZERO,
        );
        assert_eq!(r.until_unix_ms, Some(0));
    }

    #[test]
    fn an_open_record_without_deadline_starts_closed() {
        assert_eq!(Record::new(State::Open).start_at(at()), None);
        assert_eq!(
            Record::new(State::ForcedOpen).start_at(at()),
            Some((State::ForcedOpen, None))
        );
    }
}
