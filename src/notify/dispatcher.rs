//! The [`Dispatcher`]: a listener that queues transitions without blocking, and the
//! background task that turns them into notices for every channel.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::channel::{Channel, Tally};
use super::message::Notification;
use super::policy::{Filter, FlapPolicy, RetryPolicy};
use super::stats::{ChannelStats, Stats};
use super::suppress::{Suppressor, Verdict};
use super::{Notifier, NotifyError};
use crate::event::{Event, Listener, ListenerId, Transition};
use crate::registry::{Attachment, Flush, Flushed, Registry};

/// Builds a [`Dispatcher`]; see [`Dispatcher::builder`].
#[derive(Debug)]
#[must_use]
pub struct DispatcherBuilder {
    channels: Vec<Arc<dyn Notifier>>,
    capacity: usize,
    retry: RetryPolicy,
    flap: FlapPolicy,
    filter: Filter,
    host: Option<Arc<str>>,
}

impl DispatcherBuilder {
    /// Adds a channel. Each channel has its own queue and task, so a dead SMTP server does
    /// not delay the webhook.
    pub fn channel(self, notifier: impl Notifier) -> Self {
        self.shared_channel(Arc::new(notifier))
    }

    /// Adds a channel shared with other code.
    pub fn shared_channel(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.channels.push(notifier);
        self
    }

    /// The bound of the transition queue and of each channel's queue (default 1024). When
    /// a queue is full, further notices are dropped and counted, never waited for.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Timeouts and retries of every delivery (default [`RetryPolicy::new`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// When a breaker counts as flapping (default [`FlapPolicy::default`]).
    pub fn flapping(mut self, flap: FlapPolicy) -> Self {
        self.flap = flap;
        self
    }

    /// Which transitions notify (default [`Filter::default`]: opens and closes).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// The host name the notices carry (default: this machine's).
    pub fn host(mut self, host: impl Into<Arc<str>>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Starts the dispatcher's tasks on the current Tokio runtime.
    ///
    /// # Errors
    /// [`NotifyError::NoRuntime`] outside a Tokio runtime; [`NotifyError::Zero`] for a zero
    /// queue capacity; the policies' range errors.
    pub fn build(self) -> Result<Dispatcher, NotifyError> {
        if self.capacity == 0 {
            return Err(NotifyError::Zero {
                field: "queue_capacity",
            });
        }
        self.retry.validate()?;
        self.flap.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let _guard = runtime.enter();
        let (cancel, cancel_rx) = watch::channel(false);
        let (channels, channel_tasks): (Vec<Channel>, Vec<_>) = self
            .channels
            .into_iter()
            .map(|n| Channel::spawn(n, self.capacity, self.retry.clone(), cancel_rx.clone()))
            .unzip();
        let (tx, rx) = mpsc::channel(self.capacity);
        let shared = Arc::new(Shared {
            filter: self.filter,
            tx,
            tallies: channels.iter().map(|c| c.tally().clone()).collect(),
            counters: DispatchCounters::default(),
            seen: Mutex::default(),
        });
        let worker = FanOutTask {
            suppressor: Suppressor::new(self.flap, self.host),
            channels,
            shared: shared.clone(),
        };
        let (stop, stop_rx) = oneshot::channel();
        let worker = tokio::spawn(worker.run(rx, stop_rx));
        Ok(Dispatcher {
            shared,
            control: Arc::new(Mutex::new(Some(Control {
                stop,
                cancel,
                worker,
                channels: channel_tasks,
            }))),
        })
    }
}

/// Delivers notifications about state changes to email, webhooks, Alertmanager or any
/// [`Notifier`], in the background.
///
/// Subscribe its [`listener`](Dispatcher::listener) to a registry or a breaker. Call
/// [`shutdown`](Dispatcher::shutdown) before exiting to flush what is queued; dropping the
/// dispatcher instead stops queueing and lets queued notices finish in the background.
///
/// ```
/// use breakerbox::notify::{Dispatcher, FlapPolicy, RetryPolicy};
/// use std::time::Duration;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dispatcher = Dispatcher::builder()
///     .queue_capacity(256)
///     .retry(RetryPolicy::new().attempts(5))
///     .flapping(FlapPolicy::new(4, Duration::from_secs(600)))
///     .build()?;
/// let stats = dispatcher.shutdown(Duration::from_secs(1)).await;
/// assert_eq!(stats.offered, 0);
/// # Ok::<(), breakerbox::notify::NotifyError>(())
/// # }).unwrap();
/// ```
pub struct Dispatcher {
    shared: Arc<Shared>,
    /// Shared with the registries it is subscribed to, which flush it on
    /// [`Registry::shutdown`] (weakly: a dropped dispatcher is not kept).
    control: Arc<Mutex<Option<Control>>>,
}

struct Control {
    stop: oneshot::Sender<()>,
    cancel: watch::Sender<bool>,
    worker: JoinHandle<()>,
    channels: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A builder with no channels, a queue of 1024, the default policies and filter.
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder {
            channels: Vec::new(),
            capacity: 1024,
            retry: RetryPolicy::default(),
            flap: FlapPolicy::default(),
            filter: Filter::default(),
            host: None,
        }
    }

    /// The listener to subscribe: on a transition it only `try_send`s into the queue.
    pub fn listener(&self) -> DispatchListener {
        DispatchListener {
            shared: self.shared.clone(),
        }
    }

    /// Subscribes the [`listener`](Dispatcher::listener) to every breaker of `registry`.
    ///
    /// Registers `breakerbox_notifications_total` at 0 for every breaker already in
    /// `registry` x every channel x every result (sent, failed, dropped), so that the first
    /// failed delivery is an increase Prometheus sees. A breaker added later is registered
    /// when the dispatcher sees it for the first time, see [`watch`](Dispatcher::watch).
    pub fn subscribe(&self, registry: &Registry) -> ListenerId {
        for name in registry.names() {
            self.shared.preregister(&name);
        }
        registry.attach(Box::new(Flusher {
            shared: self.shared.clone(),
            control: Arc::downgrade(&self.control),
        }));
        registry.subscribe(self.listener())
    }

    /// Registers `breakerbox_notifications_total` of breaker `name` at 0 for every channel
    /// x result now, rather than at its first transition (the listener does it then). Call
    /// it for breakers the dispatcher will hear about through their own
    /// [`subscribe`](crate::CircuitBreaker::subscribe), so a scrape sees the 0 before the
    /// first failed delivery.
    pub fn watch(&self, name: &str) {
        self.shared.preregister(name);
    }

    /// The counters so far. Exact once [`shutdown`](Dispatcher::shutdown) has returned
    /// and no call is emitting transitions any more.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Stops queueing, processes what is queued and waits up to `deadline` for the
    /// channels to deliver it; what is still undelivered then is dropped (and counted).
    /// Later calls return the stats at once.
    pub async fn shutdown(&self, deadline: Duration) -> Stats {
        shutdown(&self.shared, &self.control, deadline).await
    }
}

/// [`Dispatcher::shutdown`], for the dispatcher's handle and for a registry's shutdown.
async fn shutdown(shared: &Shared, control: &Mutex<Option<Control>>, deadline: Duration) -> Stats {
    let control = control.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(control) = control else {
        return shared.stats();
    };
    let end = super::deadline::after(Instant::now(), deadline);
    let _ = control.stop.send(());
    let mut tasks = control.channels;
    tasks.insert(0, control.worker);
    let flushed = async {
        for task in &mut tasks {
            let _ = task.await;
        }
    };
    if timeout_at(end, flushed).await.is_err() {
        let _ = control.cancel.send(true);
        for task in tasks.iter_mut().filter(|t| !t.is_finished()) {
            let _ = task.await;
        }
    }
    shared.stats()
}

/// A dispatcher subscribed to a registry, as its attachment: [`Registry::shutdown`]
/// flushes it like [`Dispatcher::shutdown`].
struct Flusher {
    shared: Arc<Shared>,
    control: Weak<Mutex<Option<Control>>>,
}

impl Attachment for Flusher {
    fn is_gone(&self) -> bool {
        self.control
            .upgrade()
            .is_none_or(|c| c.lock().unwrap_or_else(|e| e.into_inner()).is_none())
    }

    fn stop(&self, _: &Registry) -> Option<Box<dyn FnOnce(Duration) -> Flush + Send>> {
        let control = self.control.upgrade()?;
        let shared = self.shared.clone();
        Some(Box::new(move |left| {
            Box::pin(async move {
                Flushed {
                    notifications: Some(shutdown(&shared, &control, left).await),
                }
            })
        }))
    }
}

/// The [`Listener`] half of a [`Dispatcher`]: cheap to clone, never blocks.
#[derive(Clone)]
pub struct DispatchListener {
    shared: Arc<Shared>,
}

impl fmt::Debug for DispatchListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatchListener").finish_non_exhaustive()
    }
}

impl Listener for DispatchListener {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::Transition(t) = event {
            self.shared.offer(t);
        }
    }
}

/// The dispatcher's own counts (the [`Stats`] before the per-channel part): transitions
/// offered, queued, dropped and suppressed; notifications and flap summaries sent on.
#[derive(Debug, Default)]
struct DispatchCounters {
    offered: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    suppressed: AtomicU64,
    notifications: AtomicU64,
    summaries: AtomicU64,
}

struct Shared {
    filter: Filter,
    tx: mpsc::Sender<Transition>,
    tallies: Vec<Tally>,
    counters: DispatchCounters,
    /// Breakers whose notification series are registered.
    seen: Mutex<HashSet<Arc<str>>>,
}

impl Shared {
    /// Registers the notification series of `breaker` once (every channel x result at 0).
    fn preregister(&self, breaker: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(breaker) {
            return;
        }
        seen.insert(Arc::from(breaker));
        for tally in &self.tallies {
            super::preregister(breaker, &tally.name);
        }
    }

    /// The call path: filter, clone, `try_send`.
    fn offer(&self, t: &Transition) {
        self.preregister(&t.breaker);
        if !self.filter.matches(t) {
            return;
        }
        let c = &self.counters;
        c.offered.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(t.clone()).is_ok() {
            c.queued.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let dropped = c.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        for tally in &self.tallies {
            tally.dropped_upstream(&t.breaker);
        }
        #[cfg(feature = "tracing")]
        if dropped.is_power_of_two() {
            tracing::warn!(
                target: "breakerbox",
                breaker = &*t.breaker,
                dropped,
                "breakerbox notification queue full or closed: notice dropped"
            );
        }
        #[cfg(not(feature = "tracing"))]
        let _ = dropped;
    }

    fn stats(&self) -> Stats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        let capacity = self.tx.max_capacity();
        Stats {
            offered: load(&c.offered),
            queued: load(&c.queued),
            dropped: load(&c.dropped),
            suppressed: load(&c.suppressed),
            notifications: load(&c.notifications),
            summaries: load(&c.summaries),
            queue_len: capacity - self.tx.capacity(),
            queue_capacity: capacity,
            channels: self
                .tallies
                .iter()
                .map(|t| ChannelStats {
                    channel: t.name.to_string(),
                    queued: load(&t.counters.queued),
                    sent: load(&t.counters.sent),
                    failed: load(&t.counters.failed),
                    dropped: load(&t.counters.dropped),
                    refreshes: load(&t.counters.refreshes),
                })
                .collect(),
        }
    }
}

/// The dispatcher's task: turns queued transitions into notifications (suppressing
/// flapping breakers into summaries) and fans each out to every channel's queue.
struct FanOutTask {
    suppressor: Suppressor,
    channels: Vec<Channel>,
    shared: Arc<Shared>,
}

impl FanOutTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Transition>, mut stop: oneshot::Receiver<()>) {
        loop {
            let settle_at = self.suppressor.next_deadline();
            tokio::select! {
                biased;
                _ = &mut stop => break,
                t = rx.recv() => match t {
                    Some(t) => self.on_transition(t),
                    None => break,
                },
                _ = sleep_until(settle_at.unwrap_or_else(Instant::now)), if settle_at.is_some() => {
                    self.settle(false);
                }
            }
        }
        rx.close();
        while let Some(t) = rx.recv().await {
            self.on_transition(t);
        }
        self.settle(true);
        // Dropping `self.channels` lets each channel task deliver its queue and stop.
    }

    fn on_transition(&mut self, t: Transition) {
        match self.suppressor.on_transition(t, Instant::now()) {
            Verdict::Notify(n) => self.emit(n),
            Verdict::Suppress => {
                self.shared
                    .counters
                    .suppressed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn settle(&mut self, all: bool) {
        for n in self.suppressor.settle(Instant::now(), all) {
            self.shared
                .counters
                .summaries
                .fetch_add(1, Ordering::Relaxed);
            self.emit(n);
        }
    }

    fn emit(&self, n: Notification) {
        self.shared
            .counters
            .notifications
            .fetch_add(1, Ordering::Relaxed);
        let n = Arc::new(n);
        for channel in &self.channels {
            channel.offer(&n);
        }
    }
}
