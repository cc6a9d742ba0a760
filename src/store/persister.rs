//! A registry's side of persistence: restoring breakers when they are built, and a
//! listener plus a writer thread that save every transition off the call path.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::record::{Caps, MAX_RESTORED_TTL};
use super::{Changes, Record, Records, StateStore, StoreError};
use crate::backoff::{self, Backoff};
use crate::breaker::CircuitBreaker;
use crate::error_chain::Chain;
use crate::event::{Event, Listeners};

/// The wait before a failed save is retried: 1 s, doubling up to a minute, each wait
/// varied by up to 20% so that replicas sharing one store do not retry in step.
const RETRY: Backoff = Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(60));
const RETRY_JITTER: f64 = 0.2;

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
    metrics: StoreMetrics,
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
    /// The breakers whose changes a save in progress is writing.
    in_flight: Vec<String>,
    /// The unsaved breakers as last added to the unsaved gauge.
    reported: usize,
}

/// The store's series (feature `metrics`): saves by result and the breakers whose latest
/// change is not saved yet (waiting, or being written by a save in progress). Registered
/// at 0 when the registry starts persisting, in the recorder in force then (the global one
/// in an application); every registry of a process adds to the same series.
#[derive(Debug)]
struct StoreMetrics {
    #[cfg(feature = "metrics")]
    saved: metrics::Counter,
    #[cfg(feature = "metrics")]
    failed: metrics::Counter,
    #[cfg(feature = "metrics")]
    unsaved: metrics::Gauge,
}

impl StoreMetrics {
    fn register() -> StoreMetrics {
        #[cfg(feature = "metrics")]
        {
            use crate::observe::names::{
                LABEL_RESULT, STATE_STORE_SAVES_TOTAL, STATE_STORE_UNSAVED,
            };
            StoreMetrics {
                saved: metrics::counter!(STATE_STORE_SAVES_TOTAL, LABEL_RESULT => "saved"),
                failed: metrics::counter!(STATE_STORE_SAVES_TOTAL, LABEL_RESULT => "failed"),
                unsaved: metrics::gauge!(STATE_STORE_UNSAVED),
            }
        }
        #[cfg(not(feature = "metrics"))]
        StoreMetrics {}
    }

    fn saved(&self, ok: bool) {
        #[cfg(feature = "metrics")]
        if ok {
            self.saved.increment(1);
        } else {
            self.failed.increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = ok;
    }

    /// Moves the unsaved gauge from `from` to `to` (this registry's share of it).
    fn unsaved(&self, from: usize, to: usize) {
        #[cfg(feature = "metrics")]
        if to != from {
            self.unsaved.increment(to as f64 - from as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (from, to);
    }
}

impl Books {
    /// Brings the unsaved gauge to the breakers not saved now: those waiting for a save
    /// and those a save in progress is writing, each once.
    fn report(&mut self, metrics: &StoreMetrics) {
        let writing = self.in_flight.iter();
        let now = self.changes.len() + writing.filter(|n| !self.changes.contains_key(*n)).count();
        metrics.unsaved(self.reported, now);
        self.reported = now;
    }
}

impl Persister {
    /// Loads `store` (a failure is logged and every breaker starts Closed), subscribes the
    /// listener that records transitions, and starts the writer thread.
    pub(crate) fn start(store: Arc<dyn StateStore>, listeners: &Listeners) -> Persister {
        let latest = match catch_unwind(AssertUnwindSafe(|| store.load())) {
            Ok(Ok(records)) => records,
            Ok(Err(e)) => {
                warn(
                    "cannot load breaker state: every breaker starts closed",
                    &Chain(&e),
                );
                Records::new()
            }
            Err(_) => {
                warn("the state store panicked: every breaker starts closed", &"");
                Records::new()
            }
        };
        let shared = Arc::new(Shared {
            store,
            metrics: StoreMetrics::register(),
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
    ///
    /// A deadline further away than the breaker could have set itself (see [`Caps`]) is
    /// cut to that, with a warning naming the record.
    pub(crate) fn restore(&self, breaker: &CircuitBreaker) -> bool {
        let record = self.shared.books().latest.get(breaker.name()).cloned();
        let Some(record) = record else {
            return false;
        };
        let inner = &breaker.inner;
        let now = inner.clock.system_time(inner.clock.now());
        let caps = Caps {
            open: breaker.config().longest_open(),
            forced: MAX_RESTORED_TTL,
        };
        let Some(start) = record.start_at(now, caps) else {
            return false;
        };
        if let Some(asked) = start.capped {
            capped(breaker.name(), &record, asked, start.open_for);
        }
        let cause = record.restored_transition(breaker.name_arc());
        let restored = inner.restore(start.state, start.open_for, cause);
        #[cfg(feature = "tracing")]
        if restored {
            tracing::info!(
                target: "breakerbox::store",
                breaker = breaker.name(),
                state = start.state.as_str(),
                open_for = ?start.open_for,
                "breaker restored from its persisted state"
            );
        }
        restored && start.open_for.is_some()
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
        books.report(&self.metrics);
        drop(books);
        self.wake.notify_one();
    }

    /// Saves the changes not saved yet. On failure they are put back (newer changes made
    /// meanwhile win), counted and logged.
    fn persist(&self) -> Result<(), StoreError> {
        let _order = self.saving.lock().unwrap_or_else(PoisonError::into_inner);
        let changes = {
            let mut books = self.books();
            let changes = std::mem::take(&mut books.changes);
            // Still unsaved until the store says so.
            books.in_flight = changes.keys().cloned().collect();
            changes
        };
        if changes.is_empty() {
            return Ok(());
        }
        let result = catch_unwind(AssertUnwindSafe(|| self.store.save(&changes)))
            .unwrap_or_else(|_| Err(StoreError::Other("the state store panicked".into())));
        let mut books = self.books();
        books.in_flight.clear();
        let result = match result {
            Ok(()) => {
                self.saves.fetch_add(1, Ordering::Relaxed);
                self.metrics.saved(true);
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.metrics.saved(false);
                for (name, record) in changes {
                    books.changes.entry(name).or_insert(record);
                }
                Err(e)
            }
        };
        books.report(&self.metrics);
        drop(books);
        if let Err(e) = &result {
            warn("cannot save breaker state: will retry", &Chain(e));
        }
        result
    }

    /// The writer thread: saves whenever there are changes, retries failures with a
    /// growing delay ([`RETRY`]), and makes a last save when the registry is dropped.
    fn write_loop(&self) {
        let random = backoff::Random::from_entropy();
        let mut failed: u32 = 0;
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
                // The registry is gone: what its last save could not write is lost, and
                // no longer waits.
                let mut books = self.books();
                self.metrics.unsaved(books.reported, 0);
                books.reported = 0;
                return;
            }
            if saved {
                failed = 0;
                continue;
            }
            failed = failed.saturating_add(1);
            let wait = backoff::jitter(RETRY.delay(failed), RETRY_JITTER, &random);
            let books = self.books();
            let _ = self
                .wake
                .wait_timeout_while(books, wait, |b| !b.closed)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Warns that `name`'s record asked for `asked` more open time than a restored breaker
/// may wait, and that it waits `kept`.
fn capped(name: &str, record: &Record, asked: Duration, kept: Option<Duration>) {
    #[cfg(not(feature = "tracing"))]
    let _ = (name, record, asked, kept);
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "breakerbox::store",
        breaker = name,
        state = record.state.as_str(),
        until_unix_ms = ?record.until_unix_ms,
        open_for_ms = ?record.open_for_ms,
        asked = ?asked,
        kept = ?kept,
        "persisted deadline of breaker {name:?} is further away than it could have chosen: cut to the longest it may wait"
    );
}

fn warn(what: &str, error: &dyn std::fmt::Display) {
    #[cfg(not(feature = "tracing"))]
    let _ = (what, error);
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "breakerbox::store", error = %error, "{what}");
}
