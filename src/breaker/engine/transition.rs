//! Transitions: the compare-and-swap of the state word and the winner's bookkeeping, the
//! open timeout with its backoff and jitter, and operator actions.

use crate::sync::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::stamp;
use super::{Inner, Settings, nanos};
use crate::breaker::word::Word;
use crate::config::Config;
use crate::event::{Event, FleetNumbers, Transition};
use crate::state::{Reason, State};

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
        self.transition_full(from, to, reason, ttl, None)
    }

    /// As [`transition_with`](Inner::transition_with), carrying the fleet's numbers of a
    /// fleet verdict into the reported transition.
    pub(crate) fn transition_full(
        &self,
        from: Word,
        to: State,
        reason: Reason,
        ttl: Option<Duration>,
        fleet: Option<FleetNumbers>,
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
        self.after_transition(&settings, from, next, to, reason, open_for, now, fleet);
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
        fleet: Option<FleetNumbers>,
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
            failure_rate: counts.failure_rate(cfg.min_calls()),
            slow_call_rate: counts.slow_call_rate(cfg.min_calls()),
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
            threshold: match reason {
                Reason::ConsecutiveFailures => Some(f64::from(cfg.failure_threshold())),
                Reason::FailureRate => Some(cfg.failure_rate_threshold()),
                Reason::SlowCallRate => Some(cfg.slow_call_rate_threshold()),
                // The fleet's trigger: its rate crossed this threshold fleet-wide.
                Reason::Fleet => fleet.map(|f| f.threshold),
                _ => None,
            },
            open_for,
            at: self.clock.system_time(now),
            fleet,
            restored: false,
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
            self.emit(&Event::WouldOpen(&t), next.epoch());
        } else {
            self.transition_counts.record(t.from, to, reason);
            self.emit(&Event::Transition(&t), next.epoch());
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

/// The engine's atomics (state word, consecutive failures, deadline, since-time) under
/// loom, through the real call path: a transition raced by two completions is won and
/// reported exactly once.
#[cfg(breakerbox_loom)]
mod loom_tests {
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    use std::time::Duration;

    use loom::sync::Arc;
    use loom::thread;

    use crate::clock::ManualClock;
    use crate::event::Event;
    use crate::{CircuitBreaker, Config, State};

    /// A breaker with `config` and a listener counting transitions into `to`.
    fn breaker(config: Config, to: State) -> (CircuitBreaker, std::sync::Arc<AtomicUsize>) {
        let b = CircuitBreaker::builder("loom")
            .config(config)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        b.subscribe(move |e: &Event<'_>| {
            if let Event::Transition(t) = e
                && t.to == to
            {
                count.fetch_add(1, StdOrdering::Relaxed);
            }
        });
        (b, seen)
    }

    /// Two failures racing to the consecutive-failure threshold trip the breaker once.
    #[test]
    fn racing_failures_trip_exactly_once() {
        loom::model(|| {
            let config = Config::builder().failure_threshold(2).build().unwrap();
            let (b, opened) = breaker(config, State::Open);
            let b = Arc::new(b);
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || {
                        if let Ok(p) = b.try_acquire() {
                            p.failure();
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(b.state(), State::Open);
            assert_eq!(opened.load(StdOrdering::Relaxed), 1);
        });
    }

    /// Two half-open trials succeeding at once close the breaker once, and no third call
    /// gets a trial slot meanwhile.
    #[test]
    fn racing_trial_successes_close_exactly_once() {
        loom::model(|| {
            let config = Config::builder()
                .success_threshold(2)
                .half_open_max_calls(2)
                .build()
                .unwrap();
            let (b, closed) = breaker(config, State::Closed);
            b.force_open_for(Duration::ZERO);
            let trials = [
                b.try_acquire_owned().unwrap(),
                b.try_acquire_owned().unwrap(),
            ];
            assert!(trials.iter().all(|p| p.is_trial()));
            assert!(b.try_acquire().is_err());
            let handles: Vec<_> = trials
                .into_iter()
                .map(|p| thread::spawn(move || p.success()))
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(b.state(), State::Closed);
            assert_eq!(closed.load(StdOrdering::Relaxed), 1);
        });
    }
}
