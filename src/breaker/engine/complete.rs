//! Completion: recording an admitted call's outcome, once, and returning what it did;
//! the window, the consecutive-failure count, the triggers and the half-open trials.

use std::time::Duration;

use super::unstamp;
use super::{Admission, Inner};
use crate::breaker::word::Word;
use crate::event::{Completion, Outcome};
use crate::state::{Reason, State};
use crate::sync::Ordering;
use crate::window::Window;

impl Inner {
    /// Records the outcome of an admitted call, counted exactly once whatever the state,
    /// and returns what the recording did.
    #[inline(always)]
    pub(crate) fn complete(&self, adm: Admission, outcome: Outcome) -> Completion {
        let end = self.end_of(&adm);
        let elapsed = end.saturating_sub(adm.start);
        let mut done = Completion {
            state: adm.state(),
            outcome,
            duration: Duration::from_nanos(elapsed),
            // A timed-out call is slow by definition, whatever its measured duration.
            slow: elapsed > self.hot.slow_nanos() || outcome == Outcome::Timeout,
            transition: None,
        };
        self.emit(&done.event(&self.name), adm.epoch());
        let slow = done.slow;
        done.transition = if adm.trial() {
            self.complete_trial(adm.epoch(), outcome, slow, end)
        } else if outcome == Outcome::Ignore {
            None
        } else {
            let settings;
            let window = if !self.window_replaced.load(Ordering::Acquire) {
                &*self.window
            } else {
                settings = self.settings.load();
                &*settings.window
            };
            self.complete_normal(adm.epoch(), outcome.is_failure(), slow, end, window)
        };
        done
    }

    /// Records the outcome of a call admitted through the permit API, out of line: the
    /// permit's methods are inlined into the caller and pass the admission in registers.
    #[inline(never)]
    pub(crate) fn record(&self, adm: Admission, outcome: Outcome) {
        let _ = self.complete(adm, outcome);
    }

    /// Records a permit dropped without an outcome: counted as ignored. Out of line, so
    /// a permit's drop (after its outcome was recorded) stays a flag check.
    #[inline(never)]
    pub(crate) fn complete_dropped(&self, adm: Admission) {
        let _ = self.complete(adm, Outcome::Ignore);
    }

    /// Records a call admitted in Closed, Disabled or MetricsOnly into `window`; returns
    /// the state it moved the breaker to, if its trip won.
    #[inline]
    fn complete_normal(
        &self,
        epoch: u64,
        failure: bool,
        slow: bool,
        now: u64,
        window: &Window,
    ) -> Option<State> {
        let w = self.state.load();
        if w.epoch() != epoch {
            return None; // admitted in an epoch that has ended: counted, but not evaluated
        }
        if !w.counts_calls() {
            return None;
        }
        window.record(now, failure, slow);
        let consecutive = if failure {
            self.consecutive.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            if self.consecutive.load(Ordering::Relaxed) != 0 {
                self.consecutive.store(0, Ordering::Relaxed);
            }
            0
        };
        if w.code() == State::Disabled.code() {
            return None;
        }
        let reason = self.trigger(consecutive, window)?;
        self.trip(w, reason, now)
    }

    /// A trigger fired on a call admitted in `w`: trips the breaker (a dry run reports
    /// a would-open, at most once per reset timeout).
    #[cold]
    #[inline(never)]
    fn trip(&self, w: Word, reason: Reason, now: u64) -> Option<State> {
        if w.state() == State::MetricsOnly && self.dry_run_quiet(w, now) {
            return None;
        }
        self.transition(w, State::Open, reason)
            .ok()
            .map(|next| next.state())
    }

    /// Whether a dry-run breaker "would still be open" from its last dry-run trip: for a
    /// reset timeout after it, triggers are not reported again, as a real breaker would not
    /// have seen those calls.
    #[cold]
    fn dry_run_quiet(&self, w: Word, now: u64) -> bool {
        matches!(unstamp(self.deadline.load(Ordering::Acquire), w.epoch()), Ok(Some(d)) if now < d)
    }

    /// The first trigger that fires, in reason order.
    #[inline]
    ///
    /// Without a failure or a slow call in the window no rate can trip, and the number of
    /// calls (summed from the buckets) is not read.
    fn trigger(&self, consecutive: u32, window: &Window) -> Option<Reason> {
        let hot = &self.hot;
        if consecutive >= hot.failure_threshold() {
            return Some(Reason::ConsecutiveFailures);
        }
        if window.rare_totals() == (0, 0) {
            return None;
        }
        let c = window.totals();
        if (c.failures == 0 && c.slow_calls == 0) || c.calls < u64::from(hot.min_calls()) {
            return None;
        }
        let calls = c.calls as f64;
        if c.failures as f64 / calls >= hot.failure_rate_threshold() {
            return Some(Reason::FailureRate);
        }
        if c.slow_calls as f64 / calls >= hot.slow_call_rate_threshold() {
            return Some(Reason::SlowCallRate);
        }
        None
    }

    /// Records a half-open trial; returns the state it moved the breaker to, if its
    /// transition won.
    fn complete_trial(&self, epoch: u64, outcome: Outcome, slow: bool, now: u64) -> Option<State> {
        self.last_trial_done.store(now, Ordering::Relaxed);
        let reopen = match outcome {
            Outcome::Failure | Outcome::Timeout => Some(Reason::HalfOpenFailure),
            Outcome::Success if slow => Some(Reason::HalfOpenSlowCall),
            _ => None,
        };
        if let Some(reason) = reopen {
            let mut w = self.state.load();
            while w.state() == State::HalfOpen && w.epoch() == epoch {
                match self.transition(w, State::Open, reason) {
                    Ok(next) => return Some(next.state()),
                    Err(found) => w = found,
                }
            }
            return None;
        }
        let mut w = self
            .state
            .release_trial(epoch, outcome == Outcome::Success)?;
        while w.state() == State::HalfOpen
            && w.epoch() == epoch
            && w.successes() >= self.hot.success_threshold()
        {
            match self.transition(w, State::Closed, Reason::HalfOpenSuccess) {
                Ok(next) => return Some(next.state()),
                Err(found) => w = found,
            }
        }
        None
    }
}
