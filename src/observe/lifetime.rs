//! The lifetime call counters (`breakerbox_calls_total`, `breakerbox_slow_calls_total`):
//! counted per call until something publishes them, then published from the breaker's own
//! striped totals, so a call no longer touches an atomic that every thread shares.
//!
//! A breaker's lifetime totals (`src/breaker/striped.rs`) are exact and striped by thread.
//! [`prometheus::render`](super::prometheus::render) and the eager timer's tick publish
//! them with `Counter::absolute` (under the scrape lock, so publishes never interleave).
//! Until a breaker is first published, each call increments its series, as a recorder
//! with no scrape hook (any exporter, no timer) needs; from its first publish on, calls
//! leave the series to the publishes.
//!
//! # Exactness across the switch
//! A call counts into the recorder (while still per call) **before** it adds to its
//! stripe, with a `Release` fence between; a publish reads the stripes, then an `Acquire`
//! fence, then sets the series to the total with `absolute` (a `fetch_max` in the
//! `metrics` recorders). So a per-call increment is never on top of a total that already
//! holds that call: the series never runs ahead of the true count, and the first publish
//! with no call in flight makes it exact. A call caught mid-way by a publish shows at the
//! next one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use metrics::Counter;

use super::names::{CALLS_TOTAL, LABEL_BREAKER, LABEL_OUTCOME, SLOW_CALLS_TOTAL};
use crate::event::OutcomeTotals;

/// The label values of `outcome`, in the order of [`OutcomeTotals`].
const OUTCOMES: [&str; 4] = ["success", "failure", "ignored", "timeout"];

/// Final totals of removed breakers, by name: a breaker built again under that name writes
/// the same series, and continues from them.
static RETIRED: Mutex<BTreeMap<Arc<str>, OutcomeTotals>> = Mutex::new(BTreeMap::new());

fn retired() -> MutexGuard<'static, BTreeMap<Arc<str>, OutcomeTotals>> {
    RETIRED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One breaker's lifetime counter series.
#[derive(Debug)]
pub(crate) struct CallCounters {
    calls: [Counter; 4],
    rejected: Counter,
    slow: [Counter; 4],
    /// Set by the first publish (or by removal): calls no longer touch the recorder.
    published: AtomicBool,
    /// What the series held from a removed breaker of the same name when this one was
    /// built; published totals start from it, so the counters never go back. Boxed: rare,
    /// and a breaker's memory counts.
    base: Option<Box<OutcomeTotals>>,
}

impl CallCounters {
    /// Registers the series of breaker `name` (at 0, so `increase()` sees the first call).
    pub(crate) fn new(name: &Arc<str>) -> CallCounters {
        let counter = |metric: &'static str, outcome: &'static str| metrics::counter!(metric, LABEL_BREAKER => name.clone(), LABEL_OUTCOME => outcome);
        CallCounters {
            calls: OUTCOMES.map(|o| counter(CALLS_TOTAL, o)),
            rejected: counter(CALLS_TOTAL, "rejected"),
            slow: OUTCOMES.map(|o| counter(SLOW_CALLS_TOTAL, o)),
            published: AtomicBool::new(false),
            base: retired().remove(name).map(Box::new),
        }
    }

    /// A call with the outcome of index `i` ran; counted into the recorder until the
    /// first publish. Runs before the breaker adds it to its lifetime totals.
    #[inline]
    pub(crate) fn call(&self, i: usize, slow: bool) {
        if !self.published.load(Ordering::Relaxed) {
            self.calls[i].increment(1);
            if slow {
                self.slow[i].increment(1);
            }
            fence(Ordering::Release);
        }
    }

    /// A call was refused; like [`call`](CallCounters::call).
    #[inline]
    pub(crate) fn rejected(&self) {
        if !self.published.load(Ordering::Relaxed) {
            self.rejected.increment(1);
            fence(Ordering::Release);
        }
    }

    /// Sets every series to the breaker's lifetime totals `t` (read just before), and
    /// leaves counting to the publishes from now on. The caller holds the scrape lock.
    #[cfg(any(feature = "prometheus", feature = "rt-tokio"))]
    pub(crate) fn publish(&self, t: &OutcomeTotals) {
        fence(Ordering::Acquire);
        self.published.store(true, Ordering::Relaxed);
        let t = self.with_base(t);
        for (c, v) in self.calls.iter().zip(t.calls) {
            c.absolute(v);
        }
        self.rejected.absolute(t.rejected);
        for (c, v) in self.slow.iter().zip(t.slow) {
            c.absolute(v);
        }
    }

    /// The breaker was removed (`totals` reads its lifetime totals): it stops writing its
    /// series, and a breaker built again under `name` continues them from its totals,
    /// read after it stopped.
    pub(crate) fn retire(&self, name: &Arc<str>, totals: impl FnOnce() -> OutcomeTotals) {
        self.published.store(true, Ordering::Relaxed);
        let t = totals();
        fence(Ordering::Acquire);
        retired().insert(name.clone(), self.with_base(&t));
    }

    fn with_base(&self, t: &OutcomeTotals) -> OutcomeTotals {
        let Some(base) = &self.base else {
            return *t;
        };
        let add = |a: [u64; 4], b: [u64; 4]| std::array::from_fn(|i| a[i].saturating_add(b[i]));
        OutcomeTotals {
            calls: add(base.calls, t.calls),
            rejected: base.rejected.saturating_add(t.rejected),
            slow: add(base.slow, t.slow),
        }
    }
}
