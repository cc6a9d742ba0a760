//! The call-duration histogram kept by the breaker itself (feature `prometheus`): bucket
//! counts and sums striped by thread, so a call adds to its own thread's cache line and
//! never to an atomic that every calling thread shares.
//!
//! [`prometheus::render`](super::prometheus::render) writes these counts as the
//! `breakerbox_call_duration_seconds` family (see `exposition`). Until a breaker is first
//! rendered there, its calls also record through the `metrics` facade (for any other
//! exporter); from then on only here. The stripes hold every call since the breaker was
//! built, so the switch loses nothing and counts nothing twice.
//!
//! # Memory
//! A stripe is allocated by the first call that lands in it (once per breaker and stripe,
//! up to [`STRIPES`]), not when the breaker is built: 160 bytes per recorded outcome with
//! the crate's 17 bounds, 72 with the coarse set (the bounds plus 2 slots, 8 bytes each,
//! in whole 64-byte lines per stripe); a breaker called from one thread holds one stripe.
//!
//! # Bounds
//! Each breaker has its own bounds ([`DurationBuckets`](super::DurationBuckets)), held in
//! a fixed-size array padded with `u64::MAX`: a call searches the same 17 entries whatever
//! the breaker chose, with no pointer to follow.
//!
//! # Memory ordering
//! Every slot only grows, and a render sums each slot over the stripes with relaxed loads:
//! each sum is at least the previous render's, so every rendered series is monotonic. A
//! render computes `_count` and the `le="+Inf"` bucket from the same loads, so they are
//! always equal. A stripe changes owner only through its flag in `OWNERS` (`Release` when
//! the owning thread exits, `Acquire` when a thread claims it), as in the breaker's own
//! lifetime counters.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::DurationHistogram;
use super::duration::{Bounds, MAX_DURATION_BOUNDS};
use crate::event::Outcome;

/// Most bounds of one histogram.
const BOUNDS: usize = MAX_DURATION_BOUNDS;

pub(crate) use crate::stripe::STRIPES;
use crate::stripe::{self, add};

/// Eight slots on one cache line: stripes never share a line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Line([AtomicU64; 8]);

/// One outcome's histogram as rendered: its bounds, the count in each bucket (not
/// cumulative; the one after the last bound is the `+Inf` bucket's own) and the sum in
/// nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Buckets {
    /// The breaker's bounds.
    pub(crate) bounds: Bounds,
    /// Calls whose duration is at most each bound and above the previous; entry
    /// `bounds.len()` counts those above every bound; later entries are 0.
    pub(crate) counts: [u64; BOUNDS + 1],
    /// The sum of the durations, in nanoseconds (saturating).
    pub(crate) sum_nanos: u64,
}

impl Buckets {
    /// The counts of the bounds and of the `+Inf` bucket, in order.
    pub(crate) fn counts(&self) -> &[u64] {
        &self.counts[..=self.bounds.len()]
    }

    /// Calls counted (the `+Inf` bucket and `_count`).
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().fold(0, |a, c| a.saturating_add(*c))
    }
}

/// One breaker's call-duration histograms, by outcome, striped by thread.
#[derive(Debug)]
pub(crate) struct Durations {
    /// The row of each outcome (by `ran_index`) in a stripe, or `None` when not recorded.
    rows: [Option<u8>; 4],
    /// Rows per stripe.
    recorded: usize,
    /// The bucket bounds.
    bounds: Bounds,
    /// Slots of one outcome's row: a count per bound, the `+Inf` bucket, the sum in
    /// nanoseconds.
    slots: usize,
    stripes: [OnceLock<Box<[Line]>>; STRIPES],
    /// Rendered by `prometheus::render`: calls no longer record through the facade.
    rendered: AtomicBool,
}

impl Durations {
    /// The histograms `choice` keeps, with `bounds`; `None` when it keeps none.
    /// `rendered`: only a render shows them (no facade histogram to record into).
    pub(crate) fn new(
        choice: DurationHistogram,
        bounds: Bounds,
        rendered: bool,
    ) -> Option<Durations> {
        const RAN: [Outcome; 4] = [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Ignore,
            Outcome::Timeout,
        ];
        let mut rows = [None; 4];
        let mut recorded = 0u8;
        for (row, outcome) in rows.iter_mut().zip(RAN) {
            if choice.records(outcome) {
                *row = Some(recorded);
                recorded += 1;
            }
        }
        (recorded > 0).then(|| Durations {
            rows,
            recorded: usize::from(recorded),
            bounds,
            slots: bounds.len() + 2,
            stripes: Default::default(),
            rendered: AtomicBool::new(rendered),
        })
    }

    /// Records a call with the outcome of index `i` that ran for `d`, in the calling
    /// thread's stripe.
    #[inline]
    pub(crate) fn record(&self, i: usize, d: Duration) {
        let Some(row) = self.rows.get(i).copied().flatten() else {
            return;
        };
        let nanos = crate::time::nanos(d);
        let bucket = self.bounds.bucket(nanos);
        let (index, owned) = stripe::current();
        let stripe = self.stripes[index].get_or_init(|| self.stripe());
        let base = usize::from(row) * self.slots;
        add(slot(stripe, base + bucket), 1, owned);
        add(slot(stripe, base + self.slots - 1), nanos, owned);
    }

    /// Uses `bounds` from now on, with every count back at 0 (for a breaker being built,
    /// before its first call).
    pub(crate) fn set_bounds(&mut self, bounds: Bounds) {
        self.bounds = bounds;
        self.slots = bounds.len() + 2;
        self.stripes = Default::default();
    }

    fn stripe(&self) -> Box<[Line]> {
        (0..(self.recorded * self.slots).div_ceil(8))
            .map(|_| Line::default())
            .collect()
    }

    /// Whether calls still record through the `metrics` facade too.
    #[inline]
    pub(crate) fn rendered(&self) -> bool {
        self.rendered.load(Ordering::Relaxed)
    }

    /// A render shows these histograms from now on.
    pub(crate) fn set_rendered(&self) {
        self.rendered.store(true, Ordering::Relaxed);
    }

    /// The histogram of each outcome (by `ran_index`) that is recorded, summed over the
    /// stripes.
    pub(crate) fn snapshot(&self) -> [Option<Buckets>; 4] {
        self.rows.map(|row| {
            let base = usize::from(row?) * self.slots;
            let mut b = Buckets {
                bounds: self.bounds,
                counts: [0; BOUNDS + 1],
                sum_nanos: 0,
            };
            for stripe in self.stripes.iter().filter_map(OnceLock::get) {
                for (k, c) in b.counts[..self.slots - 1].iter_mut().enumerate() {
                    *c = c.saturating_add(slot(stripe, base + k).load(Ordering::Relaxed));
                }
                let sum = slot(stripe, base + self.slots - 1).load(Ordering::Relaxed);
                b.sum_nanos = b.sum_nanos.saturating_add(sum);
            }
            Some(b)
        })
    }
}

#[inline]
fn slot(stripe: &[Line], k: usize) -> &AtomicU64 {
    &stripe[k / 8].0[k % 8]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::DurationBuckets;
    use crate::observe::prometheus::DURATION_BUCKETS;
    use std::sync::Arc;

    /// The bucket a duration of `nanos` falls in, by the Prometheus rule (`le` is
    /// inclusive), computed from the float bounds.
    fn expected_bucket(nanos: u64) -> usize {
        let secs = nanos as f64 / 1e9;
        DURATION_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BOUNDS)
    }

    #[test]
    fn bounds_are_inclusive_like_prometheus_le() {
        let d = Durations::new(DurationHistogram::ByOutcome, Bounds::default(), false).unwrap();
        let mut want = [0u64; BOUNDS + 1];
        for &le in DURATION_BUCKETS {
            let at = (le * 1e9).round() as u64;
            for nanos in [at - 1, at, at + 1] {
                d.record(0, Duration::from_nanos(nanos));
                want[expected_bucket(nanos)] += 1;
            }
        }
        d.record(0, Duration::MAX);
        want[BOUNDS] += 1;
        let b = d.snapshot()[0].unwrap();
        assert_eq!(b.counts, want);
        assert_eq!(b.sum_nanos, u64::MAX, "the sum saturates");
    }

    #[test]
    fn the_standard_bounds_are_the_crates_duration_buckets() {
        assert_eq!(Bounds::default().secs(), DURATION_BUCKETS);
        let nanos: Vec<u64> = DURATION_BUCKETS
            .iter()
            .map(|s| (s * 1e9).round() as u64)
            .collect();
        assert_eq!(Bounds::default().padded_nanos()[..], nanos[..]);
    }

    #[test]
    fn coarse_bounds_count_inclusively_into_their_own_buckets() {
        let bounds = DurationBuckets::Coarse.resolve().unwrap();
        let mut d = Durations::new(DurationHistogram::ByOutcome, Bounds::default(), false).unwrap();
        d.set_bounds(bounds);
        let mut want = vec![0u64; bounds.len() + 1];
        let mut sum = 0u64;
        for (i, &at) in bounds.padded_nanos()[..bounds.len()].iter().enumerate() {
            for (nanos, bucket) in [(at - 1, i), (at, i), (at + 1, i + 1)] {
                d.record(3, Duration::from_nanos(nanos));
                want[bucket] += 1;
                sum += nanos;
            }
        }
        d.record(3, Duration::from_secs(3_600));
        want[bounds.len()] += 1;
        sum += 3_600_000_000_000;
        let b = d.snapshot()[3].unwrap();
        assert_eq!(b.counts(), &want[..]);
        assert!(b.counts[bounds.len() + 1..].iter().all(|&c| c == 0));
        assert_eq!(b.count(), 3 * 7 + 1);
        assert_eq!(b.sum_nanos, sum);
        assert_eq!(b.bounds, bounds);
    }

    #[test]
    fn only_the_chosen_outcomes_have_rows() {
        let d = Durations::new(
            DurationHistogram::SuccessAndFailure,
            Bounds::default(),
            false,
        )
        .unwrap();
        d.record(2, Duration::from_millis(1)); // ignored: not kept
        d.record(1, Duration::from_millis(1));
        let s = d.snapshot();
        assert!(s[2].is_none() && s[3].is_none());
        assert_eq!(s[1].unwrap().count(), 1);
        assert_eq!(s[0].unwrap().count(), 0);
        assert!(Durations::new(DurationHistogram::Off, Bounds::default(), false).is_none());
    }

    /// More threads than owned stripes, in waves, so stripes change owner and shared
    /// stripes take concurrent adds: every sample lands exactly once.
    #[test]
    fn striped_buckets_stay_exact_across_thread_waves() {
        let d = Arc::new(
            Durations::new(DurationHistogram::ByOutcome, Bounds::default(), false).unwrap(),
        );
        let threads = STRIPES + 2;
        for _wave in 0..3 {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let d = d.clone();
                    std::thread::spawn(move || {
                        for i in 0..5_000u64 {
                            d.record((i % 4) as usize, Duration::from_micros(i));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
        let runs = threads as u64 * 3;
        let s = d.snapshot();
        for (outcome, b) in s.iter().enumerate() {
            let b = b.unwrap();
            let mut want = [0u64; BOUNDS + 1];
            let mut sum = 0u64;
            for i in (0..5_000u64).filter(|i| (i % 4) as usize == outcome) {
                want[expected_bucket(i * 1_000)] += runs;
                sum += i * 1_000 * runs;
            }
            assert_eq!(b.counts, want, "outcome {outcome}");
            assert_eq!(b.sum_nanos, sum, "outcome {outcome}");
        }
    }
}
