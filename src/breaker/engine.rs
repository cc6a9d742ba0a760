//! The engine behind a breaker handle: admission, outcome recording and transitions.
//! No lock and no allocation on the call path; transitions (rare) may allocate.

use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use crossbeam_utils::CachePadded;

use super::hot::HotConfig;
use super::snapshot::TransitionCounts;
use super::stamp::{stamp, unstamp};
use super::striped::StripedTotals;
use super::word::{StateCell, Word};
use crate::clock::{Clock, MonotonicClock, as_monotonic};
use crate::config::Config;
use crate::error::{BreakerOpen, Name};
use crate::event::{Event, Listeners, Transition, source_id};
use crate::observe::{DurationHistogram, Observer};
use crate::state::{Reason, State};
use crate::window::Window;

mod complete;
mod fleet;
mod restore;
mod stretch;
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
    /// `epoch << 5 | coarse << 4 | trial << 3 | state code`.
    word: u64,
    /// The clock reading at admission: [`Clock::recent`] for a call timed coarsely,
    /// [`Clock::now`] otherwise.
    pub(crate) start: u64,
}

impl Admission {
    #[inline]
    fn new(w: Word, trial: bool, coarse: bool, start: u64) -> Admission {
        Admission {
            word: (w.epoch() << 5) | (u64::from(coarse) << 4) | (u64::from(trial) << 3) | w.code(),
            start,
        }
    }

    /// The state epoch the call was admitted in.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.word >> 5
    }

    /// Whether the call is timed with the coarse clock (see [`Inner::admit`]).
    #[inline]
    pub(crate) fn coarse(&self) -> bool {
        self.word & 16 != 0
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

/// Why a call was refused: the state that refused it and how long until a trial is
/// admitted, if known. Small, so it travels in registers up to where the caller builds its
/// [`BreakerOpen`] ([`Inner::open_error`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    state: State,
    retry_after: Option<Duration>,
}

pub(crate) struct Inner {
    pub(crate) name: Arc<str>,
    /// The name as a rejection carries it, built once: a rejection copies it whole
    /// instead of zeroing an inline buffer and copying the name's bytes into it.
    open_name: Name,
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
    /// `clock` when it is the default [`MonotonicClock`]: read without the trait object.
    mono: Option<MonotonicClock>,
    pub(crate) consecutive: CachePadded<AtomicU32>,
    pub(crate) totals: StripedTotals,
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
    /// Transitions made, by `from`, `to` and `reason`.
    pub(crate) transition_counts: TransitionCounts,
    pub(crate) listeners: Arc<Listeners>,
    /// This breaker's id in its listener set (see [`Listeners::add_for`]).
    pub(crate) source: u64,
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
            open_name: Name::new(&name),
            name,
            state: StateCell::new(initial),
            hot: HotConfig::new(&config, observer.times_durations()),
            settings: ArcSwap::from_pointee(Settings::new(config, window.clone())),
            window,
            window_replaced: AtomicBool::new(false),
            mono: as_monotonic(&*clock).cloned(),
            clock,
            consecutive: CachePadded::new(AtomicU32::new(0)),
            totals: StripedTotals::default(),
            deadline: AtomicU64::new(stamp(0, None)),
            since: AtomicU64::new(stamp(0, Some(now))),
            last_trial_done: AtomicU64::new(0),
            trips: AtomicU32::new(0),
            rng: crate::backoff::Random::seeded(seed),
            fleet_gate: AtomicU64::new(0),
            last_transition: ArcSwapOption::empty(),
            transition_counts: TransitionCounts::default(),
            listeners,
            source: source_id(),
            observer,
        }
    }

    /// The clock's reading (see [`Clock::now`]), inlined for the default clock.
    #[inline(always)]
    pub(crate) fn now(&self) -> u64 {
        match &self.mono {
            Some(m) => m.now(),
            None => self.clock.now(),
        }
    }

    /// The clock's coarse reading (see [`Clock::recent`]), inlined for the default clock.
    #[inline(always)]
    pub(crate) fn recent(&self) -> u64 {
        match &self.mono {
            Some(m) => m.recent(),
            None => self.clock.recent(),
        }
    }

    /// Admits a call or says why not.
    ///
    /// The closed path is inlined into the caller; the others are not, so the admission
    /// is built where it is used instead of passing through memory.
    #[inline(always)]
    pub(crate) fn acquire(&self) -> Result<Admission, Refusal> {
        let w = self.state.load();
        if w.counts_calls() {
            return Ok(self.admit(w, false));
        }
        self.acquire_not_closed(w)
    }

    #[inline(never)]
    fn acquire_not_closed(&self, first: Word) -> Result<Admission, Refusal> {
        let mut w = first;
        loop {
            match w.state() {
                State::Closed | State::Disabled | State::MetricsOnly => {
                    return Ok(self.admit(w, false));
                }
                State::Open | State::ForcedOpen => {
                    let now = self.recent();
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

    /// Admits a call in `w`, timed with the coarse clock when its error (under one lag of
    /// [`Clock::recent`]) is at most 1 / [`COARSE_TIMING_FACTOR`] of `slow_call_duration`
    /// and `call_timeout`, and no duration histogram needs fine time (see
    /// [`HotConfig::coarse_nanos`]); with [`Clock::now`] otherwise.
    ///
    /// [`COARSE_TIMING_FACTOR`]: crate::COARSE_TIMING_FACTOR
    #[inline(always)]
    fn admit(&self, w: Word, trial: bool) -> Admission {
        let coarse = self.hot.coarse_nanos() >= self.coarse_from();
        let start = if coarse { self.recent() } else { self.now() };
        Admission::new(w, trial, coarse, start)
    }

    /// The shortest duration this breaker's clock times coarsely (`u64::MAX`: none).
    #[inline(always)]
    fn coarse_from(&self) -> u64 {
        match &self.mono {
            Some(_) => crate::clock::coarse_from(),
            None => self.coarse_from_dyn(),
        }
    }

    /// [`Inner::coarse_from`] of a clock other than the default one, out of line.
    #[inline(never)]
    fn coarse_from_dyn(&self) -> u64 {
        crate::clock::coarse_from_lag(self.clock.recent_lag())
    }

    /// The clock reading that ends the call `adm` admitted, by the same clock as its start.
    #[inline(always)]
    pub(crate) fn end_of(&self, adm: &Admission) -> u64 {
        if adm.coarse() {
            self.recent()
        } else {
            self.now()
        }
    }

    /// Reports a refused call (once, through the hook) and says why. Inlined into the
    /// admission that refuses (already out of the closed path).
    #[inline(always)]
    fn reject(&self, w: Word, retry_after: Option<u64>) -> Refusal {
        let refusal = Refusal {
            state: w.state(),
            retry_after: retry_after.map(Duration::from_nanos),
        };
        let event = Event::Rejected {
            breaker: &self.name,
            state: refusal.state,
            retry_after: refusal.retry_after,
        };
        self.emit(&event, w.epoch());
        refusal
    }

    /// The error of a refused call, built where the caller returns it (it holds the
    /// breaker's name: moving it through every layer would copy it each time).
    #[inline(always)]
    pub(crate) fn open_error(&self, refusal: Refusal) -> BreakerOpen {
        BreakerOpen {
            name: self.open_name.clone(),
            state: refusal.state,
            retry_after: refusal.retry_after,
        }
    }

    /// The one hook: every call, rejection and transition is reported here, once, as an
    /// event of epoch `epoch`. The observer sees it first (a metric counted per call is
    /// then never ahead of the lifetime totals a scrape publishes, see
    /// `observe::lifetime`), then the lifetime totals count it, then the listeners get it.
    #[inline(always)]
    pub(crate) fn emit(&self, event: &Event<'_>, epoch: u64) {
        self.observer.observe(event, epoch);
        match *event {
            Event::Call { outcome, slow, .. } => self.totals.call(outcome, slow),
            Event::Rejected { .. } => self.totals.rejected(),
            Event::Transition(_) | Event::WouldOpen(_) => {}
        }
        self.listeners.emit(event, self.source);
    }

    /// Reopens a HalfOpen breaker whose trial slots are all taken by trials that have run
    /// past `half_open_timeout`: the rule a call applies when it finds no free slot, applied
    /// without a call (by `poll_timeouts` and the eager timer), so a hung trial cannot keep
    /// an idle breaker half-open.
    pub(crate) fn reopen_if_trials_hung(&self) {
        let w = self.state.load();
        let hung = w.state() == State::HalfOpen
            && w.in_flight() > 0
            && w.in_flight() >= self.trial_limit(w)
            && self.half_open_timed_out(w);
        if hung {
            let _ = self.transition(w, State::Open, Reason::TimeoutElapsed);
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
