//! Named breakers in one place: create-or-get by name, snapshot all, reset all, and one
//! listener set for every breaker in the registry.

mod builder;
mod shutdown;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use crate::breaker::{CircuitBreaker, Snapshot};
use crate::clock::{Clock, default_clock};
use crate::config::Config;
use crate::error::{ConfigError, RegistryError};
use crate::event::{Listener, ListenerId, Listeners};
use crate::store::{Persister, StateStore, StoreError, StoreStats};

use crate::observe::{DurationBuckets, DurationHistogram, Recorders, SpanPolicy};
pub use builder::RegistryBuilder;
#[cfg(feature = "notify")]
pub(crate) use shutdown::Flushed;
pub use shutdown::ShutdownReport;
#[cfg(feature = "rt-tokio")]
pub(crate) use shutdown::Task;
#[cfg(any(feature = "fleet-redis", feature = "notify"))]
pub(crate) use shutdown::{Attachment, Flush};

/// A set of named breakers sharing one clock and one listener set. A cheap handle: clones
/// share the same registry.
///
/// The lock inside guards only creation and lookup by name; calls go through the
/// [`CircuitBreaker`] handles, which take no lock.
///
/// [`Registry::builder`] adds a [`StateStore`]: breakers then start in the state they
/// were in before a restart (see [`crate::store`]).
///
/// ```
/// use breakerbox::{Config, Registry};
///
/// let registry = Registry::new();
/// let db = registry.breaker("postgres", Config::database())?;
/// let same = registry.breaker("postgres", Config::database())?;
/// assert!(db.same_as(&same));
/// // Asking for the same name with another config is an error, not a silent replace.
/// assert!(registry.breaker("postgres", Config::cache()).is_err());
/// assert_eq!(registry.snapshot_all().len(), 1);
/// # Ok::<(), breakerbox::RegistryError>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    breakers: RwLock<HashMap<Arc<str>, CircuitBreaker>>,
    clock: Arc<dyn Clock>,
    listeners: Arc<Listeners>,
    /// The state store's side, if the registry has one.
    persister: Option<Persister>,
    span_policy: Mutex<SpanPolicy>,
    histogram: Mutex<DurationHistogram>,
    buckets: Mutex<DurationBuckets>,
    /// The recorders its breakers were built with: what its renders leave out of a
    /// removed breaker's series depends on them.
    recorders: Recorders,
    /// What runs in the background for the registry, for [`Registry::shutdown`].
    attachments: shutdown::Attachments,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &self.names())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// An empty registry with the default clock.
    pub fn new() -> Registry {
        Registry::from_parts(default_clock(), None)
    }

    /// A builder: the clock ([`RegistryBuilder::clock`], e.g. a `ManualClock` in tests)
    /// and a [`StateStore`] for state that survives a restart.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    fn from_parts(clock: Arc<dyn Clock>, store: Option<Arc<dyn StateStore>>) -> Registry {
        let listeners = Arc::<Listeners>::default();
        let persister = store.map(|s| Persister::start(s, &listeners));
        Registry {
            inner: Arc::new(RegistryInner {
                breakers: RwLock::new(HashMap::new()),
                clock,
                listeners,
                persister,
                span_policy: Mutex::default(),
                histogram: Mutex::default(),
                buckets: Mutex::default(),
                recorders: Recorders::default(),
                attachments: shutdown::Attachments::default(),
            }),
        }
    }

    /// The breaker named `name`, created with `config` if it does not exist yet. With a
    /// [`StateStore`] a new breaker starts in its persisted state.
    ///
    /// # Errors
    /// [`RegistryError::ConfigMismatch`] if it exists with a different config;
    /// [`RegistryError::Name`] for an empty name or one over
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    pub fn breaker(&self, name: &str, config: Config) -> Result<CircuitBreaker, RegistryError> {
        if let Some(b) = self.get(name) {
            return check_same(b, &config, name);
        }
        let mut map = self
            .inner
            .breakers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get(name) {
            return check_same(b.clone(), &config, name);
        }
        let breaker = CircuitBreaker::builder(name)
            .config(config)
            .shared_clock(self.inner.clock.clone())
            .listener_set(self.inner.listeners.clone())
            .span_policy(self.span_policy())
            .duration_histogram(self.duration_histogram())
            .duration_buckets(self.duration_buckets())
            .build()?;
        let restored_open = self
            .inner
            .persister
            .as_ref()
            .is_some_and(|p| p.restore(&breaker));
        breaker.observer().scope(&self.inner.recorders);
        map.insert(breaker.name_arc().clone(), breaker.clone());
        drop(map);
        if restored_open {
            // A deadline that passed while the process was down: probe now (HalfOpen).
            breaker.poll_timeouts();
        }
        Ok(breaker)
    }

    /// The breaker named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        let map = self
            .inner
            .breakers
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(name).cloned()
    }

    /// Removes the breaker named `name` from the registry (handles keep working).
    ///
    /// Its metric series leave the output of `observe::prometheus::render` (and of the
    /// listener of `observe::prometheus::install`, feature `prometheus`) until a breaker of
    /// that name is built again: an open breaker removed does not keep its alerts firing.
    /// A live breaker of the same name built with the same recorder (in another registry)
    /// writes the same series, which then stay. The `metrics` facade cannot unregister a
    /// series, so the recorder itself still holds them, and a removed handle no longer
    /// writes its state gauges or its call counters; a breaker built again under that
    /// name continues the removed one's call counters.
    pub fn remove(&self, name: &str) -> Option<CircuitBreaker> {
        let removed = {
            let mut map = self
                .inner
                .breakers
                .write()
                .unwrap_or_else(|e| e.into_inner());
            map.remove(name)
        };
        if let Some(b) = &removed {
            b.observer().removed(|| b.outcome_totals());
        }
        removed
    }

    /// The names of all breakers, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.all().iter().map(|b| b.name().to_owned()).collect();
        names.sort();
        names
    }

    /// Handles to every breaker, sorted by name.
    pub fn all(&self) -> Vec<CircuitBreaker> {
        let map = self
            .inner
            .breakers
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<CircuitBreaker> = map.values().cloned().collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// A snapshot of every breaker, sorted by name.
    pub fn snapshot_all(&self) -> Vec<Snapshot> {
        self.all().iter().map(CircuitBreaker::snapshot).collect()
    }

    /// Resets every breaker to Closed with an empty window (reason `manual`).
    pub fn reset_all(&self) {
        for b in self.all() {
            b.reset();
        }
    }

    /// Applies elapsed timeouts of every breaker (see
    /// [`CircuitBreaker::poll_timeouts`]).
    pub fn poll_timeouts(&self) {
        for b in self.all() {
            b.poll_timeouts();
        }
    }

    /// Subscribes `listener` to the events of every breaker in the registry, present and
    /// future. The listener is called on the call path: it must be quick and must not
    /// block.
    pub fn subscribe(&self, listener: impl Listener) -> ListenerId {
        self.inner.listeners.add(Arc::new(listener))
    }

    /// Subscribes `listener` to transitions only: calls and rejections skip it, so it
    /// costs the call path nothing.
    #[cfg_attr(not(feature = "fleet-redis"), allow(dead_code))]
    pub(crate) fn subscribe_transitions(&self, listener: impl Listener) -> ListenerId {
        self.inner
            .listeners
            .add_transitions_only(Arc::new(listener))
    }

    /// Unsubscribes a listener; returns whether it was subscribed.
    pub fn unsubscribe(&self, id: ListenerId) -> bool {
        self.inner.listeners.remove(id)
    }

    /// Saves every state change made so far to the registry's [`StateStore`] now, on the
    /// calling thread (the writer thread does this in the background): for a graceful
    /// shutdown, or a test. `Ok` without a store.
    ///
    /// # Errors
    /// The store's error; the changes are kept and retried.
    pub fn persist_now(&self) -> Result<(), StoreError> {
        self.inner
            .persister
            .as_ref()
            .map_or(Ok(()), Persister::persist_now)
    }

    /// Saves and failures of the registry's [`StateStore`], `None` without one.
    pub fn state_store_stats(&self) -> Option<StoreStats> {
        self.inner.persister.as_ref().map(Persister::stats)
    }

    /// Sets the span policy of the breakers the registry creates from now on (default: one
    /// ordinary call in 100; see [`SpanPolicy`]). Existing breakers keep theirs: change one
    /// with [`CircuitBreaker::set_span_policy`], or all with
    /// `for b in registry.all() { b.set_span_policy(p) }`.
    pub fn set_span_policy(&self, policy: SpanPolicy) {
        *self
            .inner
            .span_policy
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// The span policy of the breakers the registry creates.
    pub fn span_policy(&self) -> SpanPolicy {
        *self
            .inner
            .span_policy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sets which outcomes get a duration histogram in the breakers the registry creates
    /// from now on (default: every outcome; see [`DurationHistogram`]). Existing breakers
    /// keep theirs: the histograms are registered when a breaker is built.
    pub fn set_duration_histogram(&self, histogram: DurationHistogram) {
        *self
            .inner
            .histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = histogram;
    }

    /// Which outcomes get a duration histogram in the breakers the registry creates.
    pub fn duration_histogram(&self) -> DurationHistogram {
        *self
            .inner
            .histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the bucket bounds of the duration histograms of the breakers the registry
    /// creates from now on (default: [`DurationBuckets::Standard`]; see
    /// [`CircuitBreakerBuilder::duration_buckets`](crate::CircuitBreakerBuilder::duration_buckets)).
    /// Existing breakers keep theirs.
    ///
    /// # Errors
    /// [`ConfigError`] (field `duration_buckets`) for custom bounds that are empty, more
    /// than [`MAX_DURATION_BOUNDS`](crate::observe::MAX_DURATION_BOUNDS), not finite, under
    /// 1 ns or not strictly increasing; the registry's bounds are then unchanged.
    pub fn set_duration_buckets(&self, buckets: DurationBuckets) -> Result<(), ConfigError> {
        buckets.resolve()?;
        *self.inner.buckets.lock().unwrap_or_else(|e| e.into_inner()) = buckets;
        Ok(())
    }

    /// The bucket bounds of the duration histograms of the breakers the registry creates.
    pub fn duration_buckets(&self) -> DurationBuckets {
        self.inner
            .buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The recorders the registry's breakers were built with.
    #[cfg(any(feature = "prometheus", all(test, feature = "metrics")))]
    pub(crate) fn recorders(&self) -> &Recorders {
        &self.inner.recorders
    }

    /// The clock the registry's breakers use.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }
}

fn check_same(
    b: CircuitBreaker,
    config: &Config,
    name: &str,
) -> Result<CircuitBreaker, RegistryError> {
    if &b.config() == config {
        Ok(b)
    } else {
        Err(RegistryError::ConfigMismatch {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::event::Event;

    fn names(seen: &Arc<Mutex<Vec<String>>>) -> impl Listener {
        let seen = seen.clone();
        move |e: &Event<'_>| seen.lock().unwrap().push(e.breaker().to_owned())
    }

    /// A breaker's own subscription (and its builder's listener) hears that breaker
    /// only, though the registry's breakers share one listener set; the registry's
    /// subscription hears every breaker.
    #[test]
    fn a_breaker_subscription_hears_only_that_breaker() {
        let registry = Registry::new();
        let a = registry.breaker("a", Config::default()).unwrap();
        let b = registry.breaker("b", Config::default()).unwrap();
        let (of_a, of_all) = (Arc::default(), Arc::default());
        a.subscribe(names(&of_a));
        registry.subscribe(names(&of_all));
        let own = Arc::default();
        let c = CircuitBreaker::builder("c")
            .listener(names(&own))
            .build()
            .unwrap();

        a.try_acquire().unwrap().success();
        b.try_acquire().unwrap().success();
        b.reset();
        c.try_acquire().unwrap().success();

        assert_eq!(*of_a.lock().unwrap(), ["a"]);
        assert_eq!(*of_all.lock().unwrap(), ["a", "b", "b"]);
        assert_eq!(*own.lock().unwrap(), ["c"]);
    }
}
