//! The `breakerbox_transitions_total` counters of one breaker, each exported from 0 before
//! it can move.
//!
//! A counter that appears with the value 1 is invisible to PromQL's `increase()`: the
//! first sample is its start. So a transition series must exist at 0 before the
//! transition happens, and Prometheus must have scraped that 0. Registering all 33
//! possible transitions of every breaker up front did that, at the price of 33 series per
//! breaker of which a breaker that never trips moves none.
//!
//! Instead:
//! - the **automatic** transitions (the trips, the probes, the closes and reopens of
//!   half-open; 9 series) are registered when the breaker is built;
//! - the **operator** transitions out of the initial state (for a breaker starting Closed:
//!   closed -> disabled, metrics_only, forced_open, closed; 4 series) too;
//! - the operator transitions out of any other state are registered, at 0, the moment the
//!   breaker **enters** that state. Every series out of a state has therefore existed at 0
//!   for as long as the breaker has been in that state: `increase()` sees the first one
//!   unless the breaker left the state, for the first time ever, before a scrape saw it.
//!
//! A breaker that never leaves Closed exports 13 transition series instead of 33 (16 and
//! 36 with the feature `fleet-redis`, whose three `fleet` transitions are registered at
//! build).
//!
//! "Registered" above means owed at 0: a breaker served by `prometheus::render` only
//! (see `mode`) keeps the series it owes to itself, `render` writes them at 0, and the
//! transition registers its series with the recorder (born at 1, after scrapes saw 0), so
//! the exporter holds only the series that moved.

use std::sync::{Arc, Mutex, PoisonError};

use metrics::Counter;

use super::names;
use crate::event::Transition;
use crate::state::{Reason, State};

/// A transition's `from`, `to` and `reason`.
pub(crate) type TransitionKey = (State, State, Reason);

/// The transitions the engine makes by itself: registered when the breaker is built.
pub(crate) const AUTOMATIC: [TransitionKey; 9] = {
    use Reason::*;
    use State::*;
    [
        (Closed, Open, ConsecutiveFailures),
        (Closed, Open, FailureRate),
        (Closed, Open, SlowCallRate),
        (HalfOpen, Open, HalfOpenFailure),
        (HalfOpen, Open, HalfOpenSlowCall),
        (HalfOpen, Open, TimeoutElapsed),
        (Open, HalfOpen, TimeoutElapsed),
        (ForcedOpen, HalfOpen, TimeoutElapsed),
        (HalfOpen, Closed, HalfOpenSuccess),
    ]
};

/// The transitions a fleet verdict makes (feature `fleet-redis`): a fleet trip, and a
/// peer's half-open probe result. Registered when the breaker is built when the feature
/// is compiled in, since a fleet may start for the breaker's registry at any time.
#[cfg(feature = "fleet-redis")]
pub(crate) const FLEET: [TransitionKey; 3] = [
    (State::Closed, State::Open, Reason::Fleet),
    (State::HalfOpen, State::Open, Reason::Fleet),
    (State::HalfOpen, State::Closed, Reason::Fleet),
];
#[cfg(not(feature = "fleet-redis"))]
pub(crate) const FLEET: [TransitionKey; 0] = [];

/// The operator's transitions out of `from`: `reset` (to Closed, manual), `disable`,
/// `metrics_only` (manual) and `force_open` (forced). Out of Closed, Disabled, MetricsOnly
/// and ForcedOpen one of them is a same-state action (a new epoch, reported too); Open and
/// HalfOpen are never the target of one.
pub(crate) fn operator_from(from: State) -> [TransitionKey; 4] {
    [
        (from, State::Closed, Reason::Manual),
        (from, State::Disabled, Reason::Manual),
        (from, State::MetricsOnly, Reason::Manual),
        (from, State::ForcedOpen, Reason::Forced),
    ]
}

struct Registered {
    counters: Vec<(TransitionKey, Counter)>,
    /// Series owed at 0 but not registered with the recorder (a breaker served by
    /// `prometheus::render` only): the render writes them at 0 itself, and the transition
    /// registers its series.
    zeros: Vec<TransitionKey>,
    /// Whether owed series wait in `zeros` instead of being registered at once.
    lazy: bool,
    /// One bit per state (by its code) whose operator transitions are owed.
    entered: u8,
}

/// The transition counters of one breaker.
pub(crate) struct TransitionCounters {
    name: Arc<str>,
    registered: Mutex<Registered>,
}

impl TransitionCounters {
    /// Owes the automatic transitions and the operator ones out of `initial`, at 0:
    /// registered now, or, when `lazy`, left for a render to write at 0 until they move.
    pub(crate) fn new(name: &Arc<str>, initial: State, lazy: bool) -> TransitionCounters {
        let mut r = Registered {
            counters: Vec::new(),
            zeros: Vec::new(),
            lazy,
            entered: 0,
        };
        for &k in AUTOMATIC.iter().chain(FLEET.iter()) {
            r.owe(name, k);
        }
        r.enter(name, initial);
        TransitionCounters {
            name: name.clone(),
            registered: Mutex::new(r),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `t`, and owes at 0 the operator transitions out of the state it entered.
    pub(crate) fn record(&self, t: &Transition) {
        let mut r = self.lock();
        r.enter(&self.name, t.to);
        let key = (t.from, t.to, t.reason);
        match r.counters.iter().find(|(k, _)| *k == key) {
            Some((_, c)) => c.increment(1),
            None => {
                // Owed at 0 and rendered so (or a transition out of a state whose entry
                // was reported after it, or one no table lists): registered now, at 1.
                r.zeros.retain(|k| *k != key);
                let c = counter(&self.name, key);
                c.increment(1);
                r.counters.push((key, c));
            }
        }
    }

    /// Owes at 0 the operator transitions out of `state`, which the breaker entered without
    /// a transition (restored from a state store), as a transition into it would have.
    pub(crate) fn enter(&self, state: State) {
        self.lock().enter(&self.name, state);
    }

    /// Calls `f` with each series owed at 0 and not registered.
    #[cfg(feature = "prometheus")]
    pub(crate) fn for_each_zero(&self, mut f: impl FnMut(TransitionKey)) {
        self.lock().zeros.iter().for_each(|k| f(*k));
    }

    /// The transitions owed so far, registered or not (for tests).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> Vec<TransitionKey> {
        let r = self.lock();
        r.counters
            .iter()
            .map(|(k, _)| *k)
            .chain(r.zeros.iter().copied())
            .collect()
    }
}

impl Registered {
    fn enter(&mut self, name: &Arc<str>, state: State) {
        let bit = 1u8 << state.code();
        if self.entered & bit != 0 {
            return;
        }
        self.entered |= bit;
        for key in operator_from(state) {
            self.owe(name, key);
        }
    }

    /// The series `key` must exist at 0 from now on.
    fn owe(&mut self, name: &Arc<str>, key: TransitionKey) {
        if self.counters.iter().any(|(k, _)| *k == key) || self.zeros.contains(&key) {
            return;
        }
        if self.lazy {
            self.zeros.push(key);
        } else {
            self.counters.push((key, counter(name, key)));
        }
    }
}

fn counter(name: &Arc<str>, (from, to, reason): TransitionKey) -> Counter {
    use names::*;
    metrics::counter!(
        TRANSITIONS_TOTAL,
        LABEL_BREAKER => name.clone(),
        LABEL_FROM => from.as_str(),
        LABEL_TO => to.as_str(),
        LABEL_REASON => reason.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every transition the engine can report, by the rules of `docs/DESIGN.md`.
    fn all_possible() -> Vec<TransitionKey> {
        let mut all: Vec<TransitionKey> = AUTOMATIC.to_vec();
        all.extend(FLEET);
        for s in State::ALL {
            all.extend(operator_from(s));
        }
        all
    }

    #[test]
    fn the_tables_hold_the_33_possible_transitions_once_each() {
        let all = all_possible();
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 33 + FLEET.len());
        assert_eq!(unique.len(), 33 + FLEET.len());
        // Same-state transitions are operator actions on the state they target.
        for t in &all {
            if t.0 == t.1 {
                assert!(matches!(t.2, Reason::Manual | Reason::Forced), "{t:?}");
            }
        }
    }

    #[test]
    fn a_new_breaker_registers_the_automatic_and_its_initial_states_operator_transitions() {
        for lazy in [false, true] {
            let t = TransitionCounters::new(&"t".into(), State::Closed, lazy);
            assert_eq!(t.keys().len(), 13 + FLEET.len());
        }
        let t = TransitionCounters::new(&"t".into(), State::ForcedOpen, false);
        assert!(
            t.keys()
                .contains(&(State::ForcedOpen, State::Closed, Reason::Manual))
        );
        assert!(
            !t.keys()
                .contains(&(State::Closed, State::Disabled, Reason::Manual))
        );
    }
}
