//! Building a [`CircuitBreaker`]: name, config, clock, listeners, initial state, span
//! policy, duration histogram and its bucket bounds.

use std::fmt;
use std::sync::Arc;

use super::{CircuitBreaker, Inner};
use crate::clock::{Clock, default_clock};
use crate::config::Config;
use crate::error::{BuildError, ConfigError};
use crate::event::{Listener, Listeners};
use crate::name::NameError;
use crate::observe::{DurationBuckets, DurationHistogram, SpanPolicy};
use crate::state::State;

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
    buckets: DurationBuckets,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("initial", &self.initial)
            .field("span_policy", &self.span_policy)
            .field("histogram", &self.histogram)
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerBuilder {
    /// A builder for a breaker named `name`, with the defaults.
    pub(super) fn new(name: Arc<str>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name,
            config: Config::default(),
            clock: None,
            listeners: None,
            own_listeners: Vec::new(),
            initial: State::Closed,
            span_policy: SpanPolicy::default(),
            histogram: DurationHistogram::default(),
            buckets: DurationBuckets::default(),
        }
    }

    /// The config (default: [`Config::default`]).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The clock (default: the fast monotonic clock). Tests pass a
    /// `ManualClock` (feature `test-util`).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The clock, already shared.
    #[must_use]
    pub fn shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
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

    /// The bucket bounds of the `breakerbox_call_duration_seconds` histograms this breaker
    /// keeps and `observe::prometheus::render` writes (default:
    /// [`DurationBuckets::Standard`], 17 bounds). [`DurationBuckets::Coarse`] halves the
    /// series per histogram. Custom bounds are checked by
    /// [`build`](CircuitBreakerBuilder::build).
    #[must_use]
    pub fn duration_buckets(mut self, buckets: DurationBuckets) -> Self {
        self.buckets = buckets;
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
    /// [`initial_state`](CircuitBreakerBuilder::initial_state) of `Open` or `HalfOpen`, or
    /// for [`DurationBuckets::Custom`] bounds that are empty, more than
    /// [`MAX_DURATION_BOUNDS`](crate::observe::MAX_DURATION_BOUNDS), not finite, under
    /// 1 ns or not strictly increasing (field `duration_buckets`).
    pub fn build(self) -> Result<CircuitBreaker, BuildError> {
        NameError::check(&self.name)?;
        if matches!(self.initial, State::Open | State::HalfOpen) {
            return Err(BuildError::Config(ConfigError::Conflict {
                field: "initial_state",
                other: "state",
                reason: "a breaker can start closed, disabled, metrics-only or forced open",
            }));
        }
        let bounds = self.buckets.resolve()?;
        let listeners = self.listeners.unwrap_or_default();
        let clock = self.clock.unwrap_or_else(default_clock);
        let mut inner = Inner::new(
            self.name,
            self.config,
            self.initial,
            clock,
            listeners,
            self.histogram,
        );
        inner.observer.set_duration_buckets(bounds);
        inner.observer.span_sampler().set(self.span_policy);
        for l in self.own_listeners {
            inner.listeners.add_for(inner.source, l);
        }
        Ok(CircuitBreaker {
            inner: Arc::new(inner),
        })
    }
}
