//! Graceful shutdown: one call that stops what runs in the background for a registry (its
//! eager timers, its fleet task), saves its state store and lets its notifiers deliver
//! what they hold, within a deadline.
//!
//! Each background part attaches itself to the registry when it starts
//! ([`Attachment`]); [`Registry::shutdown`] takes them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Registry;
use crate::store::{Persister, StoreError};

/// What is left to finish after an attachment stopped, within the deadline it is given.
pub(crate) type Flush = Pin<Box<dyn Future<Output = Flushed> + Send>>;

/// What a [`Flush`] did.
#[derive(Default)]
pub(crate) struct Flushed {
    /// A notifier's counters after it delivered what it held (or dropped it at the
    /// deadline).
    #[cfg(feature = "notify")]
    pub(crate) notifications: Option<crate::notify::Stats>,
}

/// Something that runs in the background for a registry.
pub(crate) trait Attachment: Send + Sync {
    /// Whether it ended already (its handle was dropped, its task finished): nothing to
    /// stop, and the registry forgets it.
    fn is_gone(&self) -> bool;

    /// Stops it at once; returns what is left to finish, to be given the time left.
    fn stop(&self, registry: &Registry) -> Option<Box<dyn FnOnce(Duration) -> Flush + Send>>;
}

/// A registry's attachments.
#[derive(Default)]
pub(crate) struct Attachments {
    list: Mutex<Vec<Box<dyn Attachment>>>,
}

impl Attachments {
    /// Adds `a`, forgetting those that are gone (so a registry whose timer is restarted
    /// again and again does not grow).
    pub(crate) fn add(&self, a: Box<dyn Attachment>) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|a| !a.is_gone());
        list.push(a);
    }

    fn take(&self) -> Vec<Box<dyn Attachment>> {
        std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What [`Registry::shutdown`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Background tasks stopped: eager timers and fleet tasks still running.
    pub stopped: usize,
    /// The state store's final save; `None` without a store.
    pub persisted: Option<Result<(), StoreError>>,
    /// The counters of each notifier subscribed to the registry, after it delivered what
    /// it held or the deadline passed (what was left then is dropped and counted).
    #[cfg(feature = "notify")]
    #[cfg_attr(docsrs, doc(cfg(feature = "notify")))]
    pub notifications: Vec<crate::notify::Stats>,
}

impl Registry {
    /// Shuts down what runs in the background for this registry, in the order that loses
    /// nothing: stops its eager timers (`spawn_timer`, feature `rt-tokio`) and its
    /// fleet task (feature `fleet-redis`; its breakers go back to local decisions), saves
    /// every state change to its state store, then gives each notifier subscribed with
    /// `Dispatcher::subscribe` (feature `notify`) the time left of `deadline` to deliver
    /// what it holds. For the end of a service's graceful shutdown, after the server
    /// stopped taking requests.
    ///
    /// Breakers keep working afterwards (calls are never refused because of it); handles
    /// of what it stopped report it stopped (`TimerHandle::is_running` is false).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use breakerbox::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// let db = registry.breaker("postgres", Config::database()).unwrap();
    /// # #[cfg(feature = "rt-tokio")] {
    /// let timer = registry.spawn_timer(Duration::from_secs(1)); // feature `rt-tokio`
    /// // axum::serve(listener, app).with_graceful_shutdown(signal).await?; then:
    /// let report = registry.shutdown(Duration::from_secs(5)).await;
    /// assert_eq!(report.stopped, 1);
    /// assert!(!timer.is_running());
    /// assert!(report.persisted.is_none(), "no state store");
    /// # }
    /// # let _ = db;
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let end = Instant::now().checked_add(deadline);
        let mut report = ShutdownReport::default();
        let mut flushes = Vec::new();
        for a in self.inner.attachments.take() {
            if a.is_gone() {
                continue;
            }
            match a.stop(self) {
                Some(flush) => flushes.push(flush),
                None => report.stopped += 1,
            }
        }
        report.persisted = self.inner.persister.as_ref().map(Persister::persist_now);
        for flush in flushes {
            let left = end.map_or(deadline, |e| e.saturating_duration_since(Instant::now()));
            let flushed = flush(left).await;
            #[cfg(feature = "notify")]
            report.notifications.extend(flushed.notifications);
            #[cfg(not(feature = "notify"))]
            let Flushed {} = flushed;
        }
        report
    }

    /// Attaches `a` to this registry, for [`shutdown`](Registry::shutdown).
    #[cfg_attr(not(any(feature = "rt-tokio", feature = "notify")), allow(dead_code))]
    pub(crate) fn attach(&self, a: Box<dyn Attachment>) {
        self.inner.attachments.add(a);
    }
}

/// A Tokio task (an eager timer): stopped by aborting it.
#[cfg(feature = "rt-tokio")]
pub(crate) struct Task {
    pub(crate) task: tokio::task::AbortHandle,
    /// Set when it is stopped, by its handle or by the registry's shutdown (the runtime
    /// may not have ended the task yet).
    pub(crate) stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[cfg(feature = "rt-tokio")]
impl Attachment for Task {
    fn is_gone(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Acquire) || self.task.is_finished()
    }

    fn stop(&self, _: &Registry) -> Option<Box<dyn FnOnce(Duration) -> Flush + Send>> {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        self.task.abort();
        None
    }
}
