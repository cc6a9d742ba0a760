//! Events: every call outcome, rejection and transition, delivered to [`Listener`]s.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::state::{Reason, State};
use crate::window::WindowCounts;

/// How a call ended, as a classifier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The dependency did its job.
    Success,
    /// The dependency failed; counts toward tripping the breaker.
    Failure,
    /// Neither (e.g. a 404, a validation error, a cancelled call): counted as `ignored`,
    /// never toward a trip.
    Ignore,
    /// The call ran longer than the breaker's
    /// [`call_timeout`](crate::Config::call_timeout): a failure, and slow by definition.
    /// Set by the breaker, not by classifiers (a classifier returning it is taken as is).
    Timeout,
}

impl Outcome {
    /// The label value: `success`, `failure`, `ignored` or `timeout`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignore => "ignored",
            Outcome::Timeout => "timeout",
        }
    }

    /// Whether the outcome counts toward a trip: `Failure` and `Timeout`.
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::Failure | Outcome::Timeout)
    }

    /// The default classification of a `Result`: `Ok` is a success, `Err` a failure.
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change and the numbers that caused it: the answer to "why did it open?".
///
/// Every operator action is a transition, also one on the state the breaker is already in:
/// then `from == to` (a reset of a Closed breaker is `Closed -> Closed`, reason `Manual`),
/// and the breaker has entered a new epoch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The breaker's name.
    pub breaker: Arc<str>,
    /// The state left.
    pub from: State,
    /// The state entered. For a dry-run trip of a `MetricsOnly` breaker this is `Open`
    /// although the breaker stays `MetricsOnly`.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// The window's counts at that moment.
    pub counts: WindowCounts,
    /// Failure rate over the window, `None` below `min_calls`.
    pub failure_rate: Option<f64>,
    /// Slow-call rate over the window, `None` below `min_calls`.
    pub slow_call_rate: Option<f64>,
    /// Consecutive failures at that moment.
    pub consecutive_failures: u32,
    /// The threshold of the trigger that fired (a rate, or the failure count), if any.
    pub threshold: Option<f64>,
    /// How long the breaker will stay open (Open, or ForcedOpen with a TTL).
    pub open_for: Option<Duration>,
    /// Wall-clock time of the transition.
    pub at: SystemTime,
    /// For a transition decided by the fleet (reason [`Reason::Fleet`] on a fleet
    /// verdict): the fleet's numbers that tripped it, where `counts` and the rates are this
    /// replica's own window. `None` otherwise, and for a fleet probe result (a
    /// half-open round decided by another replica's trials).
    pub fleet: Option<FleetNumbers>,
    /// Made before a restart and read back from a state store: the breaker started in `to`
    /// without a transition, and `from`, `reason`, `at` and `open_for` are the persisted
    /// record's (the window's numbers are not kept). Only a breaker's
    /// [`Snapshot::last_transition`](crate::Snapshot::last_transition) holds such a
    /// transition; listeners never receive one.
    pub restored: bool,
}

/// The fleet's numbers behind a fleet verdict: the window summed over the live replicas,
/// the rate that crossed its threshold, and how many replicas saw failures (or slow
/// calls). "12 calls at 50% failures over 2 replicas".
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct FleetNumbers {
    /// Calls with an outcome in the fleet window, summed over the live replicas.
    pub calls: u64,
    /// Failed calls among them.
    pub failures: u64,
    /// Slow calls among them.
    pub slow_calls: u64,
    /// `failures / calls`.
    pub failure_rate: f64,
    /// `slow_calls / calls`.
    pub slow_call_rate: f64,
    /// Live replicas with at least one failure in the window.
    pub replicas_failing: u32,
    /// Live replicas with at least one slow call in the window.
    pub replicas_slow: u32,
    /// Which rate tripped it: [`Reason::FailureRate`] or [`Reason::SlowCallRate`].
    pub trigger: Reason,
    /// That rate's threshold (the breaker's own).
    pub threshold: f64,
    /// The fleet's quorum: replicas that had to see failures (slow calls).
    pub quorum: u32,
}

impl FleetNumbers {
    /// The replicas that saw what tripped it: failures, or slow calls for the slow-call
    /// rate.
    pub fn replicas(&self) -> u32 {
        match self.trigger {
            Reason::SlowCallRate => self.replicas_slow,
            _ => self.replicas_failing,
        }
    }

    /// The rate that tripped it.
    pub fn rate(&self) -> f64 {
        match self.trigger {
            Reason::SlowCallRate => self.slow_call_rate,
            _ => self.failure_rate,
        }
    }
}

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
impl Transition {
    /// A transition built by hand, for tests of your own listeners, notifiers, alert
    /// routing or dashboards (feature `test-util`): empty window, no rates, no threshold,
    /// `at` now. Every field is public: set the numbers your test needs.
    ///
    /// ```
    /// use breakerbox::{Reason, State, Transition};
    /// use std::time::Duration;
    ///
    /// let mut t = Transition::for_test("postgres", State::Closed, State::Open, Reason::FailureRate);
    /// t.counts.calls = 20;
    /// t.counts.failures = 12;
    /// t.failure_rate = Some(0.6);
    /// t.threshold = Some(0.5);
    /// t.open_for = Some(Duration::from_secs(30));
    /// assert_eq!(&*t.breaker, "postgres");
    /// ```
    ///
    /// With the `notify` feature, `Notification::new(kind, transition)` turns it into the
    /// notice every channel receives.
    pub fn for_test(
        breaker: impl Into<Arc<str>>,
        from: State,
        to: State,
        reason: Reason,
    ) -> Transition {
        Transition {
            breaker: breaker.into(),
            from,
            to,
            reason,
            counts: WindowCounts::default(),
            failure_rate: None,
            slow_call_rate: None,
            consecutive_failures: 0,
            threshold: None,
            open_for: None,
            at: SystemTime::now(),
            fleet: None,
            restored: false,
        }
    }
}

/// Lifetime totals by outcome, in the order of the metrics' `outcome` label (success,
/// failure, ignored, timeout): what the lifetime counter series publish.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutcomeTotals {
    /// Calls that ran, by outcome.
    pub(crate) calls: [u64; 4],
    /// Calls refused.
    pub(crate) rejected: u64,
    /// Slow calls, by outcome (every timeout is slow).
    pub(crate) slow: [u64; 4],
}

/// One event. Borrowed, so emitting it allocates nothing.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A permitted call finished (or its permit was dropped: then `Ignore`).
    Call {
        /// The breaker's name.
        breaker: &'a str,
        /// The state in which the call was admitted.
        state: State,
        /// How it ended.
        outcome: Outcome,
        /// How long it ran.
        duration: Duration,
        /// Whether it ran longer than `slow_call_duration`.
        slow: bool,
    },
    /// A call was refused.
    Rejected {
        /// The breaker's name.
        breaker: &'a str,
        /// The state that refused it.
        state: State,
        /// How long until a trial is admitted, if known.
        retry_after: Option<Duration>,
    },
    /// The breaker changed state.
    Transition(&'a Transition),
    /// A `MetricsOnly` breaker would have opened.
    WouldOpen(&'a Transition),
}

impl Event<'_> {
    /// The name of the breaker the event is about.
    pub fn breaker(&self) -> &str {
        match self {
            Event::Call { breaker, .. } | Event::Rejected { breaker, .. } => breaker,
            Event::Transition(t) | Event::WouldOpen(t) => &t.breaker,
        }
    }
}

/// What recording one call's outcome did, returned by the engine as a value: the caller
/// (the span around the call) reads the duration and whether it was slow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Completion {
    /// The state in which the call was admitted.
    pub(crate) state: State,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// How long it ran, by the breaker's clock.
    pub(crate) duration: Duration,
    /// Whether it ran longer than `slow_call_duration` (every timeout is slow).
    pub(crate) slow: bool,
    /// The state this outcome moved the breaker to, if its transition won.
    pub(crate) transition: Option<State>,
}

impl Completion {
    /// The event that reports this completion of a call through breaker `breaker`.
    #[inline]
    pub(crate) fn event(self, breaker: &str) -> Event<'_> {
        Event::Call {
            breaker,
            state: self.state,
            outcome: self.outcome,
            duration: self.duration,
            slow: self.slow,
        }
    }
}

/// Receives events. Called on the call path: keep it quick and never block (hand work to
/// a queue with `try_send`). A listener that panics is disabled and the panic is not
/// propagated to the call.
///
/// Closures `Fn(&Event)` are listeners.
pub trait Listener: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Listener for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event)
    }
}

/// A new emitter id for [`Listeners::add_for`] and [`Listeners::emit`]: every breaker
/// takes one when it is built, so a listener of one breaker of a registry's shared set
/// receives that breaker's events only. Never 0 (which means "every breaker").
pub(crate) fn source_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Identifies a subscribed listener, to unsubscribe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

struct Entry {
    id: u64,
    listener: Arc<dyn Listener>,
    disabled: AtomicBool,
    /// Gets transitions and would-opens only, never calls or rejections.
    transitions_only: bool,
    /// The one breaker (by [`Listeners::add_for`] id) whose events it receives; 0 for
    /// every breaker of the set.
    only: u64,
}

/// A set of listeners, swapped atomically so emitting takes no lock.
pub(crate) struct Listeners {
    list: ArcSwap<Vec<Arc<Entry>>>,
    /// Listeners of every event: the call path reads only this.
    len: AtomicUsize,
    /// Every listener, those of transitions only included.
    any: AtomicUsize,
    next_id: AtomicU64,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners {
            list: ArcSwap::from_pointee(Vec::new()),
            len: AtomicUsize::new(0),
            any: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
        }
    }
}

impl Listeners {
    pub(crate) fn add(&self, listener: Arc<dyn Listener>) -> ListenerId {
        self.insert(listener, false, 0)
    }

    /// Adds a listener of the events of one breaker of the set: the one that emits with
    /// `source` (a [`source_id`]).
    pub(crate) fn add_for(&self, source: u64, listener: Arc<dyn Listener>) -> ListenerId {
        self.insert(listener, false, source)
    }

    /// Adds a listener of transitions and would-opens only: calls and rejections skip it,
    /// so it costs the call path nothing.
    pub(crate) fn add_transitions_only(&self, listener: Arc<dyn Listener>) -> ListenerId {
        self.insert(listener, true, 0)
    }

    fn insert(&self, listener: Arc<dyn Listener>, transitions_only: bool, only: u64) -> ListenerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            id,
            listener,
            disabled: AtomicBool::new(false),
            transitions_only,
            only,
        });
        self.list.rcu(|list| {
            let mut list = Vec::clone(list);
            list.push(entry.clone());
            list
        });
        self.recount();
        ListenerId(id)
    }

    fn recount(&self) {
        let list = self.list.load();
        let all = list.iter().filter(|e| !e.transitions_only).count();
        self.len.store(all, Ordering::Release);
        self.any.store(list.len(), Ordering::Release);
    }

    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let mut found = false;
        self.list.rcu(|list| {
            let kept: Vec<_> = list.iter().filter(|e| e.id != id.0).cloned().collect();
            found = kept.len() != list.len();
            kept
        });
        self.recount();
        found
    }

    /// Delivers `event`, emitted by the breaker with id `source`, to every enabled
    /// listener that wants it; a listener that panics is disabled. Without a listener of every event, a call or a rejection costs one
    /// atomic load here.
    #[inline]
    pub(crate) fn emit(&self, event: &Event<'_>, source: u64) {
        let wanted = match event {
            Event::Transition(_) | Event::WouldOpen(_) => &self.any,
            _ => &self.len,
        };
        if wanted.load(Ordering::Acquire) == 0 {
            return;
        }
        self.emit_slow(event, source);
    }

    #[cold]
    fn emit_slow(&self, event: &Event<'_>, source: u64) {
        let list = self.list.load();
        let transition = matches!(event, Event::Transition(_) | Event::WouldOpen(_));
        for entry in list.iter() {
            if entry.disabled.load(Ordering::Relaxed)
                || (entry.transitions_only && !transition)
                || (entry.only != 0 && entry.only != source)
            {
                continue;
            }
            let result = catch_unwind(AssertUnwindSafe(|| entry.listener.on_event(event)));
            if result.is_err() {
                entry.disabled.store(true, Ordering::Relaxed);
                #[cfg(feature = "tracing")]
                tracing::error!(
                    target: "breakerbox",
                    breaker = event.breaker(),
                    "a breakerbox listener panicked and was disabled"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting(n: &Arc<AtomicUsize>) -> Arc<dyn Listener> {
        let n = n.clone();
        Arc::new(move |_: &Event<'_>| {
            n.fetch_add(1, Ordering::Relaxed);
        })
    }

    #[test]
    fn transitions_only_listeners_skip_calls_and_rejections() {
        let set = Listeners::default();
        let transitions = Arc::new(AtomicUsize::new(0));
        set.add_transitions_only(counting(&transitions));
        // The call path still sees no listener at all.
        assert_eq!(set.len.load(Ordering::Relaxed), 0);
        let call = Event::Call {
            breaker: "a",
            state: State::Closed,
            outcome: Outcome::Success,
            duration: Duration::ZERO,
            slow: false,
        };
        let rejected = Event::Rejected {
            breaker: "a",
            state: State::Open,
            retry_after: None,
        };
        let t = Transition {
            breaker: "a".into(),
            from: State::Closed,
            to: State::Open,
            reason: Reason::FailureRate,
            counts: WindowCounts::default(),
            failure_rate: None,
            slow_call_rate: None,
            consecutive_failures: 0,
            threshold: None,
            open_for: None,
            at: SystemTime::now(),
            fleet: None,
            restored: false,
        };
        for e in [call, rejected, Event::Transition(&t), Event::WouldOpen(&t)] {
            set.emit(&e, 1);
        }
        assert_eq!(transitions.load(Ordering::Relaxed), 2);

        let every = Arc::new(AtomicUsize::new(0));
        let id = set.add(counting(&every));
        for e in [call, rejected, Event::Transition(&t)] {
            set.emit(&e, 1);
        }
        assert_eq!(every.load(Ordering::Relaxed), 3);
        assert_eq!(transitions.load(Ordering::Relaxed), 3);
        assert!(set.remove(id));
        assert_eq!(set.len.load(Ordering::Relaxed), 0);
        assert_eq!(set.any.load(Ordering::Relaxed), 1);
    }
}
