//! Lifetime call counters, striped by thread so that threads calling one breaker do not
//! share a cache line on every call, and exact.

use std::sync::atomic::{AtomicU64, Ordering};

use super::CallTotals;
use crate::event::{Outcome, OutcomeTotals};

use crate::stripe::{self, STRIPES};

/// One stripe: the eight lifetime counters on one cache line, by outcome as the metrics
/// label them. A timed-out call is slow by definition, so it has no slow counter of its
/// own: its count is the count of slow timeouts.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Stripe {
    success: AtomicU64,
    failure: AtomicU64,
    ignored: AtomicU64,
    timeout: AtomicU64,
    rejected: AtomicU64,
    slow_success: AtomicU64,
    slow_failure: AtomicU64,
    slow_ignored: AtomicU64,
}

/// Lifetime outcome counters, striped by thread; a read sums the stripes.
///
/// Which stripe a thread writes, and how, is `crate::stripe`'s: a thread that owns its
/// stripe adds with a plain load and store instead of an atomic read-modify-write (about
/// 10 ns here), the others atomically; every count lands exactly once.
#[derive(Debug, Default)]
pub(crate) struct StripedTotals {
    stripes: [Stripe; STRIPES],
}

impl StripedTotals {
    /// Counts a call that ran with `outcome`, and was `slow`.
    #[inline(always)]
    pub(crate) fn call(&self, outcome: Outcome, slow: bool) {
        self.add(match outcome {
            Outcome::Success => |s| &s.success,
            Outcome::Failure => |s| &s.failure,
            Outcome::Ignore => |s| &s.ignored,
            Outcome::Timeout => |s| &s.timeout,
        });
        if slow {
            match outcome {
                Outcome::Success => self.add(|s| &s.slow_success),
                Outcome::Failure => self.add(|s| &s.slow_failure),
                Outcome::Ignore => self.add(|s| &s.slow_ignored),
                Outcome::Timeout => {}
            }
        }
    }

    /// Counts a refused call.
    #[inline(always)]
    pub(crate) fn rejected(&self) {
        self.add(|s| &s.rejected);
    }

    /// Adds one to the counter `pick` selects, in the calling thread's stripe.
    #[inline]
    fn add(&self, pick: fn(&Stripe) -> &AtomicU64) {
        let (index, owned) = stripe::current();
        let counter = pick(&self.stripes[index]);
        if owned {
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sums over all stripes.
    pub(crate) fn totals(&self) -> CallTotals {
        let o = self.by_outcome();
        let [success, failure, ignored, timeout] = o.calls;
        CallTotals {
            successes: success,
            failures: failure.saturating_add(timeout),
            timeouts: timeout,
            ignored,
            rejected: o.rejected,
            slow: o.slow.iter().fold(0, |a, b| a.saturating_add(*b)),
        }
    }

    /// The sums over all stripes, by outcome.
    pub(crate) fn by_outcome(&self) -> OutcomeTotals {
        let mut t = OutcomeTotals::default();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for s in &self.stripes {
            let calls = [&s.success, &s.failure, &s.ignored, &s.timeout];
            for (sum, c) in t.calls.iter_mut().zip(calls) {
                *sum = sum.saturating_add(load(c));
            }
            t.rejected = t.rejected.saturating_add(load(&s.rejected));
            let slow = [
                &s.slow_success,
                &s.slow_failure,
                &s.slow_ignored,
                &s.timeout,
            ];
            for (sum, c) in t.slow.iter_mut().zip(slow) {
                *sum = sum.saturating_add(load(c));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// More threads than owned stripes, in waves, so stripes change owner and shared
    /// stripes take concurrent adds: every count lands exactly once.
    #[test]
    fn striped_counters_stay_exact_across_thread_waves() {
        let counters = Arc::new(StripedTotals::default());
        for _wave in 0..3 {
            let threads: Vec<_> = (0..STRIPES + 2)
                .map(|_| {
                    let c = counters.clone();
                    std::thread::spawn(move || {
                        for i in 0..10_000 {
                            c.call(Outcome::Success, i % 100 == 0);
                            if i % 10 == 0 {
                                c.rejected();
                            }
                            if i % 50 == 0 {
                                c.call(Outcome::Timeout, true);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        let t = counters.totals();
        let threads = (STRIPES + 2) as u64 * 3;
        assert_eq!(t.successes, threads * 10_000);
        assert_eq!(t.rejected, threads * 1_000);
        assert_eq!(t.failures, threads * 200);
        assert_eq!(t.slow, threads * (100 + 200));
        let o = counters.by_outcome();
        assert_eq!(o.calls, [threads * 10_000, 0, 0, threads * 200]);
        assert_eq!(o.slow, [threads * 100, 0, 0, threads * 200]);
    }
}
