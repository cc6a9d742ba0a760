//! Transitions: the compare-and-swap of the state word and the winner's bookkeeping, the
//! open timeout with its backoff and jitter, and operator actions.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::stamp;
use super::{Inner, Settings, nanos, rate, unix_seconds};
use crate::config::Config;
use crate::event::{Event, Transition};
use crate::state::{Reason, State, Word};

impl Inner {
    /// Moves from `from` to `to` if the state word is still `from`. Only the winner of the
    /// compare-and-swap does the bookkeeping and reports the transition.
    pub(crate) fn transition(&self, from: Word, to: State, reason: Reason) -> Result<Word, Word> {
        self.transition_with(from, to, reason, None)
    }

    /// As [`transition`](Inner::transition), with a forced-open TTL. `to` may be the
    /// current state (an operator action): the breaker still enters a new epoch.
    ///
    /// Everything that can be computed is computed before the compare-and-swap, and none
    /// of it can panic: after the swap the winner first stores the new state's deadline
    /// and since-time, so no state is ever left without its deadline.
    pub(crate) fn transition_with(
        &self,
        from: Word,
        to: State,
        reason: Reason,
        ttl: Option<Duration>,
    ) -> Result<Word, Word> {
        let dry_run = from.state() == State::MetricsOnly && to == State::Open;
        let next = if dry_run {
            from.next(State::MetricsOnly)
        } else {
            from.next(to)
        };
        let settings = self.settings.load();
        let cfg = &settings.config;
        let now = self.clock.now();
        // Consecutive trips without recovery, for the backoff: kept by other transitions.
        let trips = match (next.state(), from.state()) {
            (State::Open, State::HalfOpen) => {
                Some(self.trips.load(Ordering::Relaxed).saturating_add(1))
            }
            (State::Open, _) => Some(1),
            (State::Closed, _) => Some(0),
            _ => None,
        };
        let open_for = match next.state() {
            State::Open => Some(self.open_timeout(trips.unwrap_or(1), cfg)),
            State::ForcedOpen => ttl,
            _ => None,
        };
        self.state.cas(from, next)?;
        if dry_run {
            let quiet_until = now.saturating_add(nanos(cfg.reset_timeout()));
            self.deadline
                .store(stamp(next.epoch(), Some(quiet_until)), Ordering::Release);
        } else {
            if next.state().rejects_calls() {
                let deadline = open_for.map(|d| now.saturating_add(nanos(d)));
                self.deadline
                    .store(stamp(next.epoch(), deadline), Ordering::Release);
            }
            self.since
                .store(stamp(next.epoch(), Some(now)), Ordering::Release);
            if let Some(trips) = trips {
                self.trips.store(trips, Ordering::Relaxed);
            }
        }
        self.after_transition(&settings, from, next, to, reason, open_for, now);
        Ok(next)
    }

    /// The winner's bookkeeping after the state word and its times are stored: the
    /// window, the counters, and the report to the observer and listeners.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn after_transition(
        &self,
        settings: &Settings,
        from: Word,
        next: Word,
        to: State,
        reason: Reason,
        open_for: Option<Duration>,
        now: u64,
    ) {
        let dry_run = next.state() != to;
        let cfg = &settings.config;
        let counts = settings.window.counts(now);
        let t = Transition {
            breaker: self.name.clone(),
            from: from.state(),
            to,
            reason,
            counts,
            failure_rate: rate(counts.failures, counts.calls, cfg.min_calls()),
            slow_call_rate: rate(counts.slow_calls, counts.calls, cfg.min_calls()),
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
            threshold: match reason {
                Reason::ConsecutiveFailures => Some(f64::from(cfg.failure_threshold())),
                Reason::FailureRate => Some(cfg.failure_rate_threshold()),
                Reason::SlowCallRate => Some(cfg.slow_call_rate_threshold()),
                _ => None,
            },
            open_for,
            at: self.clock.system_time(now),
        };
        // A dry run keeps measuring through a would-have-opened trip: its window stays.
        if !dry_run
            && matches!(
                next.state(),
                State::Closed | State::MetricsOnly | State::Disabled
            )
        {
            settings.window.clear();
            self.consecutive.store(0, Ordering::Relaxed);
        }
        if dry_run {
            self.observer.would_open(&t);
            self.listeners.emit(&Event::WouldOpen(&t));
        } else {
            let since_unix = unix_seconds(t.at);
            self.observer.transition(&t, next.epoch(), since_unix);
            self.listeners.emit(&Event::Transition(&t));
            self.last_transition.store(Some(Arc::new(t)));
        }
        self.observer
            .rates(settings.window.counts(now), cfg.min_calls());
    }

    /// The open timeout after `trips` consecutive trips: grown by the backoff, capped,
    /// jittered. Saturates at `Duration::MAX`; never panics.
    fn open_timeout(&self, trips: u32, cfg: &Config) -> Duration {
        crate::backoff::jitter(cfg.reset_timeout_for(trips), cfg.reset_jitter(), &self.rng)
    }

    /// Forces a state from any state (operator actions). Always a transition into a new
    /// epoch, also when the breaker is already in `to`: a reset of a Closed breaker empties
    /// the window, and outcomes of calls admitted before it are counted but not evaluated.
    pub(crate) fn force(&self, to: State, reason: Reason, ttl: Option<Duration>) {
        loop {
            let w = self.state.load();
            if self.transition_with(w, to, reason, ttl).is_ok() {
                return;
            }
        }
    }
}
