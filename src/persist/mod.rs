//! State that survives a restart (feature `persist`): an operator's force-open for
//! maintenance, a disabled or dry-run breaker, and an Open breaker's remaining time.
//!
//! A [`StateStore`] loads and saves [`SavedState`]s; [`FileStore`] is the embedded default
//! (one JSON file, written atomically). [`Persistence::start`] restores the saved states
//! into a registry's breakers, then saves after every transition from a background task:
//! the call path only signals a channel, never writes. A missing or corrupt file starts
//! every breaker as built (Closed), with a logged warning, never a crash.
//!
//! ```
//! use breakerbox::persist::{FileStore, Persistence};
//! use breakerbox::{Config, Registry};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let dir = tempfile::tempdir().unwrap();
//! let registry = Registry::new();
//! registry.breaker("postgres", Config::database())?; // build the breakers first
//! let store = FileStore::new(dir.path().join("breakers.json"));
//! let persistence = Persistence::start(&registry, store);
//! // ... an operator forces postgres open for an hour of maintenance; the process restarts;
//! // the new process, after the same two lines, starts with postgres forced open for the
//! // rest of the hour.
//! persistence.shutdown().await; // a last save
//! # Ok::<(), breakerbox::RegistryError>(())
//! # }).unwrap();
//! ```
//!
//! Restored states are applied through the breakers' operator controls: a forced-open
//! breaker with a TTL, and an Open breaker, come back as `force_open_for(remaining)` (a
//! transition with reason `forced`, probing in HalfOpen when it expires, as an Open breaker
//! would); without a TTL as `force_open()`; `disable()` and `metrics_only()` as such. A
//! state whose time has run out is not restored.

mod file;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::event::Event;
use crate::registry::Registry;
use crate::state::State;

pub use file::FileStore;

/// One breaker's state to carry across a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    /// The breaker's name.
    pub breaker: String,
    /// `forced_open`, `open`, `disabled` or `metrics_only` (other states are not saved).
    pub state: State,
    /// Unix time in milliseconds when the state ends (open and forced-open with a TTL).
    pub until_unix_ms: Option<u64>,
}

/// Why a store could not load or save.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    Io(std::io::Error),
    /// The stored data does not parse.
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "breaker state store: {e}"),
            StoreError::Corrupt(why) => write!(f, "breaker state store is corrupt: {why}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io(e) => e.source(),
            StoreError::Corrupt(_) => None,
        }
    }
}

/// Where saved states live. Called from a background task (through
/// `spawn_blocking`), never on the call path; implement it for a shared store of your own.
pub trait StateStore: Send + Sync + 'static {
    /// Every saved state; empty when nothing was saved yet.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read or its data does not parse.
    fn load(&self) -> Result<Vec<SavedState>, StoreError>;

    /// Replaces the saved states with `states`.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be written.
    fn save(&self, states: &[SavedState]) -> Result<(), StoreError>;
}

/// Unix milliseconds of `t` (0 before the epoch).
fn unix_ms(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The registry's clock, now, in Unix milliseconds.
fn now_ms(registry: &Registry) -> u64 {
    let clock = registry.clock();
    unix_ms(clock.system_time(clock.now()))
}

/// The states of `registry`'s breakers worth carrying across a restart.
pub fn saved_states(registry: &Registry) -> Vec<SavedState> {
    let now = now_ms(registry);
    registry
        .snapshot_all()
        .into_iter()
        .filter(|s| {
            matches!(
                s.state,
                State::ForcedOpen | State::Open | State::Disabled | State::MetricsOnly
            )
        })
        .map(|s| SavedState {
            breaker: s.name.to_string(),
            state: s.state,
            until_unix_ms: s.retry_after.map(|d| {
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                now.saturating_add(ms)
            }),
        })
        .collect()
}

/// Applies saved states to the breakers of `registry` that exist; returns how many were
/// applied. A store that cannot be loaded is logged (feature `tracing`) and applies
/// nothing: every breaker keeps the state it was built in.
pub fn restore(registry: &Registry, store: &dyn StateStore) -> usize {
    let states = match store.load() {
        Ok(states) => states,
        Err(e) => {
            warn(&e);
            return 0;
        }
    };
    let now = now_ms(registry);
    let mut applied = 0;
    for s in states {
        let Some(b) = registry.get(&s.breaker) else {
            continue;
        };
        let remaining = s.until_unix_ms.map(|t| t.saturating_sub(now));
        match (s.state, remaining) {
            (State::ForcedOpen | State::Open, Some(0)) => continue,
            (State::ForcedOpen | State::Open, Some(ms)) => {
                b.force_open_for(Duration::from_millis(ms));
            }
            (State::ForcedOpen, None) => b.force_open(),
            (State::Disabled, _) => b.disable(),
            (State::MetricsOnly, _) => b.metrics_only(),
            _ => continue,
        }
        applied += 1;
    }
    applied
}

#[allow(unused_variables)]
fn warn(e: &StoreError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "breakerbox",
        error = %e,
        "breaker states not restored; starting as built"
    );
}

/// Restores saved states, then saves after every transition, off the call path. Stop it
/// with [`shutdown`](Persistence::shutdown) for a last save.
#[derive(Debug)]
pub struct Persistence {
    registry: Registry,
    store: Arc<dyn StateStoreDebug>,
    listener: crate::event::ListenerId,
    task: JoinHandle<()>,
}

/// A [`StateStore`] that is also `Debug` (for [`Persistence`]'s `Debug`).
trait StateStoreDebug: StateStore + std::fmt::Debug {}
impl<T: StateStore + std::fmt::Debug> StateStoreDebug for T {}

impl Persistence {
    /// Restores `store`'s states into `registry` (build the breakers first), then saves
    /// after every transition of any of its breakers. Must run inside a Tokio runtime.
    pub fn start<S: StateStore + std::fmt::Debug>(registry: &Registry, store: S) -> Persistence {
        let store: Arc<dyn StateStoreDebug> = Arc::new(store);
        restore(registry, &*store);
        // One pending save is enough: a transition while one is queued is covered by it.
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let listener = registry.subscribe(move |e: &Event<'_>| {
            if matches!(e, Event::Transition(_)) {
                let _ = tx.try_send(());
            }
        });
        let (r, s) = (registry.clone(), store.clone());
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                save(&r, &s).await;
            }
        });
        Persistence {
            registry: registry.clone(),
            store,
            listener,
            task,
        }
    }

    /// Stops saving after transitions and saves the current states once more.
    pub async fn shutdown(self) {
        self.registry.unsubscribe(self.listener);
        self.task.abort();
        save(&self.registry, &self.store).await;
    }
}

async fn save(registry: &Registry, store: &Arc<dyn StateStoreDebug>) {
    let states = saved_states(registry);
    let store = store.clone();
    let result = tokio::task::spawn_blocking(move || store.save(&states)).await;
    if let Ok(Err(e)) = result {
        warn(&e);
    }
}
