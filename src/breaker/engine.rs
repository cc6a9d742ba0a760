//! The engine behind a breaker handle: admission, outcome recording and transitions.
//! No lock and no allocation on the call path; transitions (rare) may allocate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use crossbeam_utils::CachePadded;

use super::counters::Counters;
use super::hot::HotConfig;
use super::stamp::{stamp, unstamp};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{BreakerOpen, Name};
use crate::event::{Event, Listeners, Outcome, Transition};
use crate::observe::{DurationHistogram, Observer};
use crate::state::{Reason, State, StateCell, Word};
use crate::window::Window;

mod fleet;
mod restore;
mod transition;

/// A config with the window it shapes.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) window: Arc<Window>,
}

impl Settings {
    pub(crate) fn new(config: Config, window: Arc<Window>) -> Settings {
        Settings { config, window }
    }
}

pub(crate) use crate::time::{nanos, unix_seconds};

/// What a permit remembers about its admission. Two words, so that it travels in
/// registers: as a struct of four fields it went through the stack, and reading it back
/// stalled on store forwarding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admission {
    /// `epoch << 4 | trial << 3 | state code`.
    word: u64,
    pub(crate) start: u64,
}

impl Admission {
    #[inline]
    fn new(epoch: u64, state: State, trial: bool, start: u64) -> Admission {
        Admission {
            word: (epoch << 4) | (u64::from(trial) << 3) | state.code(),
            start,
        }
    }

    /// The state epoch the call was admitted in.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.word >> 4
    }

    /// The state that admitted the call.
    #[inline]
    pub(crate) fn state(&self) -> State {
        State::from_code(self.word & 7)
    }

    /// Whether the call is a half-open trial.
    #[inline]
    pub(crate) fn trial(&self) -> bool {
        self.word & 8 != 0
    }
}

pub(crate) struct Inner {
    pub(crate) name: Arc<str>,
    pub(crate) state: StateCell,
    pub(crate) settings: ArcSwap<Settings>,
    /// The call path's copy of the config values it reads.
    pub(crate) hot: HotConfig,
    /// The breaker's first window, which calls record into without an `arc-swap` load
    /// until a new config changes the window's shape and sets `window_replaced`; from then
    /// on the window is read from `settings`.
    window: Arc<Window>,
    window_replaced: AtomicBool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) consecutive: CachePadded<AtomicU32>,
    pub(crate) counters: Counters,
    /// Deadline of Open / ForcedOpen, stamped with its epoch.
    deadline: AtomicU64,
    /// When the current state began, stamped with its epoch.
    since: AtomicU64,
    /// Last completion of a half-open trial (nanoseconds).
    last_trial_done: AtomicU64,
    /// Consecutive trips without recovery, for the backoff.
    trips: AtomicU32,
    rng: crate::backoff::Random,
    /// The half-open trial slots a fleet grants this replica (see `engine/fleet.rs`);
    /// 0 when no fleet coordinates the breaker.
    fleet_gate: AtomicU64,
    pub(crate) last_transition: ArcSwapOption<Transition>,
    pub(crate) listeners: Arc<Listeners>,
    pub(crate) observer: Observer,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &self.state.load().state())
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn new(
        name: Arc<str>,
        config: Config,
        initial: State,
        clock: Arc<dyn Clock>,
        listeners: Arc<Listeners>,
        histogram: DurationHistogram,
    ) -> Inner {
        let window = Arc::new(Window::new(config.window(), config.window_buckets()));
        let now = clock.now();
        let since_unix = unix_seconds(clock.system_time(now));
        let observer = Observer::new(&name, &config, initial, since_unix, histogram);
        let seed = now ^ (Arc::as_ptr(&window) as u64).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
        Inner {
            name,
            state: StateCell::new(initial),
            hot: HotConfig::new(&config),
            settings: ArcSwap::from_pointee(Settings::new(config, window.clone())),
            window,
            window_replaced: AtomicBool::new(false),
            clock,
            consecutive: CachePadded::new(AtomicU32::new(0)),
            counters: Counters::default(),
            deadline: AtomicU64::new(stamp(0, None)),
            since: AtomicU64::new(stamp(0, Some(now))),
            last_trial_done: AtomicU64::new(0),
            trips: AtomicU32::new(0),
            rng: crate::backoff::Random::seeded(seed),
            fleet_gate: AtomicU64::new(0),
            last_transition: ArcSwapOption::empty(),
            listeners,
            observer,
        }
    }

    /// Admits a call or says why not.
    ///
    /// The closed path is inlined into the caller; the others are not, so the admission
    /// is built where it is used instead of passing through memory.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<Admission, BreakerOpen> {
        let w = self.state.load();
        if w.state().counts_calls() {
            return Ok(self.admit(w, false));
        }
        self.acquire_not_closed(w)
    }

    #[inline(never)]
    fn acquire_not_closed(&self, first: Word) -> Result<Admission, BreakerOpen> {
        let mut w = first;
        loop {
            match w.state() {
                State::Closed | State::Disabled | State::MetricsOnly => {
                    return Ok(self.admit(w, false));
                }
                State::Open | State::ForcedOpen => {
                    let now = self.clock.recent();
                    match unstamp(self.deadline.load(Ordering::Acquire), w.epoch()) {
                        Ok(Some(deadline)) if now >= deadline => {
                            let _ = self.transition(w, State::HalfOpen, Reason::TimeoutElapsed);
                        }
                        Ok(Some(deadline)) => {
                            return Err(self.reject(w, Some(deadline - now)));
                        }
                        Ok(None) => return Err(self.reject(w, None)),
                        Err(()) => {
                            let wait = nanos(self.settings.load().config.reset_timeout());
                            let wait = (w.state() == State::Open).then_some(wait);
                            return Err(self.reject(w, wait));
                        }
                    }
                }
                State::HalfOpen => {
                    let max = self.trial_limit(w);
                    match self.state.try_take_trial(max) {
                        Ok(taken) => return Ok(self.admit(taken, true)),
                        Err(found) if found.state() != State::HalfOpen => {}
                        Err(found) => {
                            if !self.half_open_timed_out(found) {
                                return Err(self.reject(found, None));
                            }
                            let _ = self.transition(found, State::Open, Reason::TimeoutElapsed);
                        }
                    }
                }
            }
            w = self.state.load();
        }
    }

    #[inline]
    fn admit(&self, w: Word, trial: bool) -> Admission {
        Admission::new(w.epoch(), w.state(), trial, self.clock.now())
    }

    #[cold]
    fn reject(&self, w: Word, retry_after: Option<u64>) -> BreakerOpen {
        let retry_after = retry_after.map(Duration::from_nanos);
        // The observer first: a metric counted per call is then never ahead of the
        // lifetime counters a scrape publishes (see `observe::lifetime`).
        self.observer.rejected(w.state());
        self.counters.rejected();
        self.listeners.emit(&Event::Rejected {
            breaker: &self.name,
            state: w.state(),
            retry_after,
        });
        BreakerOpen {
            name: Name::new(&self.name),
            state: w.state(),
            retry_after,
        }
    }

    fn half_open_timed_out(&self, w: Word) -> bool {
        let Ok(Some(since)) = unstamp(self.since.load(Ordering::Acquire), w.epoch()) else {
            return false;
        };
        let active = since.max(self.last_trial_done.load(Ordering::Relaxed));
        let timeout = nanos(self.settings.load().config.half_open_timeout());
        self.clock.now().saturating_sub(active) > timeout
    }

    /// Records the outcome of an admitted call. Counted exactly once, whatever the state.
    pub(crate) fn complete(&self, adm: Admission, outcome: Outcome) {
        let end = self.clock.now();
        let elapsed = end.saturating_sub(adm.start);
        // A timed-out call is slow by definition, whatever its measured duration.
        let slow = elapsed > self.hot.slow_nanos() || outcome == Outcome::Timeout;
        let duration = Duration::from_nanos(elapsed);
        // The observer first: a metric counted per call is then never ahead of the
        // lifetime counters a scrape publishes (see `observe::lifetime`).
        self.observer.call(adm.state(), outcome, duration, slow);
        self.counters.call(outcome, slow);
        self.listeners.emit(&Event::Call {
            breaker: &self.name,
            state: adm.state(),
            outcome,
            duration,
            slow,
        });
        if adm.trial() {
            self.complete_trial(adm.epoch(), outcome, slow, end);
        } else if outcome != Outcome::Ignore {
            let failure = outcome.is_failure();
            if !self.window_replaced.load(Ordering::Acquire) {
                self.complete_normal(adm.epoch(), failure, slow, end, &self.window);
            } else {
                let settings = self.settings.load();
                self.complete_normal(adm.epoch(), failure, slow, end, &settings.window);
            }
        }
    }

    #[inline]
    fn complete_normal(&self, epoch: u64, failure: bool, slow: bool, now: u64, window: &Window) {
        let w = self.state.load();
        if w.epoch() != epoch {
            return; // admitted in an epoch that has ended: counted, but not evaluated
        }
        let state = w.state();
        if !matches!(state, State::Closed | State::MetricsOnly | State::Disabled) {
            return;
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
        if state == State::Disabled {
            return;
        }
        if let Some(reason) = self.trigger(consecutive, window) {
            if state == State::MetricsOnly && self.dry_run_quiet(w, now) {
                return;
            }
            let _ = self.transition(w, State::Open, reason);
        }
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

    fn complete_trial(&self, epoch: u64, outcome: Outcome, slow: bool, now: u64) {
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
                    Ok(_) => return,
                    Err(found) => w = found,
                }
            }
            return;
        }
        let Some(mut w) = self.state.release_trial(epoch, outcome == Outcome::Success) else {
            return;
        };
        while w.state() == State::HalfOpen
            && w.epoch() == epoch
            && w.successes() >= self.hot.success_threshold()
        {
            match self.transition(w, State::Closed, Reason::HalfOpenSuccess) {
                Ok(_) => return,
                Err(found) => w = found,
            }
        }
    }

    /// Remaining open time, if the breaker is Open or ForcedOpen with a deadline.
    pub(crate) fn retry_after(&self, w: Word) -> Option<Duration> {
        if !w.state().rejects_calls() {
            return None;
        }
        let deadline = unstamp(self.deadline.load(Ordering::Acquire), w.epoch()).ok()??;
        Some(Duration::from_nanos(
            deadline.saturating_sub(self.clock.now()),
        ))
    }

    /// When the current state began (monotonic nanoseconds).
    pub(crate) fn since(&self, w: Word) -> u64 {
        unstamp(self.since.load(Ordering::Acquire), w.epoch())
            .ok()
            .flatten()
            .unwrap_or_else(|| self.clock.now())
    }

    /// Applies a new config; the state, epoch and window counts are kept.
    pub(crate) fn set_config(&self, config: Config) {
        let old = self.settings.load_full();
        let window = if old
            .window
            .same_shape(config.window(), config.window_buckets())
        {
            old.window.clone()
        } else {
            let now = self.clock.now();
            let w = Arc::new(Window::new(config.window(), config.window_buckets()));
            w.carry_over(now, old.window.counts(now));
            w
        };
        self.observer.config(&config);
        self.hot.store(&config);
        let replaced = !Arc::ptr_eq(&window, &self.window);
        self.settings.store(Arc::new(Settings::new(config, window)));
        if replaced {
            // After the store: a call that sees the flag finds the new window in `settings`.
            self.window_replaced.store(true, Ordering::Release);
        }
    }
}

/// `num / calls`, or `None` below `min_calls` (never a sentinel).
pub(crate) fn rate(num: u64, calls: u64, min_calls: u32) -> Option<f64> {
    (calls > 0 && calls >= u64::from(min_calls)).then(|| num as f64 / calls as f64)
}
