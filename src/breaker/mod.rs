//! The [`CircuitBreaker`] handle: call paths, permits and operator controls.

mod counters;
mod engine;
mod hot;
mod permit;
mod snapshot;
mod stamp;
mod timeout;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::clock::{Clock, default_clock};
use crate::config::Config;
use crate::error::{BreakerOpen, BuildError, CallError, ConfigError};
use crate::event::{Listener, ListenerId, Listeners, Outcome};
use crate::name::NameError;
use crate::observe::{DurationHistogram, SpanPolicy, spans};
use crate::state::{Reason, State};

pub(crate) use counters::OutcomeTotals;
pub(crate) use engine::{Inner, rate};
pub use permit::{OwnedPermit, Permit};
pub use snapshot::{CallTotals, Snapshot};
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
    /// Panics if `name` is empty or longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN)
    /// bytes; use [`builder`](CircuitBreaker::builder) to get an error instead.
    pub fn new(name: impl Into<Arc<str>>) -> CircuitBreaker {
        match CircuitBreaker::builder(name).build() {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        }
    }

    /// A builder for a breaker named `name`.
    pub fn builder(name: impl Into<Arc<str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name: name.into(),
            config: Config::default(),
            clock: None,
            listeners: None,
            own_listeners: Vec::new(),
            initial: State::Closed,
            span_policy: SpanPolicy::default(),
            histogram: DurationHistogram::default(),
        }
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
        self.inner.acquire().map(|adm| Permit::new(self, adm))
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
    }

    /// Runs `fut` through the breaker: `Ok` is a success, `Err` a failure.
    ///
    /// A future dropped before it completes counts as ignored. With a
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
    pub async fn call<T, E, F>(&self, fut: F) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        self.call_with(Outcome::of, fut).await
    }

    /// Runs `fut` through the breaker and lets `classify` decide whether its result is a
    /// success, a failure or ignored (a 404 is not a dependency failure; a timeout is).
    ///
    /// # Errors
    /// As [`call`](CircuitBreaker::call).
    ///
    /// # Panics
    /// As [`call`](CircuitBreaker::call).
    pub async fn call_with<T, E, F, C>(&self, classify: C, fut: F) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, E>>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.try_acquire()?;
        let limit = self.inner.hot.call_timeout();
        if limit.is_none() && !spans::wanted() {
            let result = fut.await;
            permit.record(classify(&result));
            return result.map_err(CallError::Inner);
        }
        let run = timeout::run(&self.inner, permit.started(), limit, classify, fut);
        if spans::wanted() {
            return spans::call(&self.inner, permit, run).await;
        }
        let (result, outcome) = run.await;
        permit.record(outcome);
        result
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
        let permit = self.try_acquire()?;
        let limit = self.inner.hot.call_timeout();
        let start = permit.started();
        let run = || {
            let result = f();
            let outcome = timeout::after_the_fact(&self.inner, start, limit, classify(&result));
            (result.map_err(CallError::Inner), outcome)
        };
        if spans::wanted() {
            return spans::call_sync(&self.inner, permit, run);
        }
        let (result, outcome) = run();
        permit.record(outcome);
        result
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
    /// HalfOpen now instead of on the next call. The eager timer calls this periodically
    /// so gauges and alerts tell the truth on idle services.
    pub fn poll_timeouts(&self) {
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
            failure_rate: rate(window.failures, window.calls, min),
            slow_call_rate: rate(window.slow_calls, window.calls, min),
            consecutive_failures: inner.consecutive.load(Ordering::Relaxed),
            half_open_in_flight: w.in_flight(),
            half_open_successes: w.successes(),
            retry_after: inner.retry_after(w),
            totals: inner.counters.totals(),
            last_transition: inner.last_transition.load_full(),
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

    /// Adds a listener to this breaker's listener set (shared with its registry, if any).
    pub fn subscribe(&self, listener: impl Listener) -> ListenerId {
        self.inner.listeners.add(Arc::new(listener))
    }

    /// Removes a listener; returns whether it was subscribed.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        self.inner.listeners.remove(id)
    }

    /// Whether `self` and `other` are handles to the same breaker.
    pub fn same_as(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Builds a [`CircuitBreaker`].
pub struct CircuitBreakerBuilder {
    name: Arc<str>,
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    listeners: Option<Arc<Listeners>>,
    own_listeners: Vec<Arc<dyn Listener>>,
    initial: State,
    span_policy: SpanPolicy,
    histogram: DurationHistogram,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("initial", &self.initial)
            .field("span_policy", &self.span_policy)
            .field("histogram", &self.histogram)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerBuilder {
    /// The config (default: [`Config::default`]).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The clock (default: the fast [`MonotonicClock`](crate::MonotonicClock)). Tests pass
    /// a `ManualClock` (feature `test-util`) and keep a clone to advance it. This is the one
    /// way to give a breaker its clock; a registry's breakers get the registry's clock
    /// ([`RegistryBuilder::clock`](crate::RegistryBuilder::clock)).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The clock, already shared (a registry's clock).
    pub(crate) fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds a listener for this breaker's events.
    #[must_use]
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.own_listeners.push(Arc::new(listener));
        self
    }

    /// Starts in `state` instead of Closed: `MetricsOnly` to roll out a new breaker as a
    /// dry run, `Disabled`, or `ForcedOpen`. `Open` and `HalfOpen` are refused by `build`.
    #[must_use]
    pub fn initial_state(mut self, state: State) -> Self {
        self.initial = state;
        self
    }

    /// Which ordinary calls get a span (default: one in 100; every call that matters
    /// always does). See [`SpanPolicy`].
    #[must_use]
    pub fn span_policy(mut self, policy: SpanPolicy) -> Self {
        self.span_policy = policy;
        self
    }

    /// Which outcomes get a `breakerbox_call_duration_seconds` histogram (default: every
    /// outcome). See [`DurationHistogram`].
    #[must_use]
    pub fn duration_histogram(mut self, histogram: DurationHistogram) -> Self {
        self.histogram = histogram;
        self
    }

    pub(crate) fn listener_set(mut self, set: Arc<Listeners>) -> Self {
        self.listeners = Some(set);
        self
    }

    /// Builds the breaker.
    ///
    /// # Errors
    /// [`BuildError::Name`] for an empty name or one over
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes; [`BuildError::Config`] for an
    /// [`initial_state`](CircuitBreakerBuilder::initial_state) of `Open` or `HalfOpen`.
    pub fn build(self) -> Result<CircuitBreaker, BuildError> {
        NameError::check(&self.name)?;
        if matches!(self.initial, State::Open | State::HalfOpen) {
            return Err(BuildError::Config(ConfigError::Conflict {
                field: "initial_state",
                other: "state",
                reason: "a breaker can start closed, disabled, metrics-only or forced open",
            }));
        }
        let listeners = self.listeners.unwrap_or_default();
        for l in self.own_listeners {
            listeners.add(l);
        }
        let clock = self.clock.unwrap_or_else(default_clock);
        let inner = Inner::new(
            self.name,
            self.config,
            self.initial,
            clock,
            listeners,
            self.histogram,
        );
        inner.observer.span_sampler().set(self.span_policy);
        Ok(CircuitBreaker {
            inner: Arc::new(inner),
        })
    }
}
