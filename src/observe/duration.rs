//! Which call durations a breaker records into `breakerbox_call_duration_seconds`, and
//! with which bucket bounds.

use crate::error::ConfigError;
use crate::event::Outcome;

/// Which outcomes of a breaker get a `breakerbox_call_duration_seconds` histogram.
///
/// Each histogram is 20 series in the Prometheus exposition (18 buckets with the crate's
/// bounds, `_sum` and `_count`), so with every outcome it is 80 of a breaker's 126 lines;
/// 10 series with [`DurationBuckets::Coarse`]. This chooses which histograms a breaker
/// has; [`DurationBuckets`] (`CircuitBreakerBuilder::duration_buckets`) chooses their
/// bounds in what `observe::prometheus::render` writes (from the breaker's own striped
/// counts; default `observe::prometheus::DURATION_BUCKETS`). What a recorder renders
/// itself has the exporter's bounds, set per metric name by the application (see
/// `observe::prometheus::builder`). Calls are counted in `breakerbox_calls_total`
/// whatever this says.
///
/// ```
/// use breakerbox::{CircuitBreaker, DurationHistogram};
///
/// // One of thousands of per-tenant breakers: counters and state, no latency histogram.
/// let breaker = CircuitBreaker::builder("tenant-4711")
///     .duration_histogram(DurationHistogram::Off)
///     .build()?;
/// # let _ = breaker;
/// # Ok::<(), breakerbox::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DurationHistogram {
    /// One histogram per outcome that ran: `success`, `failure`, `ignored`, `timeout`
    /// (the default).
    #[default]
    ByOutcome,
    /// `success` and `failure` only: the latencies dashboards draw; a timeout's duration
    /// is the timeout, and ignored calls are not the dependency's health.
    SuccessAndFailure,
    /// No histogram.
    Off,
}

impl DurationHistogram {
    /// Whether calls with `outcome` are recorded.
    pub fn records(self, outcome: Outcome) -> bool {
        match self {
            DurationHistogram::ByOutcome => true,
            DurationHistogram::SuccessAndFailure => {
                matches!(outcome, Outcome::Success | Outcome::Failure)
            }
            DurationHistogram::Off => false,
        }
    }
}

/// Most bucket bounds a breaker's histogram can have: as many as the crate's default set
/// (`observe::prometheus::DURATION_BUCKETS`).
pub const MAX_DURATION_BOUNDS: usize = 17;

/// The default bounds, in seconds: the one list behind `DurationBuckets::Standard` and
/// `observe::prometheus::DURATION_BUCKETS`.
pub(crate) const STANDARD: [f64; MAX_DURATION_BOUNDS] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
];

/// [`STANDARD`] in nanoseconds.
const STANDARD_NANOS: [u64; MAX_DURATION_BOUNDS] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

/// The bounds of [`DurationBuckets::Coarse`], in seconds: a subset of the default set that
/// keeps the dashboards' p50, p95 and p99 meaningful for database, cache and API
/// latencies (5 ms to 500 ms) and has the `slow_call_duration` of the presets (2 s, 5 s,
/// 10 s) as bounds.
pub const COARSE_DURATION_BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.5, 2.0, 5.0, 10.0];

/// The bucket bounds of a breaker's `breakerbox_call_duration_seconds` histograms, in what
/// `observe::prometheus::render` writes from the breaker's own counts.
///
/// Each histogram is one `_bucket` line per bound, plus `le="+Inf"`, `_sum` and
/// `_count`: 20 lines with [`Standard`](DurationBuckets::Standard), 10 with
/// [`Coarse`](DurationBuckets::Coarse). A service with thousands of breakers can halve
/// their histogram series with the coarse set. Use the same choice for a breaker on every
/// replica: quantiles summed `by (le)` across instances need the same bounds everywhere.
///
/// A breaker whose histogram goes through the `metrics` facade instead (any other
/// exporter, or a Prometheus recorder before the breaker's first `render`) gets the
/// bounds that exporter sets for the metric name, whatever the breaker chose.
///
/// ```
/// use breakerbox::{CircuitBreaker, DurationBuckets};
///
/// let tenant = CircuitBreaker::builder("tenant-4711")
///     .duration_buckets(DurationBuckets::Coarse)
///     .build()?;
/// let custom = CircuitBreaker::builder("ledger")
///     .duration_buckets(DurationBuckets::Custom(vec![0.01, 0.1, 1.0]))
///     .build()?;
/// // Bounds must be finite, positive and strictly increasing: a typed error otherwise.
/// let bad = CircuitBreaker::builder("bad")
///     .duration_buckets(DurationBuckets::Custom(vec![0.1, 0.1]))
///     .build();
/// assert_eq!(bad.unwrap_err().field(), "duration_buckets");
/// # let _ = (tenant, custom);
/// # Ok::<(), breakerbox::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum DurationBuckets {
    /// The crate's 17 bounds, 0.5 ms to 60 s (`observe::prometheus::DURATION_BUCKETS`;
    /// the default).
    #[default]
    Standard,
    /// The 7 bounds of [`COARSE_DURATION_BUCKETS`], 5 ms to 10 s.
    Coarse,
    /// Bounds of your own, in seconds: 1 to [`MAX_DURATION_BOUNDS`] of them, each finite,
    /// at least 1 ns and above the previous by at least 1 ns (counts are kept in whole
    /// nanoseconds). Checked by `CircuitBreakerBuilder::build`.
    Custom(Vec<f64>),
}

impl DurationBuckets {
    /// The bounds, checked.
    pub(crate) fn resolve(&self) -> Result<Bounds, ConfigError> {
        let given: &[f64] = match self {
            DurationBuckets::Standard => &STANDARD,
            DurationBuckets::Coarse => COARSE_DURATION_BUCKETS,
            DurationBuckets::Custom(bounds) => bounds,
        };
        Bounds::new(given)
    }
}

/// Checked bucket bounds in a fixed-size array: seconds for the exposition, whole
/// nanoseconds for the hot path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    secs: [f64; MAX_DURATION_BOUNDS],
    /// Each bound in nanoseconds; past `len`, `u64::MAX`, so a search over the whole
    /// array never lands past `len` (the `+Inf` bucket).
    nanos: [u64; MAX_DURATION_BOUNDS],
    len: usize,
    /// By bit length `k` of a duration in nanoseconds (0 to 64): how many bounds are
    /// below `2^(k-1)`, so below any duration of that length. A duration's bucket starts
    /// there, and only the bounds within its power of two (one or two for the standard
    /// and coarse sets) are compared: a lookup and a short scan instead of a binary
    /// search's chain of five dependent loads on every call.
    below: [u8; 65],
}

impl Default for Bounds {
    /// The standard bounds.
    fn default() -> Self {
        Bounds {
            secs: STANDARD,
            nanos: STANDARD_NANOS,
            len: MAX_DURATION_BOUNDS,
            below: [0; 65],
        }
        .indexed()
    }
}

impl Bounds {
    const FIELD: &'static str = "duration_buckets";

    fn new(given: &[f64]) -> Result<Bounds, ConfigError> {
        if given.is_empty() {
            return Err(ConfigError::Zero { field: Self::FIELD });
        }
        if given.len() > MAX_DURATION_BOUNDS {
            return Err(ConfigError::TooLarge {
                field: Self::FIELD,
                value: u64::try_from(given.len()).unwrap_or(u64::MAX),
                max: MAX_DURATION_BOUNDS as u64,
            });
        }
        let mut b = Bounds {
            secs: [0.0; MAX_DURATION_BOUNDS],
            nanos: [u64::MAX; MAX_DURATION_BOUNDS],
            len: given.len(),
            below: [0; 65],
        };
        for (i, &secs) in given.iter().enumerate() {
            let bad = |expected| ConfigError::OutOfRange {
                field: Self::FIELD,
                value: secs,
                expected,
            };
            if !secs.is_finite() || secs < 1e-9 {
                return Err(bad("a finite number of seconds, at least 1 ns"));
            }
            // A float-to-integer cast saturates: a bound past u64::MAX ns becomes u64::MAX.
            let nanos = (secs * 1e9).round() as u64;
            if i > 0 && nanos <= b.nanos[i - 1] {
                return Err(bad("above the previous bound by at least 1 ns"));
            }
            b.secs[i] = secs;
            b.nanos[i] = nanos;
        }
        Ok(b.indexed())
    }

    /// Fills [`below`](Bounds::below) from the bounds.
    fn indexed(mut self) -> Bounds {
        for (k, below) in self.below.iter_mut().enumerate().skip(1) {
            let floor = 1u64 << (k - 1);
            let count = self.nanos.iter().take_while(|&&le| le < floor).count();
            *below = count as u8; // at most MAX_DURATION_BOUNDS (17)
        }
        self
    }

    /// The bucket of a duration of `nanos`: how many bounds are below it (`len` for the
    /// `+Inf` bucket). A bound equal to the duration counts it (`le` is inclusive).
    #[inline]
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn bucket(&self, nanos: u64) -> usize {
        let length = (u64::BITS - nanos.leading_zeros()) as usize;
        let mut i = usize::from(self.below[length]);
        while i < MAX_DURATION_BOUNDS && self.nanos[i] < nanos {
            i += 1;
        }
        i
    }

    /// The bounds in seconds.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn secs(&self) -> &[f64] {
        &self.secs[..self.len]
    }

    /// Every bound in nanoseconds, padded with `u64::MAX` past [`len`](Bounds::len).
    #[cfg(test)]
    pub(crate) fn padded_nanos(&self) -> &[u64; MAX_DURATION_BOUNDS] {
        &self.nanos
    }

    /// How many bounds.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(bounds: Vec<f64>) -> ConfigError {
        DurationBuckets::Custom(bounds).resolve().unwrap_err()
    }

    #[test]
    fn standard_and_coarse_resolve_to_their_bounds() {
        assert_eq!(
            DurationBuckets::Standard.resolve().unwrap().secs(),
            STANDARD
        );
        assert_eq!(
            Bounds::default(),
            DurationBuckets::Standard.resolve().unwrap()
        );
        let coarse = DurationBuckets::Coarse.resolve().unwrap();
        assert_eq!(coarse.secs(), COARSE_DURATION_BUCKETS);
        assert_eq!(coarse.padded_nanos()[0], 5_000_000);
        assert_eq!(coarse.padded_nanos()[coarse.len()], u64::MAX);
    }

    /// The bucket lookup agrees with a binary search over the bounds, for the standard,
    /// coarse and dense custom sets, at every bound, next to it, and at the extremes.
    #[test]
    fn the_bucket_lookup_agrees_with_a_search_over_the_bounds() {
        let dense: Vec<f64> = (1..=17).map(|i| 1.0 + f64::from(i) * 1e-9).collect();
        let sets = [
            DurationBuckets::Standard,
            DurationBuckets::Coarse,
            DurationBuckets::Custom(vec![1e-9]),
            DurationBuckets::Custom(vec![1e-9, 2e-9, 3e-9, 4e-9]),
            DurationBuckets::Custom(dense),
            DurationBuckets::Custom(vec![0.5, 1e10, 1.8e10]),
        ];
        for set in sets {
            let b = set.resolve().unwrap();
            let search = |n: u64| b.padded_nanos().partition_point(|&le| le < n);
            let mut probes = vec![0, 1, 2, 3, u64::MAX - 1, u64::MAX];
            for &le in &b.padded_nanos()[..b.len()] {
                probes.extend([le.saturating_sub(1), le, le.saturating_add(1)]);
            }
            for k in 0..64 {
                probes.extend([(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
            }
            for n in probes {
                assert_eq!(b.bucket(n), search(n), "{set:?} at {n} ns");
            }
        }
    }

    #[test]
    fn bad_custom_bounds_are_typed_errors_naming_the_field() {
        assert_eq!(
            err(vec![]),
            ConfigError::Zero {
                field: "duration_buckets"
            }
        );
        assert_eq!(
            err(vec![1.0; MAX_DURATION_BOUNDS + 1]),
            ConfigError::TooLarge {
                field: "duration_buckets",
                value: 18,
                max: 17
            }
        );
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -1.0, 1e-10] {
            let e = err(vec![0.1, bad]);
            assert!(
                matches!(
                    e,
                    ConfigError::OutOfRange {
                        field: "duration_buckets",
                        ..
                    }
                ),
                "{bad}: {e:?}"
            );
        }
        for not_increasing in [vec![0.1, 0.1], vec![0.2, 0.1], vec![1.0, 1.0 + 1e-12]] {
            assert!(matches!(
                err(not_increasing),
                ConfigError::OutOfRange {
                    field: "duration_buckets",
                    ..
                }
            ));
        }
        // Bounds past u64::MAX nanoseconds saturate to the same value: refused, no panic.
        assert!(err(vec![1e11, 1e12]).field() == "duration_buckets");
        let full: Vec<f64> = (1..=17).map(f64::from).collect();
        assert_eq!(DurationBuckets::Custom(full).resolve().unwrap().len(), 17);
        assert_eq!(
            DurationBuckets::Custom(vec![1e-9, 2e-9])
                .resolve()
                .unwrap()
                .padded_nanos()[..2],
            [1, 2]
        );
    }
}
