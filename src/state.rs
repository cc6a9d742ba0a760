//! The breaker's states, the reasons for transitions, and the packed state word: state,
//! half-open counters and epoch in one `AtomicU64`, changed only by compare-and-swap.

use std::fmt;

use crate::sync::{AtomicU64, Ordering};

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

const STATE_BITS: u32 = 3;
const COUNT_BITS: u32 = 16;
const IN_FLIGHT_SHIFT: u32 = STATE_BITS;
const SUCCESS_SHIFT: u32 = STATE_BITS + COUNT_BITS;
const EPOCH_SHIFT: u32 = STATE_BITS + 2 * COUNT_BITS;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// A decoded state word: `state | in_flight << 3 | successes << 19 | epoch << 35`.
///
/// The epoch changes on every transition, so a call admitted in one epoch can tell that
/// the breaker has moved on when it finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) fn new(state: State, epoch: u64) -> Word {
        Word(state.code() | (epoch << EPOCH_SHIFT))
    }
    pub(crate) fn state(self) -> State {
        State::from_code(self.0 & STATE_MASK)
    }
    /// Trials running in HalfOpen.
    pub(crate) fn in_flight(self) -> u32 {
        ((self.0 >> IN_FLIGHT_SHIFT) & COUNT_MASK) as u32
    }
    /// Successful trials so far in HalfOpen.
    pub(crate) fn successes(self) -> u32 {
        ((self.0 >> SUCCESS_SHIFT) & COUNT_MASK) as u32
    }
    pub(crate) fn epoch(self) -> u64 {
        self.0 >> EPOCH_SHIFT
    }
    /// The first word of the next epoch, in `state`, with zeroed counters.
    pub(crate) fn next(self, state: State) -> Word {
        Word::new(state, (self.epoch() + 1) & (u64::MAX >> EPOCH_SHIFT))
    }
    pub(crate) fn with_in_flight(self, n: u32) -> Word {
        let cleared = self.0 & !(COUNT_MASK << IN_FLIGHT_SHIFT);
        Word(cleared | ((u64::from(n) & COUNT_MASK) << IN_FLIGHT_SHIFT))
    }
    pub(crate) fn with_successes(self, n: u32) -> Word {
        let cleared = self.0 & !(COUNT_MASK << SUCCESS_SHIFT);
        Word(cleared | ((u64::from(n) & COUNT_MASK) << SUCCESS_SHIFT))
    }
}

/// The atomic cell holding the [`Word`].
///
/// # Memory ordering
/// Transitions use `AcqRel` compare-and-swap so that whatever the winner wrote before it
/// (deadline, since-timestamp) is visible to a thread that observes the new word with an
/// `Acquire` load. Only the thread whose CAS succeeds reports the transition, so each
/// transition is reported exactly once.
#[derive(Debug)]
pub(crate) struct StateCell {
    word: AtomicU64,
}

impl StateCell {
    pub(crate) fn new(state: State) -> Self {
        StateCell {
            word: AtomicU64::new(Word::new(state, 0).0),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    /// Replaces `current` with `new`; on failure returns the word found instead.
    #[inline]
    pub(crate) fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    /// Takes a half-open trial slot if one is free in `word`'s epoch.
    pub(crate) fn try_take_trial(&self, max: u32) -> Result<Word, Word> {
        let mut cur = self.load();
        loop {
            if cur.state() != State::HalfOpen || cur.in_flight() >= max {
                return Err(cur);
            }
            let next = cur.with_in_flight(cur.in_flight() + 1);
            match self.cas(cur, next) {
                Ok(()) => return Ok(next),
                Err(found) => cur = found,
            }
        }
    }

    /// Returns a trial slot of `epoch`, optionally counting a success. Returns the word
    /// written, or `None` if the breaker has left that half-open epoch.
    pub(crate) fn release_trial(&self, epoch: u64, success: bool) -> Option<Word> {
        let mut cur = self.load();
        loop {
            if cur.state() != State::HalfOpen || cur.epoch() != epoch {
                return None;
            }
            let mut next = cur.with_in_flight(cur.in_flight().saturating_sub(1));
            if success {
                next = next.with_successes((cur.successes() + 1).min(COUNT_MASK as u32));
            }
            match self.cas(cur, next) {
                Ok(()) => return Some(next),
                Err(found) => cur = found,
            }
        }
    }
}

#[cfg(test)]
mod tests {
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

    use super::*;

    #[test]
    fn word_fields_round_trip() {
        let w = Word::new(State::HalfOpen, 12345)
            .with_in_flight(65535)
            .with_successes(7);
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!(w.in_flight(), 65535);
        assert_eq!(w.successes(), 7);
        assert_eq!(w.epoch(), 12345);
        let n = w.next(State::Closed);
        assert_eq!(
            (n.state(), n.in_flight(), n.successes()),
            (State::Closed, 0, 0)
        );
        assert_eq!(n.epoch(), 12346);
    }

    #[test]
    fn epoch_wraps_without_touching_other_fields() {
        let w = Word::new(State::Open, u64::MAX >> EPOCH_SHIFT);
        let n = w.next(State::HalfOpen);
        assert_eq!(n.epoch(), 0);
        assert_eq!(n.state(), State::HalfOpen);
    }

    #[test]
    fn state_codes_round_trip() {
        for s in State::ALL {
            assert_eq!(State::from_code(s.code()), s);
        }
    }
}

#[cfg(breakerbox_loom)]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads race the same transition: exactly one compare-and-swap wins.
    #[test]
    fn at_most_one_winner_per_transition() {
        loom::model(|| {
            let cell = Arc::new(StateCell::new(State::Closed));
            let from = cell.load();
            let wins = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let cell = cell.clone();
                    let wins = wins.clone();
                    thread::spawn(move || {
                        if cell.cas(from, from.next(State::Open)).is_ok() {
                            wins.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(wins.load(Ordering::Relaxed), 1);
            assert_eq!(cell.load().epoch(), 1);
        });
    }

    /// Three threads compete for two half-open slots while one trial finishes: the
    /// in-flight count never exceeds the limit and ends equal to the slots held.
    #[test]
    fn half_open_never_exceeds_its_limit() {
        loom::model(|| {
            let cell = Arc::new(StateCell::new(State::Closed));
            let w = cell.load();
            cell.cas(w, w.next(State::HalfOpen)).unwrap();
            let epoch = cell.load().epoch();
            assert!(cell.try_take_trial(2).is_ok());
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    let cell = cell.clone();
                    thread::spawn(move || {
                        if i == 0 {
                            cell.release_trial(epoch, true);
                            0
                        } else {
                            let mut held = 0;
                            for _ in 0..2 {
                                if let Ok(w) = cell.try_take_trial(2) {
                                    assert!(w.in_flight() <= 2);
                                    held += 1;
                                }
                            }
                            held
                        }
                    })
                })
                .collect();
            let held: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            let w = cell.load();
            assert!(w.in_flight() <= 2);
            assert_eq!(w.in_flight(), held);
            assert_eq!(w.successes(), 1);
        });
    }
}
