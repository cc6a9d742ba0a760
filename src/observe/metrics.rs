//! Prometheus-style metrics through the `metrics` facade.
//!
//! Every handle a breaker needs is registered once, when the breaker is built, with the
//! recorder installed at that moment: a call increments pre-registered counters and records
//! into a pre-registered histogram, with no name lookup and no label allocation. The
//! transition counters are exported from 0 before they can move (see
//! [`transitions`](super::transitions)): the automatic ones and the operator ones out of
//! the initial state when the breaker is built, the operator ones out of any other state
//! when the breaker enters it, with the recorder in force then (the global recorder in an
//! application; in a test, make operator transitions inside `with_local_recorder` too).
//! The dry-run trip counters likewise appear, at 0, when the breaker first enters
//! `metrics_only`.
//!
//! With the feature `prometheus` and a recorder in force at build, the breaker also keeps
//! its own call-duration histogram, striped by thread (see `histogram`), which
//! `prometheus::render` writes; a breaker served by `render` only registers no histogram
//! and leaves its transition series at 0 to `render` (see `mode`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

use super::DurationHistogram;
#[cfg(feature = "prometheus")]
use super::duration::Bounds;
#[cfg(feature = "prometheus")]
use super::histogram::{Buckets, Durations};
use super::lifetime::CallCounters;
use super::mode::Mode;
use super::names::{self, MetricKind};
use super::scrape;
use super::transitions::TransitionCounters;
use crate::config::Config;
use crate::event::OutcomeTotals;
use crate::event::{Outcome, Transition};
use crate::state::{FallbackReason, Reason, State};
use crate::window::WindowCounts;

/// Registers the HELP text (and the unit, for `_seconds` metrics) of every breakerbox
/// metric with the recorder in force: the global recorder, or the local one inside
/// [`metrics::with_local_recorder`]. Also sets `breakerbox_process_start_time_seconds`
/// there: the time breakerbox started in this process (its first call of this function),
/// so a restart shows even when it hides the counters' reset between two scrapes.
///
/// Breakers call this when they are built, so an application rarely needs to; call it
/// after installing a recorder if that recorder should know the descriptions before the
/// first breaker exists. Describing twice is harmless.
///
/// ```
/// breakerbox::observe::describe_metrics();
/// ```
pub fn describe_metrics() {
    for m in names::METRICS {
        let unit = m.name.ends_with("_seconds").then_some(Unit::Seconds);
        metrics::with_recorder(|r| match m.kind {
            MetricKind::Counter => r.describe_counter(m.name.into(), unit, m.help.into()),
            MetricKind::Gauge => r.describe_gauge(m.name.into(), unit, m.help.into()),
            MetricKind::Histogram => r.describe_histogram(m.name.into(), unit, m.help.into()),
        });
    }
    metrics::gauge!(names::PROCESS_START_TIME_SECONDS).set(process_start());
}

/// Unix time in seconds at which breakerbox started in this process: the first time it
/// was asked.
fn process_start() -> f64 {
    static STARTED: OnceLock<f64> = OnceLock::new();
    *STARTED.get_or_init(|| crate::time::unix_seconds(std::time::SystemTime::now()))
}

/// The reasons a dry run can report (the Closed -> Open triggers).
const TRIGGERS: [Reason; 3] = [
    Reason::ConsecutiveFailures,
    Reason::FailureRate,
    Reason::SlowCallRate,
];

/// The outcomes of calls that ran, in index order.
const RAN: [Outcome; 4] = [
    Outcome::Success,
    Outcome::Failure,
    Outcome::Ignore,
    Outcome::Timeout,
];

/// The epoch field of the state word is 29 bits wide and wraps.
const EPOCH_MASK: u64 = u64::MAX >> 35;

#[inline]
fn ran_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Ignore => 2,
        Outcome::Timeout => 3,
    }
}

/// The newest state a breaker reported, by epoch: what its state gauges show.
#[derive(Debug, Clone, Copy)]
struct Shown {
    epoch: u64,
    state: State,
    since_unix: f64,
}

/// A breaker's metric handles.
pub(crate) struct Metrics {
    name: Arc<str>,
    /// `breakerbox_calls_total` and `breakerbox_slow_calls_total`.
    counters: CallCounters,
    fallbacks: [Counter; 3],
    duration: [Histogram; 4],
    /// Calls record their duration: some of `duration` are registered with a recorder
    /// (not no-ops), or the breaker keeps its own histogram (`own`).
    histograms: bool,
    /// The duration histograms kept by the breaker, striped by thread, for
    /// `prometheus::render` to write (see `histogram`): when a recorder is in force at
    /// build and the breaker keeps a histogram. Boxed: a breaker without one pays a pointer.
    #[cfg(feature = "prometheus")]
    own: Option<Box<Durations>>,
    state: [Gauge; 6],
    since: Gauge,
    open_until: Gauge,
    /// The newest state reported, by epoch: what the gauges show. Transitions reported out
    /// of order by racing threads never move it back to an older state.
    shown: Mutex<Shown>,
    /// Removed from its registry: its state gauges are no longer written (a breaker built
    /// later under the same name owns the series now).
    detached: AtomicBool,
    /// Rendered through `prometheus::render`, which publishes the state gauges before each
    /// render: a transition then leaves them to it and never waits for a render.
    published: AtomicBool,
    transitions: TransitionCounters,
    /// Registered at 0 when the breaker first enters `metrics_only` (or is built in it):
    /// only a dry run reports would-open trips.
    dry_run: OnceLock<[Counter; 3]>,
    failure_rate: Gauge,
    slow_call_rate: Gauge,
    window_calls: Gauge,
    config: [Gauge; 10],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new(
        name: &Arc<str>,
        config: &Config,
        state: State,
        since_unix: f64,
        histogram: DurationHistogram,
    ) -> Self {
        use names::*;
        describe_metrics();
        let mode = Mode::at_build();
        let b = || name.clone();
        let (state_gauges, since) = born_one_hot(name, state, since_unix);
        // The facade's no-op recorder has size zero (see `Mode::at_build`).
        let in_force = metrics::with_recorder(|r| std::mem::size_of_val(r) != 0);
        let registers = |o: Outcome| histogram.records(o) && !mode.render_only;
        let m = Metrics {
            name: name.clone(),
            counters: CallCounters::new(name),
            fallbacks: FallbackReason::ALL.map(|r| metrics::counter!(FALLBACKS_TOTAL, LABEL_BREAKER => b(), LABEL_REASON => r.as_str())),
            histograms: in_force && RAN.into_iter().any(registers),
            duration: RAN.map(|o| {
                if registers(o) {
                    metrics::histogram!(CALL_DURATION_SECONDS, LABEL_BREAKER => b(), LABEL_OUTCOME => o.as_str())
                } else {
                    Histogram::noop()
                }
            }),
            #[cfg(feature = "prometheus")]
            own: mode
                .own
                .then(|| Durations::new(histogram, Bounds::default(), mode.render_only).map(Box::new))
                .flatten(),
            state: state_gauges,
            since,
            open_until: metrics::gauge!(OPEN_UNTIL_TIMESTAMP_SECONDS, LABEL_BREAKER => b()),
            shown: Mutex::new(Shown {
                epoch: 0,
                state,
                since_unix,
            }),
            detached: AtomicBool::new(false),
            published: AtomicBool::new(false),
            transitions: TransitionCounters::new(name, state, mode.render_only),
            dry_run: OnceLock::new(),
            failure_rate: metrics::gauge!(FAILURE_RATE, LABEL_BREAKER => b()),
            slow_call_rate: metrics::gauge!(SLOW_CALL_RATE, LABEL_BREAKER => b()),
            window_calls: metrics::gauge!(WINDOW_CALLS, LABEL_BREAKER => b()),
            config: [
                CONFIG_FAILURE_THRESHOLD,
                CONFIG_FAILURE_RATE_THRESHOLD,
                CONFIG_SLOW_CALL_RATE_THRESHOLD,
                CONFIG_SLOW_CALL_DURATION_SECONDS,
                CONFIG_MIN_CALLS,
                CONFIG_RESET_TIMEOUT_SECONDS,
                CONFIG_HALF_OPEN_MAX_CALLS,
                CONFIG_BACKOFF_FACTOR,
                CONFIG_MAX_RESET_TIMEOUT_SECONDS,
                CONFIG_RESET_JITTER,
            ]
            .map(|metric| metrics::gauge!(metric, LABEL_BREAKER => b())),
        };
        #[cfg(feature = "prometheus")]
        let m = {
            let mut m = m;
            m.histograms |= m.own.is_some();
            m
        };
        if state == State::MetricsOnly {
            m.dry_run_counters();
        }
        scrape::built(m.counters.recorder(), name);
        m.write_state();
        m.open_until.set(f64::NAN);
        m.config(config);
        m.rates(WindowCounts::default(), config.min_calls());
        m
    }

    /// Writes the one-hot gauges (every state's gauge, so exactly one is 1) and the since
    /// gauge from the newest state reported, holding the scrape lock, so a render through
    /// [`prometheus::render`](super::prometheus::render) sees all of them or none.
    fn write_state(&self) {
        let _publishing = scrape::publishing();
        self.write_state_locked();
    }

    /// [`write_state`](Metrics::write_state) for a caller that holds the scrape lock.
    fn write_state_locked(&self) {
        if self.detached.load(Ordering::Relaxed) {
            return;
        }
        let shown = *self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        for (s, g) in State::ALL.iter().zip(&self.state) {
            g.set(if *s == shown.state { 1.0 } else { 0.0 });
        }
        self.since.set(shown.since_unix);
    }

    /// Publishes the state gauges for a render that holds the scrape lock; from now on the
    /// renders keep them current and transitions no longer write them.
    #[cfg(feature = "prometheus")]
    pub(crate) fn publish(&self) {
        self.published.store(true, Ordering::Relaxed);
        self.write_state_locked();
    }

    /// Publishes the lifetime counters from the breaker's totals `t` (read just before),
    /// for a render or a timer tick that holds the scrape lock; from now on calls leave
    /// them to the publishes. A removed breaker publishes nothing.
    #[cfg(any(feature = "prometheus", feature = "rt-tokio"))]
    pub(crate) fn publish_counters(&self, t: &OutcomeTotals) {
        if self.detached.load(Ordering::Relaxed) {
            return;
        }
        self.counters.publish(t);
    }

    /// Writes, for a render, the transition series owed at 0 and not registered.
    #[cfg(feature = "prometheus")]
    pub(crate) fn transition_zeros(&self, f: impl FnMut(super::transitions::TransitionKey)) {
        if !self.detached.load(Ordering::Relaxed) {
            self.transitions.for_each_zero(f);
        }
    }

    /// A call ran. Once its counters are published at scrape time, a breaker without a
    /// duration histogram has nothing to do here: that check is inlined into the call
    /// path, the rest is not (a call out of line cost its frame, 29 instructions, to
    /// find nothing to do).
    #[inline(always)]
    pub(crate) fn call(&self, outcome: Outcome, duration: Duration, slow: bool) {
        if !self.histograms && self.counters.published() {
            return;
        }
        self.call_recorded(outcome, duration, slow);
    }

    #[inline(never)]
    fn call_recorded(&self, outcome: Outcome, duration: Duration, slow: bool) {
        let i = ran_index(outcome);
        self.counters.call(i, slow);
        #[cfg(feature = "prometheus")]
        if let Some(own) = &self.own {
            own.record(i, duration);
            if own.rendered() {
                return;
            }
        }
        self.duration[i].record(duration.as_secs_f64());
    }

    /// Uses `bounds` for the breaker's own duration histograms (a breaker being built,
    /// before its first call). The facade's histograms keep the exporter's bounds.
    #[cfg(feature = "prometheus")]
    pub(crate) fn set_duration_buckets(&mut self, bounds: Bounds) {
        if let Some(own) = self.own.as_deref_mut() {
            own.set_bounds(bounds);
        }
    }

    /// The breaker's own duration histograms (by outcome index), for a render that holds
    /// the scrape lock; from now on calls record only there. `None` when it keeps none
    /// (no recorder at build, `DurationHistogram::Off`) or was removed.
    #[cfg(feature = "prometheus")]
    pub(crate) fn render_durations(&self) -> Option<[Option<Buckets>; 4]> {
        let own = self.own.as_deref()?;
        if self.detached.load(Ordering::Relaxed) {
            return None;
        }
        own.set_rendered();
        Some(own.snapshot())
    }

    /// Whether calls record their duration into a histogram: the breaker's own, or one
    /// registered with a recorder in force at build (without one, the facade's histograms
    /// are no-ops).
    pub(crate) fn times_durations(&self) -> bool {
        self.histograms
    }

    /// The recorder the breaker's series live in.
    pub(crate) fn recorder(&self) -> super::lifetime::RecorderId {
        self.counters.recorder()
    }

    /// The breaker's name.
    #[cfg(feature = "prometheus")]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn fallback(&self, reason: FallbackReason) {
        let i = match reason {
            FallbackReason::Rejected => 0,
            FallbackReason::Timeout => 1,
            FallbackReason::Failure => 2,
        };
        self.fallbacks[i].increment(1);
    }

    #[inline]
    pub(crate) fn rejected(&self) {
        self.counters.rejected();
    }

    pub(crate) fn transition(&self, t: &Transition, epoch: u64, since_unix: f64) {
        let newer = {
            let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
            let ahead = epoch.wrapping_sub(shown.epoch) & EPOCH_MASK;
            let newer = ahead != 0 && ahead <= EPOCH_MASK / 2;
            if newer {
                *shown = Shown {
                    epoch,
                    state: t.to,
                    since_unix,
                };
            }
            newer
        };
        if newer {
            self.open_until.set(open_until(t));
            if !self.published.load(Ordering::Relaxed) {
                self.write_state();
            }
        }
        if t.to == State::MetricsOnly {
            self.dry_run_counters();
        }
        self.transitions.record(t);
    }

    fn dry_run_counters(&self) -> &[Counter; 3] {
        self.dry_run
            .get_or_init(|| TRIGGERS.map(|r| dry_run_counter(&self.name, r)))
    }

    /// The breaker was removed from its registry (`totals` reads its lifetime totals): its
    /// series leave the rendered output, and a breaker built again under its name
    /// continues its counters.
    pub(crate) fn removed(&self, totals: impl FnOnce() -> OutcomeTotals) {
        let _publishing = scrape::publishing();
        self.detached.store(true, Ordering::Relaxed);
        self.counters.retire(&self.name, totals);
        scrape::removed(self.counters.recorder(), &self.name);
    }

    /// The breaker was restored from a state store into `state` (not a transition): its
    /// state gauges show it, and the series a transition into it would have created exist,
    /// at 0 (the operator transitions out of it; the dry-run trips of `metrics_only`).
    pub(crate) fn restored(&self, state: State, epoch: u64, since_unix: f64, open_until: f64) {
        self.transitions.enter(state);
        if state == State::MetricsOnly {
            self.dry_run_counters();
        }
        {
            let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
            *shown = Shown {
                epoch,
                state,
                since_unix,
            };
        }
        if !self.published.load(Ordering::Relaxed) {
            self.write_state();
        }
        self.open_until.set(open_until);
    }

    pub(crate) fn would_open(&self, t: &Transition) {
        match TRIGGERS.iter().position(|r| *r == t.reason) {
            Some(i) => self.dry_run_counters()[i].increment(1),
            None => dry_run_counter(&self.name, t.reason).increment(1),
        }
    }

    pub(crate) fn config(&self, c: &Config) {
        let values = [
            f64::from(c.failure_threshold()),
            c.failure_rate_threshold(),
            c.slow_call_rate_threshold(),
            c.slow_call_duration().as_secs_f64(),
            f64::from(c.min_calls()),
            c.reset_timeout().as_secs_f64(),
            f64::from(c.half_open_max_calls()),
            c.backoff_factor(),
            c.max_reset_timeout().as_secs_f64(),
            c.reset_jitter(),
        ];
        for (g, v) in self.config.iter().zip(values) {
            g.set(v);
        }
    }

    pub(crate) fn rates(&self, c: WindowCounts, min_calls: u32) {
        let or_nan = |r: Option<f64>| r.unwrap_or(f64::NAN);
        self.failure_rate.set(or_nan(c.failure_rate(min_calls)));
        self.slow_call_rate.set(or_nan(c.slow_call_rate(min_calls)));
        self.window_calls.set(c.calls as f64);
    }

    /// The state the one-hot gauges were last set to (for tests).
    #[cfg(test)]
    fn shown(&self) -> u64 {
        self.shown.lock().unwrap().epoch
    }
}

/// Registers the six state gauges and the since gauge of breaker `name` and writes them
/// (one-hot on `state`, since `since_unix`), holding the scrape lock: a series is born at 0
/// in the recorder, and no render may see a breaker with every state at 0.
fn born_one_hot(name: &Arc<str>, state: State, since_unix: f64) -> ([Gauge; 6], Gauge) {
    use names::{LABEL_BREAKER, LABEL_STATE, STATE, STATE_SINCE_TIMESTAMP_SECONDS};
    let _publishing = scrape::publishing();
    let gauges = State::ALL.map(|s| {
        let g = metrics::gauge!(STATE, LABEL_BREAKER => name.clone(), LABEL_STATE => s.as_str());
        g.set(if s == state { 1.0 } else { 0.0 });
        g
    });
    let since = metrics::gauge!(STATE_SINCE_TIMESTAMP_SECONDS, LABEL_BREAKER => name.clone());
    since.set(since_unix);
    (gauges, since)
}

impl Drop for Metrics {
    /// The breaker's last handle is gone: it no longer keeps its series in the render's
    /// count of live breakers (its series stay, as before, unless it was removed).
    fn drop(&mut self) {
        if !self.detached.load(Ordering::Relaxed) {
            scrape::dropped(self.counters.recorder(), &self.name);
        }
    }
}

/// Unix time in seconds until which the breaker entered by `t` stays open: the transition's
/// time plus its `open_for` (reset timeout with backoff and jitter, or a forced TTL);
/// +Inf when forced open without a TTL; NaN in a state that is not open. Float arithmetic:
/// a huge `open_for` gives a huge or infinite time, never a panic.
fn open_until(t: &Transition) -> f64 {
    match (t.to, t.open_for) {
        (State::Open | State::ForcedOpen, Some(d)) => {
            crate::time::unix_seconds(t.at) + d.as_secs_f64()
        }
        (State::ForcedOpen, None) => f64::INFINITY,
        _ => f64::NAN,
    }
}

fn dry_run_counter(name: &Arc<str>, reason: Reason) -> Counter {
    use names::*;
    metrics::counter!(DRY_RUN_TRIPS_TOTAL, LABEL_BREAKER => name.clone(), LABEL_REASON => reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    fn transition(from: State, to: State) -> Transition {
        Transition {
            breaker: "t".into(),
            from,
            to,
            reason: Reason::Manual,
            counts: WindowCounts::default(),
            failure_rate: None,
            slow_call_rate: None,
            consecutive_failures: 0,
            threshold: None,
            open_for: None,
            at: std::time::SystemTime::UNIX_EPOCH,
            fleet: None,
            restored: false,
        }
    }

    fn ones(rec: &DebuggingRecorder) -> Vec<String> {
        rec.snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(k, _, _, v)| {
                k.key().name() == names::STATE && *v == DebugValue::Gauge(1.0.into())
            })
            .map(|(k, ..)| k.key().labels().nth(1).unwrap().value().to_owned())
            .collect()
    }

    /// A closed breaker's metrics, registered with `rec`.
    fn built(rec: &DebuggingRecorder) -> Metrics {
        metrics::with_local_recorder(rec, || {
            Metrics::new(
                &"t".into(),
                &Config::default(),
                State::Closed,
                0.0,
                DurationHistogram::default(),
            )
        })
    }

    #[test]
    fn transitions_reported_out_of_order_never_move_the_state_gauge_back() {
        let rec = DebuggingRecorder::new();
        let m = built(&rec);
        // Epoch 2 (Open -> HalfOpen) is reported before epoch 1 (Closed -> Open).
        m.transition(&transition(State::Open, State::HalfOpen), 2, 2.0);
        assert_eq!(ones(&rec), ["half_open"]);
        m.transition(&transition(State::Closed, State::Open), 1, 1.0);
        assert_eq!(m.shown(), 2);
        // The debugging recorder zeroes gauges on snapshot: nothing was written since.
        assert!(ones(&rec).is_empty());
    }

    #[test]
    fn the_epoch_comparison_survives_wrapping() {
        let rec = DebuggingRecorder::new();
        let m = built(&rec);
        m.transition(&transition(State::Closed, State::Open), EPOCH_MASK / 2, 1.0);
        m.transition(
            &transition(State::Open, State::HalfOpen),
            EPOCH_MASK - 1,
            2.0,
        );
        m.transition(&transition(State::HalfOpen, State::Closed), 0, 3.0); // wrapped
        assert_eq!(m.shown(), 0);
        m.transition(
            &transition(State::Open, State::HalfOpen),
            EPOCH_MASK - 1,
            2.0,
        ); // stale
        assert_eq!(m.shown(), 0);
        assert_eq!(ones(&rec), ["closed"]);
    }

    fn gauge(rec: &DebuggingRecorder, name: &str) -> Option<f64> {
        rec.snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(k, ..)| k.key().name() == name)
            .and_then(|(.., v)| match v {
                DebugValue::Gauge(g) => Some(g.into_inner()),
                _ => None,
            })
    }

    #[test]
    fn the_open_deadline_is_the_transition_time_plus_its_open_time() {
        let rec = DebuggingRecorder::new();
        let m = built(&rec);
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
        // A grown (backoff) reset timeout of 30 s.
        let open = Transition {
            open_for: Some(Duration::from_secs(30)),
            at,
            ..transition(State::Closed, State::Open)
        };
        m.transition(&open, 1, 1_000.0);
        assert_eq!(
            gauge(&rec, names::OPEN_UNTIL_TIMESTAMP_SECONDS),
            Some(1_030.0)
        );
        let probing = Transition {
            at,
            ..transition(State::Open, State::HalfOpen)
        };
        m.transition(&probing, 2, 1_030.0);
        assert!(
            gauge(&rec, names::OPEN_UNTIL_TIMESTAMP_SECONDS)
                .unwrap()
                .is_nan()
        );
        let forced = transition(State::HalfOpen, State::ForcedOpen);
        m.transition(&forced, 3, 1_031.0);
        assert_eq!(
            gauge(&rec, names::OPEN_UNTIL_TIMESTAMP_SECONDS),
            Some(f64::INFINITY)
        );
        let huge = Transition {
            open_for: Some(Duration::MAX),
            at,
            ..transition(State::ForcedOpen, State::Open)
        };
        m.transition(&huge, 4, 1_032.0);
        assert!(gauge(&rec, names::OPEN_UNTIL_TIMESTAMP_SECONDS).unwrap() > 1e18);
    }

    #[test]
    fn the_backoff_settings_are_exported() {
        let rec = DebuggingRecorder::new();
        let cfg = Config::builder()
            .reset_timeout(Duration::from_secs(3))
            .backoff_factor(2.0)
            .max_reset_timeout(Duration::from_secs(60))
            .reset_jitter(0.25)
            .build()
            .unwrap();
        metrics::with_local_recorder(&rec, || {
            Metrics::new(
                &"t".into(),
                &cfg,
                State::Closed,
                0.0,
                DurationHistogram::default(),
            )
        });
        let all: Vec<_> = rec.snapshotter().snapshot().into_vec();
        let value = |name: &str| {
            all.iter()
                .find(|(k, ..)| k.key().name() == name)
                .map(|(.., v)| match v {
                    DebugValue::Gauge(g) => g.into_inner(),
                    _ => f64::NAN,
                })
        };
        assert_eq!(value(names::CONFIG_BACKOFF_FACTOR), Some(2.0));
        assert_eq!(value(names::CONFIG_MAX_RESET_TIMEOUT_SECONDS), Some(60.0));
        assert_eq!(value(names::CONFIG_RESET_JITTER), Some(0.25));
    }
}
