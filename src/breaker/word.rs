//! The packed state word: state, half-open counters and epoch in one `AtomicU64`, changed
//! only by compare-and-swap.

use crate::state::State;
use crate::sync::{AtomicU64, Ordering};

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
    /// The state's code ([`State::code`]), without decoding it.
    #[inline]
    pub(crate) fn code(self) -> u64 {
        self.0 & STATE_MASK
    }
    /// Whether the state counts calls into the window ([`State::counts_calls`]: Closed,
    /// Disabled, MetricsOnly), tested on the code's bit: the call path asks on every call.
    #[inline]
    pub(crate) fn counts_calls(self) -> bool {
        const COUNTING: u64 = (1 << State::Closed.code())
            | (1 << State::Disabled.code())
            | (1 << State::MetricsOnly.code());
        (COUNTING >> self.code()) & 1 != 0
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
    fn counts_calls_on_the_code_agrees_with_the_state() {
        for s in State::ALL {
            let w = Word::new(s, 7).with_in_flight(3).with_successes(2);
            assert_eq!(w.counts_calls(), s.counts_calls(), "{s:?}");
            assert_eq!(w.code(), s.code());
        }
    }

    #[test]
    fn epoch_wraps_without_touching_other_fields() {
        let w = Word::new(State::Open, u64::MAX >> EPOCH_SHIFT);
        let n = w.next(State::HalfOpen);
        assert_eq!(n.epoch(), 0);
        assert_eq!(n.state(), State::HalfOpen);
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
