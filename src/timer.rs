//! The eager timer (feature `rt-tokio`): a Tokio task that calls `poll_timeouts`
//! periodically, so an Open breaker moves to HalfOpen when its reset timeout elapses even
//! if no call arrives, and the state and rate gauges stay true on an idle service. Each
//! tick also publishes the call counters from the breakers' own totals (feature
//! `metrics`), for exporters other than `observe::prometheus::render`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{MissedTickBehavior, interval};

use crate::{CircuitBreaker, Registry};

/// The shortest period a timer accepts; shorter ones (including zero) are raised to it.
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
pub const MIN_TIMER_PERIOD: Duration = Duration::from_millis(1);

/// A running eager timer. **Dropping the handle stops the timer**; call
/// [`detach`](TimerHandle::detach) to let it run for the life of the runtime.
#[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
#[must_use = "the timer stops when its handle is dropped"]
pub struct TimerHandle {
    task: Option<JoinHandle<()>>,
    period: Duration,
    /// Set when the handle stops the task, before the runtime has ended it.
    stopped: Arc<AtomicBool>,
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("period", &self.period)
            .field("running", &self.is_running())
            .finish()
    }
}

impl TimerHandle {
    fn spawn(period: Duration, mut tick: impl FnMut() + Send + 'static) -> TimerHandle {
        let period = period.max(MIN_TIMER_PERIOD);
        let task = tokio::spawn(async move {
            let mut ticks = interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                tick();
            }
        });
        TimerHandle {
            task: Some(task),
            period,
            stopped: Arc::default(),
        }
    }

    /// How often the timer ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Whether the timer task is still running: false once it is stopped (by its handle
    /// or by [`Registry::shutdown`]) or ended.
    pub fn is_running(&self) -> bool {
        !self.stopped.load(Ordering::Acquire)
            && self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the timer (the same as dropping the handle).
    pub fn stop(self) {}

    /// Lets the timer run until the runtime shuts down.
    pub fn detach(mut self) {
        self.task = None;
    }
}

impl Drop for TimerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.stopped.store(true, Ordering::Release);
            task.abort();
        }
    }
}

impl Registry {
    /// Spawns a Tokio task that calls [`Registry::poll_timeouts`] every `period` (at least
    /// [`MIN_TIMER_PERIOD`]): Open and ForcedOpen breakers whose timeout has elapsed move to
    /// HalfOpen without waiting for a call, and the rate gauges of every breaker, present
    /// and future, are refreshed. A period of about a second suits most services.
    ///
    /// Each tick also publishes the call counters (`breakerbox_calls_total`,
    /// `breakerbox_slow_calls_total`) of every breaker in the registry from its exact
    /// lifetime totals; from a breaker's first tick on, its calls no longer increment them,
    /// so exporters other than `observe::prometheus::render` show them as of the last tick
    /// (see "Call counters at scrape time" in `docs/METRICS.md`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    ///
    /// let registry = breakerbox::Registry::new();
    /// let timer = registry.spawn_timer(Duration::from_secs(1));
    /// // ... keep `timer` alive for as long as the timer should run.
    /// # drop(timer);
    /// # }
    /// ```
    ///
    /// # Panics
    /// When called outside a Tokio runtime (like `tokio::spawn`).
    #[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
    pub fn spawn_timer(&self, period: Duration) -> TimerHandle {
        let registry = self.clone();
        let timer = TimerHandle::spawn(period, move || {
            registry.poll_timeouts();
            #[cfg(feature = "metrics")]
            crate::observe::publish::publish_counters(&registry.all());
        });
        if let Some(task) = &timer.task {
            self.attach(Box::new(crate::registry::Task {
                task: task.abort_handle(),
                stopped: timer.stopped.clone(),
            }));
        }
        timer
    }
}

impl CircuitBreaker {
    /// Spawns a Tokio task that calls [`CircuitBreaker::poll_timeouts`] every `period` (at
    /// least [`MIN_TIMER_PERIOD`]), and publishes its call counters on each tick; for a
    /// breaker outside a registry (see [`Registry::spawn_timer`]). The task holds a clone
    /// of the breaker.
    ///
    /// # Panics
    /// When called outside a Tokio runtime (like `tokio::spawn`).
    #[cfg_attr(docsrs, doc(cfg(feature = "rt-tokio")))]
    pub fn spawn_timer(&self, period: Duration) -> TimerHandle {
        let breaker = self.clone();
        TimerHandle::spawn(period, move || {
            breaker.poll_timeouts();
            #[cfg(feature = "metrics")]
            crate::observe::publish::publish_counters(std::slice::from_ref(&breaker));
        })
    }
}
