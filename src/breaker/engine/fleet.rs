//! The engine's side of fleet mode: the half-open trial gate a fleet's background task
//! sets, and transitions a fleet verdict asks for. Nothing here runs on the closed path.

use crate::sync::Ordering;

use super::Inner;
use crate::breaker::word::Word;
use crate::event::FleetNumbers;
use crate::state::{Reason, State};

/// The gate's bit that says a fleet coordinates the breaker's half-open trials.
const COORDINATED: u64 = 1 << 16;
/// The slot count's bits.
const SLOTS: u64 = COORDINATED - 1;
/// Where the half-open epoch (plus one, so that 0 means "no epoch") starts.
const EPOCH_SHIFT: u32 = 17;

impl Inner {
    /// The trials this replica may run at once in the half-open epoch of `w`: the local
    /// `half_open_max_calls`, or, while a fleet coordinates the breaker, the trial slots
    /// (leases) the fleet granted for that very epoch, none before they are granted.
    #[inline]
    pub(crate) fn trial_limit(&self, w: Word) -> u32 {
        let max = self.hot.half_open_max_calls();
        let gate = self.fleet_gate.load(Ordering::Acquire);
        if gate & COORDINATED == 0 {
            return max;
        }
        if gate >> EPOCH_SHIFT == w.epoch().wrapping_add(1) {
            max.min((gate & SLOTS) as u32)
        } else {
            0
        }
    }

    /// Sets the fleet's trial gate: `None` for local limits (no fleet, or the fleet is
    /// unreachable), `Some((epoch, slots))` for the slots held in half-open `epoch`, or
    /// `Some((u64::MAX, 0))` for "coordinated, no slot held".
    #[cfg_attr(not(feature = "fleet-redis"), allow(dead_code))]
    pub(crate) fn set_trial_gate(&self, gate: Option<(u64, u32)>) {
        let word = match gate {
            None => 0,
            Some((epoch, slots)) => {
                let slots = u64::from(slots).min(SLOTS);
                (epoch.wrapping_add(1) << EPOCH_SHIFT) | COORDINATED | slots
            }
        };
        self.fleet_gate.store(word, Ordering::Release);
    }

    /// Moves the breaker from `from` to `to` with reason [`Reason::Fleet`], if it is in
    /// `from` now, reporting the fleet's numbers of a verdict (`None` for a probe result).
    /// Returns whether this call made the transition.
    #[cfg_attr(not(feature = "fleet-redis"), allow(dead_code))]
    pub(crate) fn fleet_move(&self, from: State, to: State, numbers: Option<FleetNumbers>) -> bool {
        let w = self.state.load();
        w.state() == from
            && self
                .transition_full(w, to, Reason::Fleet, None, numbers)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::default_clock;
    use crate::config::Config;

    fn inner() -> Inner {
        let cfg = Config::builder().half_open_max_calls(3).build().unwrap();
        Inner::new(
            "t".into(),
            cfg,
            State::HalfOpen,
            default_clock(),
            Arc::default(),
            crate::observe::DurationHistogram::default(),
        )
    }

    #[test]
    fn without_a_fleet_the_local_limit_applies() {
        let i = inner();
        assert_eq!(i.trial_limit(i.state.load()), 3);
    }

    #[test]
    fn a_coordinated_breaker_admits_only_the_slots_of_its_epoch() {
        let i = inner();
        let w = i.state.load();
        i.set_trial_gate(Some((u64::MAX, 0)));
        assert_eq!(i.trial_limit(w), 0);
        i.set_trial_gate(Some((w.epoch(), 2)));
        assert_eq!(i.trial_limit(w), 2);
        i.set_trial_gate(Some((w.epoch(), 9)));
        assert_eq!(i.trial_limit(w), 3, "never above the local limit");
        i.set_trial_gate(Some((w.epoch().wrapping_add(1), 2)));
        assert_eq!(i.trial_limit(w), 0, "slots of another epoch");
        i.set_trial_gate(None);
        assert_eq!(i.trial_limit(w), 3);
    }

    #[test]
    fn fleet_move_only_from_the_expected_state() {
        let i = inner();
        assert!(!i.fleet_move(State::Closed, State::Open, None));
        assert!(i.fleet_move(State::HalfOpen, State::Closed, None));
        assert_eq!(i.state.load().state(), State::Closed);
    }
}
