//! Which stripe of a per-thread striped counter the calling thread writes: one claim per
//! thread, shared by every striped structure (the lifetime totals, the duration histogram).
//!
//! The first [`OWNED`] threads each own a stripe index for as long as they live: being
//! the only writer of that stripe in every structure, a thread adds with a plain load and
//! store instead of an atomic read-modify-write. Other threads share the remaining
//! [`SHARED`] indices round-robin and add atomically. Either way two threads do not pass
//! one cache line back and forth on every call, and every count lands exactly once.
//!
//! # Memory ordering
//! An index changes owner only through its flag in `OWNERS`: the old owner's thread-local
//! guard releases it (`Release`) when the thread exits, after its last add; the new owner
//! takes it with an `Acquire` compare-and-swap, so its first load sees that last add.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Threads that own a stripe index: the first to count.
pub(crate) const OWNED: usize = 4;
/// Stripe indices shared, round-robin, by the other threads.
pub(crate) const SHARED: usize = 4;
/// Stripes of one striped structure.
pub(crate) const STRIPES: usize = OWNED + SHARED;

/// The calling thread's stripe index, and whether the thread owns it (is its only writer).
/// A count made after the thread's guard was destroyed (from another thread-local's
/// destructor) goes to a shared stripe.
#[inline]
pub(crate) fn current() -> (usize, bool) {
    SLOT.try_with(|s| (s.index, s.owned))
        .unwrap_or((OWNED, false))
}

/// Adds `v` to `counter`, saturating: a plain load and store on an owned stripe (its only
/// writer), atomically on a shared one.
#[cfg(feature = "prometheus")]
#[inline]
pub(crate) fn add(counter: &std::sync::atomic::AtomicU64, v: u64, owned: bool) {
    if owned {
        counter.store(
            counter.load(Ordering::Relaxed).saturating_add(v),
            Ordering::Relaxed,
        );
    } else {
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            Some(s.saturating_add(v))
        });
    }
}

/// Which indices a live thread owns.
static OWNERS: [AtomicBool; OWNED] = [const { AtomicBool::new(false) }; OWNED];
static NEXT_SHARED: AtomicUsize = AtomicUsize::new(0);

/// A thread's stripe index; an owned one is given back when the thread exits.
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
    /// Claimed on the thread's first count.
    static SLOT: Slot = Slot::claim();
}
