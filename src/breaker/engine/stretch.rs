//! Stretching an Open state's deadline: the upstream said how long it needs (an HTTP
//! `Retry-After` on the response that tripped the breaker).

use std::time::Duration;

use super::{Inner, nanos, stamp, unstamp};
use crate::state::State;
use crate::sync::Ordering;

impl Inner {
    /// Moves the deadline of the current Open state out to `wait` from now, capped at
    /// `max_reset_timeout` after the trip; never brings it closer. Returns whether it
    /// moved. A compare-and-swap on the deadline stamped with the Open state's epoch: if
    /// the breaker left that state meanwhile, nothing changes.
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn stretch_open(&self, wait: Duration) -> bool {
        let w = self.state.load();
        if w.state() != State::Open {
            return false;
        }
        let max = self.settings.load().config.max_reset_timeout();
        let cap = self.since(w).saturating_add(nanos(max));
        let want = self.clock.now().saturating_add(nanos(wait)).min(cap);
        let mut current = self.deadline.load(Ordering::Acquire);
        loop {
            let Ok(Some(deadline)) = unstamp(current, w.epoch()) else {
                return false;
            };
            if want <= deadline {
                return false;
            }
            let next = stamp(w.epoch(), Some(want));
            match self
                .deadline
                .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}
