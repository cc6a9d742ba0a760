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

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use metrics::Counter;

use super::names::{CALLS_TOTAL, LABEL_BREAKER, LABEL_OUTCOME, SLOW_CALLS_TOTAL};
use crate::event::OutcomeTotals;

/// The label values of `outcome`, in the order of [`OutcomeTotals`].
const OUTCOMES: [&str; 4] = ["success", "failure", "ignored", "timeout"];

/// The recorder a breaker's series live in: the address of the recorder in force when it
/// was built (the global recorder, or a local one while it lives).
pub(crate) type RecorderId = usize;

/// How many removed breakers' totals are kept at most; beyond, the oldest are forgotten.
pub(crate) const RETIRED_CAP: usize = 4096;

/// Final totals of removed breakers, by recorder and name: a breaker built again under
/// that name with the same recorder writes the same series, and continues from them.
/// Bounded: names never built again leave after [`RETIRED_CAP`] newer removals.
#[derive(Default)]
struct Retired {
    totals: BTreeMap<(RecorderId, Arc<str>), (u64, OutcomeTotals)>,
    /// Keys by age, with the sequence number they were inserted with.
    order: VecDeque<(u64, RecorderId, Arc<str>)>,
    next: u64,
}

impl Retired {
    fn insert(&mut self, key: (RecorderId, Arc<str>), t: OutcomeTotals) {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        self.order.push_back((seq, key.0, key.1.clone()));
        self.totals.insert(key, (seq, t));
        while self.order.len() > RETIRED_CAP {
            let Some((seq, recorder, name)) = self.order.pop_front() else {
                break;
            };
            let key = (recorder, name);
            // A key removed since, or inserted again later, is not this entry.
            if self.totals.get(&key).is_some_and(|(s, _)| *s == seq) {
                self.totals.remove(&key);
            }
        }
    }

    fn take(&mut self, key: &(RecorderId, Arc<str>)) -> Option<OutcomeTotals> {
        self.totals.remove(key).map(|(_, t)| t)
    }
}

static RETIRED: Mutex<Option<Retired>> = Mutex::new(None);

fn with_retired<R>(f: impl FnOnce(&mut Retired) -> R) -> R {
    let mut guard: MutexGuard<'_, Option<Retired>> =
        RETIRED.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(Retired::default))
}

/// How many removed breakers' totals are kept for `recorder` and names starting with
/// `prefix` (for the memory test: a recorder's address may be an earlier one's).
#[cfg(test)]
pub(crate) fn retired_of(recorder: RecorderId, prefix: &str) -> usize {
    with_retired(|r| {
        r.totals
            .keys()
            .filter(|(id, name)| *id == recorder && name.starts_with(prefix))
            .count()
    })
}

/// The recorder in force.
pub(crate) fn recorder_id() -> RecorderId {
    metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>().addr())
}

/// One breaker's lifetime counter series.
#[derive(Debug)]
pub(crate) struct CallCounters {
    calls: [Counter; 4],
    rejected: Counter,
    slow: [Counter; 4],
    /// Set by the first publish (or by removal), or at build when no recorder is in force
    /// (the series are no-ops): calls no longer touch the recorder.
    published: AtomicBool,
    /// What the series held from a removed breaker of the same name when this one was
    /// built; published totals start from it, so the counters never go back. Boxed: rare,
    /// and a breaker's memory counts.
    base: Option<Box<OutcomeTotals>>,
    /// The recorder the series live in.
    recorder: RecorderId,
}

impl CallCounters {
    /// Registers the series of breaker `name` (at 0, so `increase()` sees the first call).
    pub(crate) fn new(name: &Arc<str>) -> CallCounters {
        let counter = |metric: &'static str, outcome: &'static str| metrics::counter!(metric, LABEL_BREAKER => name.clone(), LABEL_OUTCOME => outcome);
        let recorder = recorder_id();
        CallCounters {
            calls: OUTCOMES.map(|o| counter(CALLS_TOTAL, o)),
            rejected: counter(CALLS_TOTAL, "rejected"),
            slow: OUTCOMES.map(|o| counter(SLOW_CALLS_TOTAL, o)),
            // Without a recorder in force the series are no-ops: nothing to count per call.
            published: AtomicBool::new(!metrics::with_recorder(|r| std::mem::size_of_val(r) != 0)),
            base: with_retired(|r| r.take(&(recorder, name.clone()))).map(Box::new),
            recorder,
        }
    }

    /// The recorder the series live in.
    pub(crate) fn recorder(&self) -> RecorderId {
        self.recorder
    }

    /// Whether the series are published from the lifetime totals (calls no longer count
    /// them).
    #[inline(always)]
    pub(crate) fn published(&self) -> bool {
        self.published.load(Ordering::Relaxed)
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
    /// series, and a breaker built again under `name` with the same recorder continues
    /// them from its totals, read after it stopped.
    pub(crate) fn retire(&self, name: &Arc<str>, totals: impl FnOnce() -> OutcomeTotals) {
        self.published.store(true, Ordering::Relaxed);
        let t = totals();
        fence(Ordering::Acquire);
        let t = self.with_base(&t);
        with_retired(|r| r.insert((self.recorder, name.clone()), t));
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

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::DebuggingRecorder;

    fn totals(n: u64) -> OutcomeTotals {
        OutcomeTotals {
            calls: [n, 0, 0, 0],
            ..OutcomeTotals::default()
        }
    }

    #[test]
    fn a_breaker_continues_only_the_totals_retired_under_its_own_recorder() {
        let (a, b) = (DebuggingRecorder::new(), DebuggingRecorder::new());
        let name: Arc<str> = "retired-by-recorder".into();
        let old = metrics::with_local_recorder(&a, || CallCounters::new(&name));
        old.retire(&name, || totals(7));
        let other = metrics::with_local_recorder(&b, || CallCounters::new(&name));
        assert_eq!(other.base, None, "another recorder's series start at 0");
        let same = metrics::with_local_recorder(&a, || CallCounters::new(&name));
        assert_eq!(same.base.as_deref(), Some(&totals(7)));
    }

    #[test]
    fn retired_totals_are_bounded() {
        let rec = DebuggingRecorder::new();
        metrics::with_local_recorder(&rec, || {
            let first: Arc<str> = "retired-bounded-first".into();
            CallCounters::new(&first).retire(&first, || totals(1));
            for i in 0..RETIRED_CAP + 10 {
                let name: Arc<str> = format!("retired-bounded-{i}").into();
                CallCounters::new(&name).retire(&name, || totals(1));
            }
            assert!(with_retired(|r| r.totals.len()) <= RETIRED_CAP);
            assert!(with_retired(|r| r.order.len()) <= RETIRED_CAP);
            // The oldest is forgotten: built again, it starts from 0.
            assert_eq!(CallCounters::new(&first).base, None);
        });
    }
}
