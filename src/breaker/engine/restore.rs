//! Starting a breaker in a persisted state: the one entry point that puts a breaker in
//! Open or ForcedOpen with a given deadline without a transition.

use crate::sync::Ordering;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::stamp;
use super::{Inner, nanos, unix_seconds};
use crate::event::Transition;
use crate::state::State;

impl Inner {
    /// Moves the breaker into `state`, in a new epoch, as if it had started there: Open or
    /// ForcedOpen for `open_for` from now (`None`: ForcedOpen without a TTL; an Open
    /// breaker then waits its reset timeout), Disabled or MetricsOnly. Closed and HalfOpen
    /// are refused (a breaker starts Closed; HalfOpen is reached through an expired
    /// deadline).
    ///
    /// Not a transition: nothing is counted or reported, only the state gauges are set
    /// and the transition series out of `state` are owed at 0, as on entering it. `cause`,
    /// the transition that entered the state before the restart (marked restored), becomes
    /// the breaker's last transition. Meant for a breaker that has not been handed out
    /// yet; like a transition it swaps the state word by compare-and-swap and stamps the
    /// deadline with the new epoch, so it is safe (and returns `false`) if the breaker has
    /// moved meanwhile.
    pub(crate) fn restore(
        &self,
        state: State,
        open_for: Option<Duration>,
        cause: Option<Transition>,
    ) -> bool {
        if matches!(state, State::Closed | State::HalfOpen) {
            return false;
        }
        let open_for = match (state, open_for) {
            (State::Open, None) => Some(self.settings.load().config.reset_timeout()),
            (State::Open | State::ForcedOpen, d) => d,
            _ => None,
        };
        let from = self.state.load();
        let next = from.next(state);
        let now = self.clock.now();
        let deadline = open_for.map(|d| now.saturating_add(nanos(d)));
        if self.state.cas(from, next).is_err() {
            return false;
        }
        self.deadline
            .store(stamp(next.epoch(), deadline), Ordering::Release);
        self.since
            .store(stamp(next.epoch(), Some(now)), Ordering::Release);
        if state == State::Open {
            self.trips.store(1, Ordering::Relaxed);
        }
        self.last_transition.store(cause.map(Arc::new));
        let since = self.clock.system_time(now);
        let open_until = match (state, open_for) {
            (State::Open | State::ForcedOpen, Some(d)) => since
                .checked_add(d)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(f64::INFINITY, |t| t.as_secs_f64()),
            (State::ForcedOpen, None) => f64::INFINITY,
            _ => f64::NAN,
        };
        self.observer
            .restored(state, next.epoch(), unix_seconds(since), open_until);
        true
    }
}
