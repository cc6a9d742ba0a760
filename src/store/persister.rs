//! A registry's side of persistence: restoring breakers when they are built, and a
//! listener plus a writer thread that save every transition off the call path.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Changes, Record, Records, StateStore, StoreError};
use crate::breaker::CircuitBreaker;
use crate::event::{Event, Listeners};

/// The first wait before a failed save is retried; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// How a registry's state store is doing, from
/// [`Registry::state_store_stats`](crate::Registry::state_store_stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Successful saves.
    pub saves: u64,
    /// Failed saves (each logged as a warning; the changes are kept and retried).
    pub failures: u64,
    /// Breakers whose latest change is not saved yet.
    pub pending: usize,
}

/// The registry's persistence: the latest record of every breaker and the changes not
/// saved yet, shared by the listener, the writer thread and the registry.
#[derive(Debug)]
pub(crate) struct Persister {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn StateStore>,
    books: Mutex<Books>,
    wake: Condvar,
    /// Held from taking the changes until they are saved or put back, so saves happen in
    /// order and [`Persister::persist_now`] sees every earlier change saved.
    saving: Mutex<()>,
    saves: AtomicU64,
    failures: AtomicU64,
}

#[derive(Debug, Default)]
struct Books {
    /// The latest record of every breaker, as loaded and then changed by transitions: what
    /// a breaker built now (again) starts in.
    latest: Records,
    /// Changes not saved yet.
    changes: Changes,
    /// The registry is gone: the writer makes a last save and stops.
    closed: bool,
}

impl Persister {
    /// Loads `store` (a failure is logged and every breaker starts Closed), subscribes the
    /// listener that records transitions, and starts the writer thread.
    pub(crate) fn start(store: Arc<dyn StateStore>, listeners: &Listeners) -> Persister {
        let latest = match catch_unwind(AssertUnwindSafe(|| store.load())) {
            Ok(Ok(records)) => records,
            Ok(Err(e)) => {
                warn("cannot load breaker state: every breaker starts closed", &e);
                Records::new()
            }
            Err(_) => {
                warn("the state store panicked: every breaker starts closed", &"");
                Records::new()
            }
        };
        let shared = Arc::new(Shared {
            store,
            books: Mutex::new(Books {
                latest,
                ..Books::default()
            }),
            wake: Condvar::new(),
            saving: Mutex::new(()),
            saves: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let on_event = shared.clone();
        listeners.add_transitions_only(Arc::new(move |e: &Event<'_>| {
            if let Event::Transition(t) = e {
                on_event.record(&t.breaker, Record::after(t));
            }
        }));
        let writer = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("breakerbox-store".into())
            .spawn(move || writer.write_loop());
        if let Err(e) = spawned {
            warn(
                "cannot start the state writer: state is saved only by persist_now",
                &e,
            );
        }
        Persister { shared }
    }

    /// Starts `breaker` (just built, not handed out yet) in its latest persisted state.
    /// Returns whether it was restored into Open or ForcedOpen, whose deadline may have
    /// passed already: the caller then applies timeouts, outside its locks.
    pub(crate) fn restore(&self, breaker: &CircuitBreaker) -> bool {
        let record = self.shared.books().latest.get(breaker.name()).cloned();
        let Some(record) = record else {
            return false;
        };
        let inner = &breaker.inner;
        let now = inner.clock.system_time(inner.clock.now());
        let Some((state, open_for)) = record.start_at(now) else {
            return false;
        };
        let restored = inner.restore(state, open_for);
        #[cfg(feature = "tracing")]
        if restored {
            tracing::info!(
                target: "breakerbox::store",
                breaker = breaker.name(),
                state = state.as_str(),
                open_for = ?open_for,
                "breaker restored from its persisted state"
            );
        }
        restored && open_for.is_some()
    }

    /// Saves every change made so far on the calling thread.
    pub(crate) fn persist_now(&self) -> Result<(), StoreError> {
        self.shared.persist()
    }

    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            saves: self.shared.saves.load(Ordering::Relaxed),
            failures: self.shared.failures.load(Ordering::Relaxed),
            pending: self.shared.books().changes.len(),
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.shared.books().closed = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// On a transition (the listener): note the breaker's new record and wake the writer.
    /// A short lock, no I/O.
    fn record(&self, name: &str, record: Option<Record>) {
        let mut books = self.books();
        match &record {
            Some(r) => books.latest.insert(name.to_owned(), r.clone()),
            None => books.latest.remove(name),
        };
        books.changes.insert(name.to_owned(), record);
        drop(books);
        self.wake.notify_one();
    }

    /// Saves the changes not saved yet. On failure they are put back (newer changes made
    /// meanwhile win), counted and logged.
    fn persist(&self) -> Result<(), StoreError> {
        let _order = self.saving.lock().unwrap_or_else(PoisonError::into_inner);
        let changes = std::mem::take(&mut self.books().changes);
        if changes.is_empty() {
            return Ok(());
        }
        let result = catch_unwind(AssertUnwindSafe(|| self.store.save(&changes)))
            .unwrap_or_else(|_| Err(StoreError::Other("the state store panicked".into())));
        match result {
            Ok(()) => {
                self.saves.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                warn("cannot save breaker state: will retry", &e);
                let mut books = self.books();
                for (name, record) in changes {
                    books.changes.entry(name).or_insert(record);
                }
                Err(e)
            }
        }
    }

    /// The writer thread: saves whenever there are changes, retries failures with a
    /// growing delay, and makes a last save when the registry is dropped.
    fn write_loop(&self) {
        let mut retry = FIRST_RETRY;
        loop {
            let closed = {
                let mut books = self.books();
                while books.changes.is_empty() && !books.closed {
                    books = self
                        .wake
                        .wait(books)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                books.closed
            };
            let saved = self.persist().is_ok();
            if closed {
                return;
            }
            if saved {
                retry = FIRST_RETRY;
                continue;
            }
            let books = self.books();
            let _ = self
                .wake
                .wait_timeout_while(books, retry, |b| !b.closed)
                .unwrap_or_else(PoisonError::into_inner);
            retry = retry.saturating_mul(2).min(MAX_RETRY);
        }
    }
}

fn warn(what: &str, error: &dyn std::fmt::Display) {
    #[cfg(not(feature = "tracing"))]
    let _ = (what, error);
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "breakerbox::store", error = %error, "{what}");
}
