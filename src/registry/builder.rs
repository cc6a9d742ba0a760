//! [`RegistryBuilder`]: a registry with its clock and, optionally, a state store.

use std::fmt;
use std::sync::Arc;

use super::Registry;
use crate::clock::{Clock, default_clock};
use crate::store::StateStore;

/// Builds a [`Registry`], from [`Registry::builder`].
///
/// ```
/// # #[cfg(feature = "persist")] {
/// use breakerbox::Registry;
/// use breakerbox::store::FileStore;
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("breakers.json");
/// let registry = Registry::builder().state_store(FileStore::new(path)).build();
/// # }
/// ```
#[derive(Default)]
#[must_use]
pub struct RegistryBuilder {
    clock: Option<Arc<dyn Clock>>,
    store: Option<Arc<dyn StateStore>>,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("clock", &self.clock)
            .field("store", &self.store)
            .finish()
    }
}

impl RegistryBuilder {
    /// The clock of every breaker the registry builds (default: the fast
    /// [`MonotonicClock`](crate::MonotonicClock)); tests pass a `ManualClock` (feature
    /// `test-util`) and keep a clone to advance it.
    ///
    /// ```
    /// # #[cfg(feature = "test-util")] {
    /// use breakerbox::{Config, ManualClock, Registry, State};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let registry = Registry::builder().clock(clock.clone()).build();
    /// let one_strike = Config::builder().failure_threshold(1).build().unwrap();
    /// let db = registry.breaker("postgres", one_strike).unwrap();
    /// let _ = db.call_sync(|| Err::<(), _>("down"));
    /// assert_eq!(db.state(), State::Open);
    /// clock.advance(Duration::from_secs(30)); // the default reset timeout
    /// db.poll_timeouts();
    /// assert_eq!(db.state(), State::HalfOpen);
    /// # }
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Where the state that must survive a restart is kept (see [`crate::store`]): each
    /// breaker the registry builds starts in its persisted state, and every transition is
    /// saved by a background thread, never on the call path.
    pub fn state_store(self, store: impl StateStore) -> Self {
        self.shared_state_store(Arc::new(store))
    }

    /// The state store, already shared.
    pub fn shared_state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Builds the registry. With a state store, this loads it (an unreadable store is
    /// logged as a warning and every breaker starts Closed) and starts its writer thread,
    /// which stops after a last save when the registry's last handle is dropped.
    pub fn build(self) -> Registry {
        Registry::from_parts(self.clock.unwrap_or_else(default_clock), self.store)
    }
}
