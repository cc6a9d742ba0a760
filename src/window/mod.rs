//! Lock-free sliding windows over call outcomes.
//!
//! A window is a ring of buckets, each covering one *slot*: a span of time (time-based) or
//! a run of calls (count-based). Running totals make a read O(1); recording a call is one
//! compare-and-swap on the current bucket plus one or two adds to the totals, whatever the
//! window's length. Buckets are reset lazily: the thread that moves the window's head to a
//! new slot expires the buckets it passes, and a bucket found with an older tag is reset by
//! whoever touches it first. Every count removed from a bucket is subtracted from the
//! totals by exactly the thread that removed it, so the totals never drift.

mod bucket;
mod divisor;

use crate::config::WindowKind;
use crate::sync::{AtomicI64, AtomicU64, Ordering};
use bucket::{FIELD_MAX, TaggedCounts};
use crossbeam_utils::CachePadded;
use divisor::Divisor;

/// Counts in the window at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WindowCounts {
    /// Calls recorded (successes, failures; ignored calls are not recorded).
    pub calls: u64,
    /// Failed calls.
    pub failures: u64,
    /// Slow calls (successful or failed).
    pub slow_calls: u64,
}

impl WindowCounts {
    /// The failure rate, or `None` below `min_calls` calls (never a sentinel).
    #[inline]
    pub(crate) fn failure_rate(&self, min_calls: u32) -> Option<f64> {
        self.rate(self.failures, min_calls)
    }

    /// The slow-call rate, or `None` below `min_calls` calls (never a sentinel).
    #[inline]
    pub(crate) fn slow_call_rate(&self, min_calls: u32) -> Option<f64> {
        self.rate(self.slow_calls, min_calls)
    }

    /// `num / calls`, or `None` below `min_calls` calls or in an empty window.
    fn rate(&self, num: u64, min_calls: u32) -> Option<f64> {
        let calls = self.calls;
        (calls > 0 && calls >= u64::from(min_calls)).then(|| num as f64 / calls as f64)
    }
}

#[derive(Debug)]
struct Bucket {
    /// Calls and failures.
    main: TaggedCounts,
    /// Slow calls.
    slow: TaggedCounts,
}

/// Running totals of the counts that are rare in a healthy window. The number of calls
/// has no running total: it is summed from the buckets when a trigger needs it, which is
/// only once the window holds a failure or a slow call, so a successful call does not
/// write a shared total.
#[derive(Debug, Default)]
struct Totals {
    failures: AtomicI64,
    slow: AtomicI64,
}

/// A sliding window.
#[derive(Debug)]
pub(crate) struct Window {
    kind: WindowKind,
    /// Nanoseconds (time-based) or calls (count-based) per slot.
    width: Divisor,
    /// The number of buckets: a slot's bucket is `slot % ring`.
    ring: Divisor,
    buckets: Box<[Bucket]>,
    /// The newest slot. With the shape above and the totals, on the cache line every call
    /// reads: it is written once per slot, the totals only when failures come and go.
    head: AtomicU64,
    totals: Totals,
    /// Calls so far (count-based windows): written by every call, so on a line of its own.
    seq: CachePadded<AtomicU64>,
}

impl Window {
    /// A window of `buckets` buckets (at least 1).
    pub(crate) fn new(kind: WindowKind, buckets: u32) -> Window {
        let n = u64::from(buckets.max(1));
        let width = match kind {
            WindowKind::Time(d) => (crate::time::nanos(d) / n).max(1),
            WindowKind::Count(size) => u64::from(size).div_ceil(n).max(1),
        };
        Window {
            kind,
            width: Divisor::new(width),
            ring: Divisor::new(n),
            buckets: (0..n)
                .map(|_| Bucket {
                    main: TaggedCounts::new(),
                    slow: TaggedCounts::new(),
                })
                .collect(),
            head: AtomicU64::new(0),
            totals: Totals::default(),
            seq: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// Whether this window has the shape a new config asks for.
    pub(crate) fn same_shape(&self, kind: WindowKind, buckets: u32) -> bool {
        self.kind == kind && self.buckets.len() == buckets.max(1) as usize
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    fn time_slot(&self, now: u64) -> u64 {
        self.width.div(now)
    }

    #[inline]
    fn bucket(&self, slot: u64) -> &Bucket {
        &self.buckets[self.ring.rem(slot) as usize]
    }

    /// Records one call finished at `now` (nanoseconds).
    #[inline]
    pub(crate) fn record(&self, now: u64, failure: bool, slow: bool) {
        let slot = match self.kind {
            WindowKind::Time(_) => self.time_slot(now),
            WindowKind::Count(_) => self.width.div(self.seq.fetch_add(1, Ordering::Relaxed)),
        };
        self.advance(slot);
        let bucket = self.bucket(slot);
        let d = bucket.main.add(slot, 1, u64::from(failure));
        self.apply(d.added.1, d.removed.1, &self.totals.failures);
        if slow {
            let d = bucket.slow.add(slot, 0, 1);
            self.apply(d.added.1, d.removed.1, &self.totals.slow);
        }
    }

    #[inline]
    fn apply(&self, added: u64, removed: u64, total: &AtomicI64) {
        let delta = added as i64 - removed as i64;
        if delta != 0 {
            total.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Moves the head to `slot` if it is ahead, expiring the buckets passed.
    #[inline]
    fn advance(&self, slot: u64) {
        let mut head = self.head.load(Ordering::Relaxed);
        while slot > head {
            match self
                .head
                .compare_exchange_weak(head, slot, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let first = (head + 1).max(slot.saturating_sub(self.len() - 1));
                    for s in first..=slot {
                        self.expire(s);
                    }
                    return;
                }
                Err(found) => head = found,
            }
        }
    }

    fn expire(&self, slot: u64) {
        let bucket = self.bucket(slot);
        let (_, failures) = bucket.main.expire(slot);
        self.apply(0, failures, &self.totals.failures);
        let (_, slow) = bucket.slow.expire(slot);
        self.apply(0, slow, &self.totals.slow);
    }

    /// The counts in the window; for a time-based window, as of `now`.
    pub(crate) fn counts(&self, now: u64) -> WindowCounts {
        if let WindowKind::Time(_) = self.kind {
            self.advance(self.time_slot(now));
        }
        self.totals()
    }

    /// The counts as last recorded, without sliding a time-based window forward first.
    #[inline]
    pub(crate) fn totals(&self) -> WindowCounts {
        let (failures, slow_calls) = self.rare_totals();
        let calls = self.calls();
        WindowCounts {
            calls,
            failures: failures.min(calls),
            slow_calls: slow_calls.min(calls),
        }
    }

    /// The failures and slow calls in the window (two loads): when both are zero, no
    /// rate can trip and the number of calls is not needed.
    #[inline]
    pub(crate) fn rare_totals(&self) -> (u64, u64) {
        let read = |t: &AtomicI64| t.load(Ordering::Relaxed).max(0) as u64;
        (read(&self.totals.failures), read(&self.totals.slow))
    }

    /// The calls in the window, summed from the buckets (one load per bucket, at most
    /// `MAX_WINDOW_BUCKETS`).
    fn calls(&self) -> u64 {
        self.buckets.iter().map(|b| b.main.peek().1).sum()
    }

    /// The counts recomputed from the buckets, to check that the totals never drift.
    #[cfg(any(test, breakerbox_loom))]
    pub(crate) fn bucket_sum(&self) -> WindowCounts {
        let mut c = WindowCounts::default();
        for b in self.buckets.iter() {
            let (_, calls, failures) = b.main.peek();
            let (_, _, slow) = b.slow.peek();
            c.calls += calls;
            c.failures += failures;
            c.slow_calls += slow;
        }
        c
    }

    /// Empties the window.
    pub(crate) fn clear(&self) {
        for b in self.buckets.iter() {
            let (_, failures) = b.main.clear();
            self.apply(0, failures, &self.totals.failures);
            let (_, slow) = b.slow.clear();
            self.apply(0, slow, &self.totals.slow);
        }
    }

    /// Adds counts carried over from another window (used when a new config changes the
    /// window's shape) to the current bucket: scaled down, rates kept, to what one bucket
    /// holds and, for a count-based window, to its size.
    pub(crate) fn carry_over(&self, now: u64, counts: WindowCounts) {
        let capacity = match self.kind {
            WindowKind::Count(n) => u64::from(n).min(FIELD_MAX),
            WindowKind::Time(_) => FIELD_MAX,
        };
        let counts = scaled(counts, capacity);
        let slot = match self.kind {
            WindowKind::Time(_) => self.time_slot(now),
            WindowKind::Count(_) => self
                .width
                .div(self.seq.fetch_add(counts.calls, Ordering::Relaxed)),
        };
        self.advance(slot);
        let bucket = self.bucket(slot);
        let d = bucket.main.add(slot, counts.calls, counts.failures);
        self.apply(d.added.1, d.removed.1, &self.totals.failures);
        let d = bucket.slow.add(slot, 0, counts.slow_calls);
        self.apply(d.added.1, d.removed.1, &self.totals.slow);
    }
}

/// `counts` with at most `max` calls, failures and slow calls scaled in proportion.
fn scaled(counts: WindowCounts, max: u64) -> WindowCounts {
    if counts.calls <= max {
        return counts;
    }
    let part = |n: u64| {
        let n = u128::from(n.min(counts.calls)) * u128::from(max) / u128::from(counts.calls);
        u64::try_from(n).unwrap_or(max)
    };
    WindowCounts {
        calls: max,
        failures: part(counts.failures),
        slow_calls: part(counts.slow_calls),
    }
}

#[cfg(all(test, not(breakerbox_loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: u64 = 1_000_000;

    #[test]
    fn time_window_slides_out_old_calls() {
        let w = Window::new(WindowKind::Time(Duration::from_secs(10)), 10);
        for _ in 0..5 {
            w.record(0, true, false);
        }
        w.record(5_000 * MS, false, true);
        assert_eq!(
            w.counts(5_000 * MS),
            WindowCounts {
                calls: 6,
                failures: 5,
                slow_calls: 1
            }
        );
        // 10.5 s later the first bucket has left the window, the second is still in.
        assert_eq!(w.counts(10_500 * MS).calls, 1);
        assert_eq!(w.counts(15_000 * MS).calls, 0);
    }

    #[test]
    fn idle_time_window_is_empty_when_traffic_returns() {
        let w = Window::new(WindowKind::Time(Duration::from_secs(60)), 10);
        for i in 0..100 {
            w.record(i * 100 * MS, true, true);
        }
        w.record(3_600_000 * MS, false, false);
        let c = w.counts(3_600_000 * MS);
        assert_eq!((c.calls, c.failures, c.slow_calls), (1, 0, 0));
    }

    #[test]
    fn count_window_keeps_the_last_calls() {
        let w = Window::new(WindowKind::Count(10), 10);
        for _ in 0..10 {
            w.record(0, true, false);
        }
        assert_eq!(w.counts(0).failures, 10);
        for _ in 0..10 {
            w.record(0, false, false);
        }
        let c = w.counts(0);
        assert_eq!((c.calls, c.failures), (10, 0));
    }

    #[test]
    fn count_window_with_coarse_buckets_slides_by_bucket() {
        let w = Window::new(WindowKind::Count(100), 10);
        for _ in 0..100 {
            w.record(0, true, false);
        }
        w.record(0, false, false);
        // The oldest bucket of ten calls has slid out.
        let c = w.counts(0);
        assert_eq!((c.calls, c.failures), (91, 90));
    }

    #[test]
    fn clear_empties_everything() {
        let w = Window::new(WindowKind::Time(Duration::from_secs(1)), 4);
        w.record(0, true, true);
        w.record(300 * MS, true, false);
        w.clear();
        assert_eq!(w.counts(300 * MS), WindowCounts::default());
        w.record(400 * MS, false, false);
        assert_eq!(w.counts(400 * MS).calls, 1);
    }

    #[test]
    fn carry_over_preserves_counts() {
        let w = Window::new(WindowKind::Count(50), 5);
        let counts = WindowCounts {
            calls: 7,
            failures: 3,
            slow_calls: 2,
        };
        w.carry_over(0, counts);
        assert_eq!(w.counts(0), counts);
    }

    #[test]
    fn carry_over_beyond_a_bucket_keeps_the_rates_and_the_tag() {
        let w = Window::new(WindowKind::Time(Duration::from_secs(10)), 10);
        let busy = WindowCounts {
            calls: 10_000_000,
            failures: 6_000_000,
            slow_calls: 2_500_000,
        };
        w.carry_over(0, busy);
        assert_eq!(w.totals(), w.bucket_sum());
        let c = w.counts(0);
        assert_eq!(c.calls, FIELD_MAX);
        assert_eq!(c.failures, FIELD_MAX * 6 / 10);
        assert_eq!(c.slow_calls, FIELD_MAX / 4);
        w.record(500 * MS, true, false);
        assert_eq!(w.totals(), w.bucket_sum());
        // The carried counts slide out with their bucket.
        assert_eq!(w.counts(10_500 * MS), WindowCounts::default());
        // A count window takes at most its size.
        let w = Window::new(WindowKind::Count(10), 10);
        w.carry_over(0, busy);
        let c = w.counts(0);
        assert_eq!((c.calls, c.failures, c.slow_calls), (10, 6, 2));
        assert_eq!(w.totals(), w.bucket_sum());
    }

    #[test]
    fn concurrent_records_keep_exact_totals() {
        let w = std::sync::Arc::new(Window::new(WindowKind::Count(1_000_000), 8));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        w.record(0, (i + t) % 3 == 0, i % 5 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = w.counts(0);
        assert_eq!(c.calls, 200_000);
        assert_eq!(c.slow_calls, 40_000);
        assert_eq!(c, w.bucket_sum());
    }

    #[test]
    fn concurrent_rotation_keeps_totals_equal_to_buckets() {
        let w = std::sync::Arc::new(Window::new(WindowKind::Count(16), 4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..100_000u64 {
                        w.record(0, (i + t) % 2 == 0, i % 7 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.totals(), w.bucket_sum());
    }
}

#[cfg(breakerbox_loom)]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::time::Duration;

    /// Two threads record across a bucket rotation: the running totals always equal the
    /// sum of the buckets afterwards, so no count is lost or counted twice.
    #[test]
    fn rotation_loses_no_count() {
        loom::model(|| {
            let w = Arc::new(Window::new(WindowKind::Count(2), 2));
            let w2 = w.clone();
            let t = thread::spawn(move || {
                w2.record(0, true, false);
                w2.record(0, false, true);
            });
            w.record(0, true, true);
            t.join().unwrap();
            assert_eq!(w.totals(), w.bucket_sum());
            assert!(
                w.totals().calls >= 2,
                "the last two calls are in the window"
            );
        });
    }

    /// Concurrent records into one time slot while another thread advances the head.
    #[test]
    fn concurrent_adds_and_expiry_keep_totals_exact() {
        loom::model(|| {
            let w = Arc::new(Window::new(WindowKind::Time(Duration::from_nanos(4)), 2));
            let w2 = w.clone();
            let t = thread::spawn(move || {
                w2.record(1, true, false);
            });
            w.record(2, false, false);
            w.record(5, false, false);
            t.join().unwrap();
            assert_eq!(w.totals(), w.bucket_sum());
        });
    }
}
