//! Lifetime call counters, striped by thread so that threads calling one breaker do not
//! share a cache line on every call, and exact.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::CallTotals;

/// Threads that own a stripe of every breaker's lifetime counters: the first to count.
const OWNED: usize = 4;
/// Stripes shared, round-robin, by the other threads.
const SHARED: usize = 4;

/// One stripe: the five lifetime counters on one cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Stripe {
    pub(crate) success: AtomicU64,
    pub(crate) failure: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) slow: AtomicU64,
}

/// Lifetime outcome counters, striped by thread; a read sums the stripes.
///
/// The first [`OWNED`] threads to count each own a stripe (of every breaker) for as long
/// as they live: being its only writer, a thread adds with a plain load and store instead
/// of an atomic read-modify-write, which here costs about 10 ns. Other threads share the
/// remaining stripes and add atomically. Either way two threads do not pass one line back
/// and forth on every call, and every count lands exactly once.
///
/// # Memory ordering
/// A stripe changes owner only through its flag in `OWNERS`: the old owner's thread-local
/// guard releases it (`Release`) when the thread exits, after its last add; the new owner
/// takes it with an `Acquire` compare-and-swap, so its first load sees that last add.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    stripes: [Stripe; OWNED + SHARED],
}

impl Counters {
    /// Adds one to the counter `pick` selects, in the calling thread's stripe.
    #[inline]
    pub(crate) fn add(&self, pick: fn(&Stripe) -> &AtomicU64) {
        let (index, owned) = SLOT
            .try_with(|s| (s.index, s.owned))
            .unwrap_or((OWNED, false));
        let counter = pick(&self.stripes[index]);
        if owned {
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sums over all stripes.
    pub(crate) fn totals(&self) -> CallTotals {
        let mut t = CallTotals::default();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for s in &self.stripes {
            t.successes += load(&s.success);
            t.failures += load(&s.failure);
            t.ignored += load(&s.ignored);
            t.rejected += load(&s.rejected);
            t.slow += load(&s.slow);
        }
        t
    }
}

/// Which stripes a live thread owns.
static OWNERS: [AtomicBool; OWNED] = [const { AtomicBool::new(false) }; OWNED];
static NEXT_SHARED: AtomicUsize = AtomicUsize::new(0);

/// A thread's stripe; an owned one is given back when the thread exits.
struct Slot {
    index: usize,
    owned: bool,
}

impl Slot {
    fn claim() -> Slot {
        for (index, owner) in OWNERS.iter().enumerate() {
            let claimed = owner.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed);
            if claimed.is_ok() {
                return Slot { index, owned: true };
            }
        }
        let shared = NEXT_SHARED.fetch_add(1, Ordering::Relaxed) % SHARED;
        Slot {
            index: OWNED + shared,
            owned: false,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.owned {
            OWNERS[self.index].store(false, Ordering::Release);
        }
    }
}

thread_local! {
    /// Claimed on the thread's first count. A count made after it was destroyed (from
    /// another thread-local's destructor) goes to a shared stripe.
    static SLOT: Slot = Slot::claim();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// More threads than owned stripes, in waves, so stripes change owner and shared
    /// stripes take concurrent adds: every count lands exactly once.
    #[test]
    fn striped_counters_stay_exact_across_thread_waves() {
        let counters = Arc::new(Counters::default());
        for _wave in 0..3 {
            let threads: Vec<_> = (0..OWNED + SHARED + 2)
                .map(|_| {
                    let c = counters.clone();
                    std::thread::spawn(move || {
                        for i in 0..10_000 {
                            c.add(|s| &s.success);
                            if i % 10 == 0 {
                                c.add(|s| &s.rejected);
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
        let threads = (OWNED + SHARED + 2) as u64 * 3;
        assert_eq!(t.successes, threads * 10_000);
        assert_eq!(t.rejected, threads * 1_000);
    }
}
