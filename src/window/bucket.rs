//! One window bucket: two self-tagged words. Each word holds the slot it counts for (its
//! tag) beside its counts, so a stale bucket is recognised and reset by a single
//! compare-and-swap, and no count can land in a bucket after it was reset without being
//! seen by that reset.

use crate::sync::{AtomicU64, Ordering};

const FIELD_BITS: u32 = 21;
pub(crate) const TAG_BITS: u32 = 64 - 2 * FIELD_BITS;
/// The most a bucket counts of each kind.
pub(crate) const FIELD_MAX: u64 = (1 << FIELD_BITS) - 1;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const TAG_SHIFT: u64 = 2 * FIELD_BITS as u64;

/// The tag of a slot: its low 22 bits.
#[inline]
pub(crate) fn tag_of(slot: u64) -> u64 {
    slot & TAG_MASK
}

/// Whether `tag` belongs to a slot after `than`'s (modular comparison over half the range).
#[inline]
fn is_newer(tag: u64, than: u64) -> bool {
    let d = tag.wrapping_sub(than) & TAG_MASK;
    d != 0 && d < (1 << (TAG_BITS - 1))
}

#[inline]
fn pack(tag: u64, a: u64, b: u64) -> u64 {
    (tag << TAG_SHIFT) | (a << FIELD_BITS) | b
}

#[inline]
fn unpack(w: u64) -> (u64, u64, u64) {
    (w >> TAG_SHIFT, (w >> FIELD_BITS) & FIELD_MAX, w & FIELD_MAX)
}

/// What an `add` changed: the counts it added and the stale counts it removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) added: (u64, u64),
    pub(crate) removed: (u64, u64),
}

/// A tagged word of two 21-bit counters.
#[derive(Debug)]
pub(crate) struct TaggedCounts {
    word: AtomicU64,
}

impl TaggedCounts {
    pub(crate) fn new() -> Self {
        TaggedCounts {
            word: AtomicU64::new(0),
        }
    }

    /// Adds `(a, b)` to the counts of `slot`. A word tagged with an older slot is reset
    /// first (its counts are reported as removed); one tagged with a newer slot (this call
    /// is late) takes the counts as they are, so nothing is lost. An empty word is simply
    /// re-tagged, so a fresh window works from any starting slot. Counts saturate at
    /// 2^21 - 1 per bucket; what did not fit is not reported as added.
    #[inline]
    pub(crate) fn add(&self, slot: u64, a: u64, b: u64) -> Delta {
        let tag = tag_of(slot);
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let (t, ca, cb) = unpack(cur);
            let empty = ca == 0 && cb == 0;
            let (new, delta) = if t == tag || (is_newer(t, tag) && !empty) {
                let na = (ca + a).min(FIELD_MAX);
                let nb = (cb + b).min(FIELD_MAX);
                let delta = Delta {
                    added: (na - ca, nb - cb),
                    removed: (0, 0),
                };
                (pack(t, na, nb), delta)
            } else {
                // Clamped: a count past the field would spill into its neighbour or the tag.
                let (na, nb) = (a.min(FIELD_MAX), b.min(FIELD_MAX));
                let delta = Delta {
                    added: (na, nb),
                    removed: (ca, cb),
                };
                (pack(tag, na, nb), delta)
            };
            if new == cur {
                return delta;
            }
            match self
                .word
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return delta,
                Err(found) => cur = found,
            }
        }
    }

    /// Resets the word to `slot` with zero counts unless it already counts for `slot` or a
    /// later one; returns the counts removed.
    pub(crate) fn expire(&self, slot: u64) -> (u64, u64) {
        self.add(slot, 0, 0).removed
    }

    /// The raw `(tag, a, b)`.
    #[inline]
    pub(crate) fn peek(&self) -> (u64, u64, u64) {
        unpack(self.word.load(Ordering::Relaxed))
    }

    /// Zeroes the counts, keeping the tag; returns the counts removed.
    pub(crate) fn clear(&self) -> (u64, u64) {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let (t, a, b) = unpack(cur);
            if a == 0 && b == 0 {
                return (0, 0);
            }
            match self.word.compare_exchange_weak(
                cur,
                pack(t, 0, 0),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (a, b),
                Err(found) => cur = found,
            }
        }
    }
}

#[cfg(all(test, not(breakerbox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn add_to_same_slot_accumulates() {
        let w = TaggedCounts::new();
        w.add(5, 1, 0);
        let d = w.add(5, 1, 1);
        assert_eq!(d.added, (1, 1));
        assert_eq!(d.removed, (0, 0));
        assert_eq!(unpack(w.word.load(Ordering::Relaxed)), (5, 2, 1));
    }

    #[test]
    fn older_tag_is_reset_and_reported() {
        let w = TaggedCounts::new();
        w.add(5, 3, 2);
        let d = w.add(15, 1, 0);
        assert_eq!(d.removed, (3, 2));
        assert_eq!(unpack(w.word.load(Ordering::Relaxed)), (15, 1, 0));
    }

    #[test]
    fn late_call_lands_in_newer_slot() {
        let w = TaggedCounts::new();
        w.add(15, 1, 0);
        let d = w.add(5, 1, 1);
        assert_eq!(d.removed, (0, 0));
        assert_eq!(unpack(w.word.load(Ordering::Relaxed)), (15, 2, 1));
    }

    #[test]
    fn counts_saturate_without_corrupting_the_tag() {
        let w = TaggedCounts::new();
        w.add(7, FIELD_MAX, 0);
        let d = w.add(7, 1, 1);
        assert_eq!(d.added, (0, 1));
        assert_eq!(unpack(w.word.load(Ordering::Relaxed)), (7, FIELD_MAX, 1));
    }

    #[test]
    fn tags_wrap_modularly() {
        let w = TaggedCounts::new();
        w.add(TAG_MASK, 1, 0);
        let d = w.add(TAG_MASK + 1, 1, 0);
        assert_eq!(d.removed, (1, 0));
    }
}
