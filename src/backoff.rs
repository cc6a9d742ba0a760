//! Exponential backoff with jitter, and the one random source behind every jitter.
//!
//! Used by the open timeout of a breaker that trips again and again
//! ([`Config::reset_timeout_for`](crate::Config::reset_timeout_for) and the engine's
//! jitter) and by the notifier's retries (`notify::RetryPolicy`).
//!
//! Every computation saturates: any base, factor, attempt number and cap is accepted, and
//! the result is a `Duration`, never a panic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An exponential backoff: `base * factor^(attempt - 1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backoff {
    base: Duration,
    factor: f64,
    cap: Duration,
}

impl Backoff {
    /// Starts at `base`, grows by `factor` per attempt, never exceeds `cap`.
    pub(crate) const fn new(base: Duration, factor: f64, cap: Duration) -> Backoff {
        Backoff { base, factor, cap }
    }

    /// The delay for attempt `attempt` (1 for the first; 0 counts as 1): `base *
    /// factor^(attempt - 1)`, at most the cap. A zero base stays zero; a growth that
    /// overflows, is not a number, or is negative (a negative factor) is the cap.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        if self.base.is_zero() || self.base >= self.cap {
            return self.base.min(self.cap);
        }
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = self.base.as_secs_f64() * self.factor.powi(exp);
        // NaN takes the cap too.
        if grown.is_nan() || grown >= self.cap.as_secs_f64() {
            return self.cap;
        }
        let d = Duration::try_from_secs_f64(grown).map_or(self.cap, |d| d.min(self.cap));
        // A float holds about 16 digits: growth must not lose the base's nanoseconds.
        if self.factor >= 1.0 {
            d.max(self.base)
        } else {
            d
        }
    }
}

/// `d` scaled by a random factor in `[1 - fraction, 1 + fraction)` drawn from `random`,
/// saturating at `Duration::MAX` and never below zero. A `fraction` of zero (or not a
/// positive number) returns `d` without drawing.
pub(crate) fn jitter(d: Duration, fraction: f64, random: &Random) -> Duration {
    if fraction.is_nan() || fraction <= 0.0 {
        return d;
    }
    let unit = random.unit() * 2.0 - 1.0; // [-1, 1)
    scale(d, 1.0 + fraction * unit)
}

/// `d * by`, saturating at `Duration::MAX`, zero for a negative product, `d` for NaN.
fn scale(d: Duration, by: f64) -> Duration {
    let secs = d.as_secs_f64() * by;
    if secs.is_nan() {
        d
    } else if secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

/// A small, fast random source for jitter (xorshift64*; not for cryptography). Lock-free:
/// concurrent draws may return the same number, which is harmless for jitter.
#[derive(Debug)]
pub(crate) struct Random(AtomicU64);

impl Random {
    /// A source starting from `seed` (any value; the state is kept odd, never zero).
    pub(crate) const fn seeded(seed: u64) -> Random {
        Random(AtomicU64::new(seed | 1))
    }

    /// A source seeded from the standard library's per-process random keys.
    pub(crate) fn from_entropy() -> Random {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        Random::seeded(h.finish())
    }

    /// The process-wide source, seeded from entropy on first use.
    #[cfg(feature = "notify")]
    pub(crate) fn shared() -> &'static Random {
        static SHARED: std::sync::OnceLock<Random> = std::sync::OnceLock::new();
        SHARED.get_or_init(Random::from_entropy)
    }

    /// A uniform number in `[0, 1)`.
    pub(crate) fn unit(&self) -> f64 {
        // Relaxed: the state is a number, not a guard for other memory.
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.store(x, Ordering::Relaxed);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(all(test, not(breakerbox_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn grows_by_the_factor_up_to_the_cap() {
        let b = Backoff::new(secs(10), 3.0, secs(60));
        assert_eq!(b.delay(0), secs(10));
        assert_eq!(b.delay(1), secs(10));
        assert_eq!(b.delay(2), secs(30));
        assert_eq!(b.delay(3), secs(60));
        assert_eq!(b.delay(u32::MAX), secs(60));
        let doubling = Backoff::new(Duration::from_millis(100), 2.0, Duration::from_millis(500));
        assert_eq!(doubling.delay(2), Duration::from_millis(200));
    }

    #[test]
    fn extreme_inputs_saturate() {
        let max = Backoff::new(secs(1), 1e308, Duration::MAX);
        assert_eq!(max.delay(1), secs(1));
        assert_eq!(max.delay(2), Duration::MAX);
        assert_eq!(max.delay(u32::MAX), Duration::MAX);
        assert_eq!(
            Backoff::new(Duration::ZERO, 1e308, Duration::MAX).delay(u32::MAX),
            Duration::ZERO
        );
        assert_eq!(Backoff::new(secs(5), f64::NAN, secs(9)).delay(2), secs(9));
        assert_eq!(Backoff::new(secs(5), -2.0, secs(9)).delay(2), secs(9));
        assert_eq!(
            Backoff::new(secs(5), f64::INFINITY, secs(9)).delay(1),
            secs(5)
        );
        assert_eq!(Backoff::new(secs(5), 2.0, secs(1)).delay(1), secs(1));
        let r = Random::seeded(7);
        assert!(jitter(Duration::MAX, 0.99, &r) > Duration::ZERO);
        assert_eq!(
            jitter(Duration::MAX, 1e308, &Random::seeded(3)),
            Duration::MAX
        );
        assert_eq!(jitter(secs(3), f64::NAN, &r), secs(3));
        assert_eq!(jitter(secs(3), 0.0, &r), secs(3));
        assert_eq!(scale(secs(3), -1.0), Duration::ZERO);
        assert_eq!(scale(secs(3), f64::NAN), secs(3));
    }

    #[test]
    fn random_units_are_in_range_and_spread() {
        let r = Random::from_entropy();
        let draws: Vec<f64> = (0..1000).map(|_| r.unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.iter().any(|&u| u < 0.1) && draws.iter().any(|&u| u > 0.9));
        let (a, b) = (Random::seeded(42), Random::seeded(42));
        assert_eq!(
            a.unit().to_bits(),
            b.unit().to_bits(),
            "a seed repeats its sequence"
        );
    }

    fn any_duration() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::ZERO),
            Just(Duration::MAX),
            Just(Duration::from_nanos(1)),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            (0u64..100_000_000_000).prop_map(Duration::from_nanos),
        ]
    }

    fn any_factor() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(1e308),
            Just(f64::MAX),
            Just(f64::INFINITY),
            Just(f64::NAN),
            Just(0.0),
            Just(1.0),
            Just(-3.0),
            1.0f64..1e6,
            any::<f64>(),
        ]
    }

    fn any_attempt() -> impl Strategy<Value = u32> {
        prop_oneof![
            Just(0),
            Just(1),
            Just(u32::MAX),
            Just(u32::MAX - 1),
            any::<u32>(),
            0u32..100
        ]
    }

    proptest! {
        #[test]
        fn delay_never_panics_and_never_exceeds_the_cap(
            base in any_duration(),
            factor in any_factor(),
            cap in any_duration(),
            attempt in any_attempt(),
        ) {
            let d = Backoff::new(base, factor, cap).delay(attempt);
            prop_assert!(d <= cap);
            if base.is_zero() {
                prop_assert_eq!(d, Duration::ZERO);
            }
            if factor >= 1.0 && attempt >= 1 {
                // Growth never shrinks the delay below the base (or the cap).
                prop_assert!(d >= base.min(cap));
            }
        }

        #[test]
        fn delay_grows_monotonically_with_a_factor_of_at_least_one(
            base in any_duration(),
            factor in 1.0f64..1e308,
            cap in any_duration(),
            attempt in 1u32..u32::MAX,
        ) {
            let b = Backoff::new(base, factor, cap);
            // Up to float rounding: powers are not computed by repeated multiplication.
            let (now, next) = (b.delay(attempt), b.delay(attempt + 1));
            prop_assert!(next.as_secs_f64() >= now.as_secs_f64() * (1.0 - 1e-12));
        }

        #[test]
        fn jitter_stays_within_its_fraction_and_saturates(
            d in any_duration(),
            fraction in prop_oneof![0.0f64..=1.0, Just(1e308), Just(f64::NAN), Just(-1.0)],
            seed in any::<u64>(),
        ) {
            let j = jitter(d, fraction, &Random::seeded(seed));
            if fraction.is_nan() || fraction <= 0.0 {
                prop_assert_eq!(j, d);
            } else if fraction <= 1.0 {
                // Within [d * (1 - f), d * (1 + f)], up to float rounding (1 µs per 1000 s).
                let slack = d.as_secs_f64() * 1e-9 + 1e-9;
                let secs = j.as_secs_f64();
                prop_assert!(secs >= d.as_secs_f64() * (1.0 - fraction) - slack);
                prop_assert!(j == Duration::MAX || secs <= d.as_secs_f64() * (1.0 + fraction) + slack);
            }
        }
    }
}
