//! One task per channel: delivers notices in order, each with a timeout and retries, and
//! re-sends firing notices to receivers that expire them (Alertmanager).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::message::Notification;
use super::policy::RetryPolicy;
use super::{DeliveryError, Notifier, TlsCause, record, record_tls};

/// One channel's delivery results, counted exactly.
#[derive(Debug, Default)]
pub(crate) struct DeliveryCounters {
    pub(crate) queued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) refreshes: AtomicU64,
}

/// The dispatcher's handle on a channel's [`DeliveryTask`]: dropping it lets the task
/// finish its queue.
#[derive(Debug)]
pub(crate) struct Channel {
    tally: Tally,
    tx: mpsc::Sender<Arc<Notification>>,
}

/// A channel's name and counters, shared with the call path and the stats.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub(crate) name: Arc<str>,
    pub(crate) counters: Arc<DeliveryCounters>,
}

impl Tally {
    /// Counts a notice for this channel that never reached it (the dispatcher's queue was
    /// full or closed).
    pub(crate) fn dropped_upstream(&self, breaker: &str) {
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.drop_one(breaker);
    }

    fn drop_one(&self, breaker: &str) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        record(breaker, &self.name, "dropped");
    }
}

impl Channel {
    /// Starts the channel's task; it stops when its `Channel` is dropped and its queue is
    /// delivered, or at once (counting the rest as dropped) when `cancel` turns true.
    pub(crate) fn spawn(
        notifier: Arc<dyn Notifier>,
        capacity: usize,
        retry: RetryPolicy,
        cancel: watch::Receiver<bool>,
    ) -> (Channel, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity);
        let tally = Tally {
            name: notifier.channel().into(),
            counters: Arc::new(DeliveryCounters::default()),
        };
        let task = DeliveryTask {
            refresh: notifier.refresh_interval().filter(|d| !d.is_zero()),
            notifier,
            tally: tally.clone(),
            retry,
            firing: HashMap::new(),
            tls_logged: Mutex::new(HashSet::new()),
        };
        let task = tokio::spawn(task.run(rx, cancel));
        (Channel { tally, tx }, task)
    }

    pub(crate) fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Hands a notice to the channel; a full queue counts a drop.
    pub(crate) fn offer(&self, n: &Arc<Notification>) {
        self.tally.counters.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(n.clone()).is_err() {
            self.tally.drop_one(n.breaker());
        }
    }
}

/// Completes when `cancel` turns true; never if its sender is dropped without that.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Aborts the task when dropped: a timed-out or cancelled attempt does not linger.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The task of one channel: takes its notices in order and delivers each with a timeout
/// and retries, repeating firing notices for receivers that expire them.
struct DeliveryTask {
    notifier: Arc<dyn Notifier>,
    tally: Tally,
    retry: RetryPolicy,
    refresh: Option<Duration>,
    /// Firing notices to repeat, by breaker, with the time of the next repeat.
    firing: HashMap<Arc<str>, (Arc<Notification>, Instant)>,
    /// The TLS causes already logged: a TLS failure is logged once per channel and cause.
    tls_logged: Mutex<HashSet<TlsCause>>,
}

impl DeliveryTask {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Arc<Notification>>,
        mut cancel: watch::Receiver<bool>,
    ) {
        loop {
            let next_refresh = self.firing.values().map(|(_, at)| *at).min();
            let job = tokio::select! {
                biased;
                _ = cancelled(&mut cancel) => break,
                job = rx.recv() => match job {
                    Some(n) => n,
                    None => return,
                },
                _ = sleep_until(next_refresh.unwrap_or_else(Instant::now)),
                    if next_refresh.is_some() => match self.due_refresh() {
                        Some(n) => n,
                        None => continue,
                    },
            };
            self.track_firing(&job);
            tokio::select! {
                biased;
                _ = cancelled(&mut cancel) => {
                    self.drop_one(job.breaker());
                    break;
                }
                _ = self.deliver(&job) => {}
            }
        }
        // Cancelled at the shutdown deadline: whatever is still queued is dropped.
        rx.close();
        while let Ok(n) = rx.try_recv() {
            self.drop_one(n.breaker());
        }
    }

    /// The firing notice whose repeat is due, counted as a new delivery.
    fn due_refresh(&mut self) -> Option<Arc<Notification>> {
        let now = Instant::now();
        let (n, at) = self.firing.values_mut().find(|(_, at)| *at <= now)?;
        *at = super::deadline::after(now, self.refresh?);
        self.tally.counters.queued.fetch_add(1, Ordering::Relaxed);
        self.tally
            .counters
            .refreshes
            .fetch_add(1, Ordering::Relaxed);
        Some(n.clone())
    }

    fn track_firing(&mut self, n: &Arc<Notification>) {
        let Some(every) = self.refresh else { return };
        if n.is_firing() {
            let next = super::deadline::after(Instant::now(), every);
            let entry = self
                .firing
                .entry(n.transition.breaker.clone())
                .or_insert_with(|| (n.clone(), next));
            if !Arc::ptr_eq(&entry.0, n) {
                *entry = (n.clone(), next);
            }
        } else {
            self.firing.remove(&n.transition.breaker);
        }
    }

    fn drop_one(&self, breaker: &str) {
        self.tally.drop_one(breaker);
    }

    /// Attempts `n` until it is sent, fails for good, or runs out of attempts.
    async fn deliver(&self, n: &Arc<Notification>) {
        let mut attempt = 1;
        loop {
            match self.attempt(n).await {
                Ok(()) => {
                    self.tally.counters.sent.fetch_add(1, Ordering::Relaxed);
                    record(n.breaker(), &self.tally.name, "sent");
                    return;
                }
                Err(e) if e.is_retryable() && attempt < self.retry.attempts => {
                    sleep(self.retry.backoff_after(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.tally.counters.failed.fetch_add(1, Ordering::Relaxed);
                    record(n.breaker(), &self.tally.name, "failed");
                    match e.tls_cause() {
                        Some(cause) => self.tls_failure(n, cause, &e),
                        None => self.log_failure(n, attempt, &e),
                    }
                    return;
                }
            }
        }
    }

    /// One attempt with the timeout, in its own task so that a notifier that panics fails
    /// the attempt instead of killing the channel.
    async fn attempt(&self, n: &Arc<Notification>) -> Result<(), DeliveryError> {
        let notifier = self.notifier.clone();
        let n = n.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move { notifier.send(&n).await }));
        match timeout(self.retry.timeout, &mut task.0).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(DeliveryError::Rejected(format!(
                "the notifier failed: {join}"
            ))),
            Err(_) => Err(DeliveryError::Timeout(self.retry.timeout)),
        }
    }

    /// Counts a delivery refused by TLS under its cause, and logs it the first time this
    /// channel meets that cause: the same cause every time says nothing new, and it stays
    /// until the configuration changes.
    fn tls_failure(&self, n: &Notification, cause: TlsCause, e: &DeliveryError) {
        record_tls(&self.tally.name, cause.as_str());
        let first = self
            .tls_logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(cause);
        #[cfg(not(feature = "tracing"))]
        let _ = (n, e, first);
        #[cfg(feature = "tracing")]
        if first {
            tracing::warn!(
                target: "breakerbox",
                breaker = n.breaker(),
                channel = &*self.tally.name,
                kind = n.kind.as_str(),
                tls_cause = cause.as_str(),
                error = %e,
                "breakerbox notification refused by tls (not retried; logged once per channel and cause)"
            );
        }
    }

    fn log_failure(&self, n: &Notification, attempts: u32, e: &DeliveryError) {
        #[cfg(not(feature = "tracing"))]
        let _ = (n, attempts, e);
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "breakerbox",
            breaker = n.breaker(),
            channel = &*self.tally.name,
            kind = n.kind.as_str(),
            attempts,
            error = %e,
            "breakerbox notification failed"
        );
    }
}
