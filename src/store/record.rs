//! One breaker's persisted record: the state to start in after a restart, for Open and
//! ForcedOpen the wall-clock deadline, and the transition that entered the state.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::event::Transition;
use crate::state::{Reason, State};
use crate::time::{millis, unix_ms};
use crate::window::WindowCounts;

/// The longest a breaker restored forced open with a TTL waits before it probes: 365 days,
/// the longest TTL the admin API's force-open route accepts. A longer remaining TTL in a
/// record (written by hand, or by `force_open_for` with a longer one) is cut to it.
pub(crate) const MAX_RESTORED_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// What survives a restart of one breaker. Only Open, ForcedOpen, Disabled and
/// MetricsOnly have records; a Closed or HalfOpen breaker has none and starts Closed.
///
/// Deadlines are wall-clock times (milliseconds since the Unix epoch), so the remaining
/// time survives the process; `open_for_ms` bounds the remaining time, should the wall
/// clock have moved back while the process was down. A restored breaker never waits
/// longer than it could have chosen itself: an Open one at most its longest reset timeout
/// (`max_reset_timeout`, spread by `reset_jitter`), a forced-open one at most 365 days
/// (the admin API's TTL limit); a record asking for more is cut to that, with a warning.
///
/// `from`, `reason` and `at_unix_ms` keep the transition that entered the state: a
/// restored breaker reports it as its last transition (marked `restored`). Records
/// written by hand or by an earlier version may lack them.
///
/// ```
/// use breakerbox::{Reason, State};
/// use breakerbox::store::Record;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let r = Record::open(State::ForcedOpen, at, Duration::from_secs(600))
///     .entered(State::Closed, Reason::Forced, at);
/// assert_eq!(r.until(), Some(at + Duration::from_secs(600)));
/// assert_eq!(r.remaining_at(at + Duration::from_secs(60)), Some(Duration::from_secs(540)));
/// assert_eq!(r.reason, Some(Reason::Forced));
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
    /// The state the breaker left when it entered `state`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub from: Option<State>,
    /// Why it entered `state`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub reason: Option<Reason>,
    /// When it entered `state`: milliseconds since the Unix epoch.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub at_unix_ms: Option<u64>,
}

/// The longest a restored breaker may wait before it probes, by the state it restores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// For Open: the breaker's longest reset timeout.
    pub(crate) open: Duration,
    /// For ForcedOpen with a TTL.
    pub(crate) forced: Duration,
}

/// How a breaker built from a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    /// The state to start in.
    pub(crate) state: State,
    /// The open time left (Open, or ForcedOpen with a TTL).
    pub(crate) open_for: Option<Duration>,
    /// The time the record asked for, when it was more than the cap and was cut.
    pub(crate) capped: Option<Duration>,
}

impl Record {
    /// A record of `state` without a deadline: Disabled, MetricsOnly, or ForcedOpen
    /// without a TTL.
    pub fn new(state: State) -> Record {
        Record {
            state,
            until_unix_ms: None,
            open_for_ms: None,
            from: None,
            reason: None,
            at_unix_ms: None,
        }
    }

    /// A record of `state` (Open, or ForcedOpen with a TTL) entered at `at` for `open_for`.
    /// Saturates: a deadline beyond what milliseconds since 1970 in a `u64` can say is
    /// kept as the largest one.
    pub fn open(state: State, at: SystemTime, open_for: Duration) -> Record {
        let open_for_ms = millis(open_for);
        Record {
            until_unix_ms: Some(unix_ms(at).saturating_add(open_for_ms)),
            open_for_ms: Some(open_for_ms),
            ..Record::new(state)
        }
    }

    /// The record with the transition that entered its state: from `from`, for `reason`,
    /// at `at`.
    #[must_use]
    pub fn entered(mut self, from: State, reason: Reason, at: SystemTime) -> Record {
        self.from = Some(from);
        self.reason = Some(reason);
        self.at_unix_ms = Some(unix_ms(at));
        self
    }

    /// The record a transition leaves behind, `None` for Closed and HalfOpen.
    pub(crate) fn after(t: &Transition) -> Option<Record> {
        let record = match (t.to, t.open_for) {
            (State::Closed | State::HalfOpen, _) => return None,
            (State::Open | State::ForcedOpen, Some(d)) => Record::open(t.to, t.at, d),
            (state, _) => Record::new(state),
        };
        Some(record.entered(t.from, t.reason, t.at))
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

    /// How a breaker built at `now` starts, `None` to start Closed (a Closed or HalfOpen
    /// record, or an Open one without a deadline). A deadline that has passed leaves zero
    /// time: the breaker probes (HalfOpen) at once, as the expiry of `force_open_for`
    /// would have made it. Open time beyond `caps` is cut to it.
    pub(crate) fn start_at(&self, now: SystemTime, caps: Caps) -> Option<Start> {
        let (state, left, cap) = match self.state {
            State::Closed | State::HalfOpen => return None,
            State::Disabled | State::MetricsOnly => (self.state, None, None),
            State::ForcedOpen => (self.state, self.remaining_at(now), Some(caps.forced)),
            State::Open => (self.state, Some(self.remaining_at(now)?), Some(caps.open)),
        };
        let over = left.zip(cap).filter(|(left, cap)| left > cap);
        Some(Start {
            state,
            open_for: over.map_or(left, |(_, cap)| Some(cap)),
            capped: over.map(|(left, _)| left),
        })
    }

    /// The transition that entered the record's state, for a breaker named `breaker`
    /// restored from it (marked `restored`); `None` when the record does not say.
    pub(crate) fn restored_transition(&self, breaker: &Arc<str>) -> Option<Transition> {
        let at = UNIX_EPOCH.checked_add(Duration::from_millis(self.at_unix_ms?))?;
        Some(Transition {
            breaker: breaker.clone(),
            from: self.from?,
            to: self.state,
            reason: self.reason?,
            counts: WindowCounts::default(),
            failure_rate: None,
            slow_call_rate: None,
            consecutive_failures: 0,
            threshold: None,
            open_for: self.open_for_ms.map(Duration::from_millis),
            at,
            fleet: None,
            restored: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// Caps that leave every test time alone.
    const NO_CAP: Caps = Caps {
        open: Duration::MAX,
        forced: Duration::MAX,
    };

    fn start(r: &Record, now: SystemTime) -> Option<(State, Option<Duration>)> {
        r.start_at(now, NO_CAP).map(|s| (s.state, s.open_for))
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
            restored: false,
        };
        assert_eq!(Record::after(&t), None);
        t.to = State::Closed;
        assert_eq!(Record::after(&t), None);
        t.to = State::Disabled;
        let expected =
            Record::new(State::Disabled).entered(State::Open, Reason::TimeoutElapsed, at());
        assert_eq!(Record::after(&t), Some(expected));
    }

    #[test]
    fn a_deadline_that_has_passed_leaves_zero_time() {
        let r = Record::open(State::ForcedOpen, at(), Duration::from_secs(60));
        let later = at() + Duration::from_secs(3600);
        assert_eq!(
            start(&r, later),
            Some((State::ForcedOpen, Some(Duration::ZERO)))
        );
    }

    #[test]
    fn a_wall_clock_moved_back_waits_at_most_the_original_time() {
        let r = Record::open(State::Open, at(), Duration::from_secs(30));
        let before = at() - Duration::from_secs(86_400);
        assert_eq!(
            start(&r, before),
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
        assert_eq!(start(&Record::new(State::Open), at()), None);
        assert_eq!(
            start(&Record::new(State::ForcedOpen), at()),
            Some((State::ForcedOpen, None))
        );
    }

    #[test]
    fn restored_open_time_is_cut_to_the_cap_and_says_what_was_asked() {
        let caps = Caps {
            open: Duration::from_secs(300),
            forced: MAX_RESTORED_TTL,
        };
        let hostile = Record {
            until_unix_ms: Some(u64::MAX),
            ..Record::new(State::Open)
        };
        let s = hostile.start_at(at(), caps).unwrap();
        assert_eq!(s.open_for, Some(Duration::from_secs(300)));
        assert!(s.capped.unwrap() > Duration::from_secs(1 << 40));
        let forced = Record {
            until_unix_ms: Some(u64::MAX),
            ..Record::new(State::ForcedOpen)
        };
        let s = forced.start_at(at(), caps).unwrap();
        assert_eq!(s.open_for, Some(MAX_RESTORED_TTL));
        assert!(s.capped.is_some());
        // Within the cap: untouched, nothing reported.
        let fine = Record::open(State::Open, at(), Duration::from_secs(30));
        let s = fine.start_at(at(), caps).unwrap();
        assert_eq!(
            (s.open_for, s.capped),
            (Some(Duration::from_secs(30)), None)
        );
        // Without a TTL a forced open has no deadline to cut.
        let s = Record::new(State::ForcedOpen).start_at(at(), caps).unwrap();
        assert_eq!((s.open_for, s.capped), (None, None));
    }

    #[test]
    fn the_restored_transition_is_the_records_and_needs_all_of_it() {
        let r = Record::open(State::ForcedOpen, at(), Duration::from_secs(600)).entered(
            State::Closed,
            Reason::Forced,
            at(),
        );
        let t = r.restored_transition(&"db".into()).unwrap();
        assert!(t.restored);
        assert_eq!(
            (t.from, t.to, t.reason, t.at, t.open_for),
            (
                State::Closed,
                State::ForcedOpen,
                Reason::Forced,
                at(),
                Some(Duration::from_secs(600))
            )
        );
        assert_eq!(
            Record::new(State::Disabled).restored_transition(&"db".into()),
            None
        );
    }
}
