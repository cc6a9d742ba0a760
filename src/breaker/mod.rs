//! The [`CircuitBreaker`] handle: call paths, permits and operator controls.

mod builder;
mod call;
mod engine;
mod hot;
mod permit;
mod run;
mod snapshot;
mod stamp;
mod striped;
mod timeout;
mod word;

use crate::sync::Ordering;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::{BreakerOpen, CallError};
use crate::event::{Listener, ListenerId, Outcome, OutcomeTotals};
use crate::observe::{Observer, SpanPolicy};
use crate::state::{Reason, State};

pub use builder::CircuitBreakerBuilder;
pub(crate) use engine::Inner;
pub use permit::{OwnedPermit, Permit};
pub use snapshot::{CallTotals, Snapshot, TransitionCount};
pub use timeout::CallTimeout;

/// A named circuit breaker. A cheap handle: clones share one breaker (state, window,
/// counters), so pass clones to tasks freely.
///
/// ```
/// use breakerbox::{CallError, CircuitBreaker, Config};
///
/// # tokio_test_block_on(async {
/// let breaker = CircuitBreaker::builder("inventory")
///     .config(Config::builder().failure_threshold(2).build()?)
///     .build()?;
///
/// for _ in 0..2 {
///     let r: Result<(), CallError<&str>> = breaker.call(async { Err("boom") }).await;
///     assert!(matches!(r, Err(CallError::Inner("boom"))));
/// }
/// // Two consecutive failures: the breaker is open and refuses calls at once.
/// let r = breaker.call(async { Ok::<_, &str>(1) }).await;
/// let open = r.unwrap_err();
/// assert!(open.is_rejected());
/// assert_eq!(open.rejection().unwrap().name(), "inventory");
/// # Ok::<(), breakerbox::BuildError>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl CircuitBreaker {
    /// A breaker with the default config and clock.
    ///
    /// # Panics
    /// Panics if `name` is empty, longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes
    /// or holds a backslash ([`NameError`](crate::NameError)); use
    /// [`builder`](CircuitBreaker::builder) to get an error instead.
    pub fn new(name: impl Into<Arc<str>>) -> CircuitBreaker {
        match CircuitBreaker::builder(name).build() {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    /// A builder for a breaker named `name`.
    pub fn builder(name: impl Into<Arc<str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name.into())
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.inner.name
    }

    /// Asks to make one call. Returns a [`Permit`] to record the outcome with, or the
    /// rejection.
    ///
    /// # Errors
    /// [`BreakerOpen`] when the breaker is open, forced open, or half-open with every
    /// trial slot taken.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, BreakerOpen> {
        match self.inner.acquire() {
            Ok(adm) => Ok(Permit::new(self, adm)),
            Err(refusal) => Err(self.inner.open_error(refusal)),
        }
    }

    /// Like [`try_acquire`](CircuitBreaker::try_acquire), with a permit that owns a handle
    /// to the breaker (for `'static` futures).
    ///
    /// # Errors
    /// [`BreakerOpen`] when the breaker refuses the call.
    pub fn try_acquire_owned(&self) -> Result<OwnedPermit, BreakerOpen> {
        self.inner
            .acquire()
            .map(|adm| OwnedPermit::new(self.clone(), adm))
            .map_err(|refusal| self.inner.open_error(refusal))
    }

    /// Runs `fut` through the breaker: `Ok` is a success, `Err` a failure.
    ///
    /// The breaker is asked for a permit when the future is first polled, not when it is
    /// made: a future dropped unpolled takes no permit and counts nothing; one dropped
    /// after its first poll and before it completes counts as ignored. With a
    /// [`call_timeout`](crate::ConfigBuilder::call_timeout) in the config, a future still
    /// running at the limit is dropped and the call counts as a `timeout` (a failure, and
    /// slow); the cancellation needs the feature `rt-tokio` (without it, or outside a Tokio
    /// runtime, an overlong call is recorded as a `timeout` when it completes and its result
    /// is returned).
    ///
    /// # Errors
    /// [`CallError::Rejected`] if the breaker refused the call (the future is not polled),
    /// [`CallError::Timeout`] if it ran past the call timeout and was cancelled,
    /// [`CallError::Inner`] with the future's own error.
    ///
    /// # Panics
    /// With `rt-tokio` and a call timeout, inside a Tokio runtime built without its time
    /// driver (`enable_time`), as `tokio::time::timeout` does.
    pub fn call<T, E, F>(&self, fut: F) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_with(Outcome::of, fut)
    }

    /// Runs `fut` through the breaker and lets `classify` decide whether its result is a
    /// success, a failure or ignored (a 404 is not a dependency failure; a timeout is).
    ///
    /// # Errors
    /// As [`call`](CircuitBreaker::call).
    ///
    /// # Panics
    /// As [`call`](CircuitBreaker::call).
    pub fn call_with<T, E, F, C>(
        &self,
        classify: C,
        fut: F,
    ) -> impl Future<Output = Result<T, CallError<E>>>
    where
        F: Future<Output = Result<T, E>>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        call::Call::new(self, classify, fut)
    }

    /// Runs a blocking call through the breaker: `Ok` is a success, `Err` a failure. A
    /// closure that panics counts as ignored (the panic propagates).
    ///
    /// A blocking call cannot be cancelled: one that ran longer than the config's
    /// [`call_timeout`](crate::ConfigBuilder::call_timeout) is recorded as a `timeout` (a
    /// failure, and slow) when it returns, and its result is returned unchanged (the work
    /// is done; throwing it away would help no one). Run it on a thread you can abandon
    /// if it must not hold the caller.
    ///
    /// # Errors
    /// [`CallError::Rejected`] if the breaker refused the call (the closure does not run),
    /// [`CallError::Inner`] with the closure's own error.
    pub fn call_sync<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, CallError<E>> {
        self.call_sync_with(Outcome::of, f)
    }

    /// [`call_sync`](CircuitBreaker::call_sync) with a classifier.
    ///
    /// # Errors
    /// As [`call_sync`](CircuitBreaker::call_sync).
    pub fn call_sync_with<T, E>(
        &self,
        classify: impl FnOnce(&Result<T, E>) -> Outcome,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, CallError<E>> {
        let permit = self.admit()?;
        let limit = self.inner.hot.call_timeout();
        let adm = permit.admission();
        run::blocking(self, permit, || {
            let result = f();
            let outcome = timeout::after_the_fact(&self.inner, &adm, limit, classify(&result));
            (result.map_err(CallError::Inner), outcome)
        })
    }

    /// A permit for a call shape that returns [`CallError`]: the rejection is built
    /// straight into the error.
    #[inline(always)]
    fn admit<E>(&self) -> Result<Permit<'_>, CallError<E>> {
        match self.inner.acquire() {
            Ok(adm) => Ok(Permit::new(self, adm)),
            Err(refusal) => Err(CallError::Rejected(self.inner.open_error(refusal))),
        }
    }

    /// Counts a fallback taken for this breaker's call (`breakerbox_fallbacks_total`).
    /// [`Fallback::or_fallback`](crate::Fallback::or_fallback) calls this; call it when you
    /// degrade by hand.
    pub fn record_fallback(&self, reason: crate::FallbackReason) {
        self.inner.observer.fallback(reason);
    }

    /// The current state. An Open breaker whose reset timeout has elapsed reports `Open`
    /// until the next call (or the eager timer) moves it to `HalfOpen`.
    pub fn state(&self) -> State {
        self.inner.state.load().state()
    }

    /// Applies any timeout that has elapsed: Open or ForcedOpen past its deadline moves to
    /// HalfOpen, and HalfOpen with every trial slot held by trials that have run past
    /// `half_open_timeout` reopens, now instead of on the next call. The eager timer calls
    /// this periodically so gauges and alerts tell the truth on idle services.
    pub fn poll_timeouts(&self) {
        self.inner.reopen_if_trials_hung();
        let w = self.inner.state.load();
        if w.state().rejects_calls() && self.inner.retry_after(w) == Some(Duration::ZERO) {
            let _ = self
                .inner
                .transition(w, State::HalfOpen, Reason::TimeoutElapsed);
        }
        let settings = self.inner.settings.load();
        let now = self.inner.clock.now();
        self.inner
            .observer
            .rates(settings.window.counts(now), settings.config.min_calls());
    }

    /// Keeps an Open breaker open for `wait` from now if that is later than its deadline,
    /// at most `max_reset_timeout` after the trip (an upstream's `Retry-After`). Returns
    /// whether the deadline moved.
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn stretch_open(&self, wait: Duration) -> bool {
        self.inner.stretch_open(wait)
    }

    /// A point-in-time view: state, since when, window numbers, lifetime counts, the last
    /// transition and the config.
    pub fn snapshot(&self) -> Snapshot {
        let inner = &self.inner;
        let w = inner.state.load();
        let settings = inner.settings.load();
        let now = inner.clock.now();
        let window = settings.window.counts(now);
        let min = settings.config.min_calls();
        Snapshot {
            name: inner.name.clone(),
            state: w.state(),
            since: inner.clock.system_time(inner.since(w)),
            window,
            failure_rate: window.failure_rate(min),
            slow_call_rate: window.slow_call_rate(min),
            consecutive_failures: inner.consecutive.load(Ordering::Relaxed),
            half_open_in_flight: w.in_flight(),
            half_open_successes: w.successes(),
            retry_after: inner.retry_after(w),
            totals: inner.totals.totals(),
            last_transition: inner.last_transition.load_full(),
            transitions: inner.transition_counts.list(),
            config: settings.config.clone(),
        }
    }

    /// The config in force.
    pub fn config(&self) -> Config {
        self.inner.settings.load().config.clone()
    }

    /// Returns to Closed with an empty window (reason `manual`), from any state. Like every
    /// operator action it starts a new epoch and is reported as a transition, also when
    /// the breaker is already Closed (`closed -> closed`): outcomes of calls admitted
    /// before the reset are counted but do not enter the new window.
    pub fn reset(&self) {
        self.inner.force(State::Closed, Reason::Manual, None);
    }

    /// Rejects every call until [`reset`](CircuitBreaker::reset) (reason `forced`).
    pub fn force_open(&self) {
        self.inner.force(State::ForcedOpen, Reason::Forced, None);
    }

    /// Rejects every call for `ttl`, then moves to HalfOpen to probe (reason
    /// `timeout_elapsed`), never straight to Closed. A zero `ttl` probes at once. On a
    /// ForcedOpen breaker the new `ttl` replaces the old one (`forced_open -> forced_open`).
    /// A `ttl` beyond what the clock can reach (up to `Duration::MAX`) saturates: the
    /// breaker stays forced open until its clock's end, and `retry_after` never wraps.
    pub fn force_open_for(&self, ttl: Duration) {
        self.inner
            .force(State::ForcedOpen, Reason::Forced, Some(ttl));
    }

    /// Permits every call and keeps measuring, never tripping (reason `manual`).
    pub fn disable(&self) {
        self.inner.force(State::Disabled, Reason::Manual, None);
    }

    /// Dry run (reason `manual`): triggers are evaluated and reported as "would have
    /// opened" events, but no call is rejected. For tuning thresholds in production. The
    /// window is kept through a would-open, so the rates stay the dependency's real rates;
    /// a would-open is reported at most once per reset timeout.
    pub fn metrics_only(&self) {
        self.inner.force(State::MetricsOnly, Reason::Manual, None);
    }

    /// Applies a new config to the live breaker. The state, the epoch and the window's
    /// counts are kept (carried into a new window if its shape changed).
    pub fn set_config(&self, config: Config) {
        self.inner.set_config(config);
    }

    /// The span policy: which ordinary calls get a span.
    pub fn span_policy(&self) -> SpanPolicy {
        self.inner.observer.span_sampler().get()
    }

    /// Changes the span policy of the live breaker (shared by every clone).
    pub fn set_span_policy(&self, policy: SpanPolicy) {
        self.inner.observer.span_sampler().set(policy);
    }

    /// Adds a listener of this breaker's events. For a breaker of a [`Registry`], it
    /// receives this breaker's events only; [`Registry::subscribe`] listens to every
    /// breaker of the registry.
    ///
    /// [`Registry`]: crate::Registry
    /// [`Registry::subscribe`]: crate::Registry::subscribe
    pub fn subscribe(&self, listener: impl Listener) -> ListenerId {
        self.inner
            .listeners
            .add_for(self.inner.source, Arc::new(listener))
    }

    /// Removes a listener; returns whether it was subscribed.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        self.inner.listeners.remove(id)
    }

    /// The breaker's observer (metrics and spans), for the exporters.
    pub(crate) fn observer(&self) -> &Observer {
        &self.inner.observer
    }

    /// The lifetime totals by outcome, summed from the striped counters.
    pub(crate) fn outcome_totals(&self) -> OutcomeTotals {
        self.inner.totals.by_outcome()
    }

    /// Whether `self` and `other` are handles to the same breaker.
    pub fn same_as(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
