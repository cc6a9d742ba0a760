//! The config values the call path reads, kept in atomics beside the `arc-swap`ed settings.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

use crate::config::Config;
use crate::time::nanos;

/// The config values the call path reads, copied out of the `arc-swap`ed settings into
/// atomics, so a call does not pay for an `arc-swap` load and its guard (as much as a clock
/// read on the machine of `docs/BENCHMARKS.md`).
///
/// # Memory ordering
/// Each value is a `Relaxed` atomic of its own: a call that races with `set_config` may
/// see some values of the old config and some of the new, for that one call. Every value
/// it sees is one the user set; the state word, window and counters are not affected.
#[derive(Debug)]
pub(crate) struct HotConfig {
    slow_nanos: AtomicU64,
    failure_threshold: AtomicU32,
    min_calls: AtomicU32,
    success_threshold: AtomicU32,
    half_open_max_calls: AtomicU32,
    failure_rate_threshold: AtomicU64,
    slow_call_rate_threshold: AtomicU64,
    /// `call_timeout` in nanoseconds, 0 for none.
    call_timeout_nanos: AtomicU64,
    /// The shortest duration the breaker judges (`slow_call_duration`, `call_timeout`),
    /// or 0 when a duration histogram needs fine time: see [`HotConfig::coarse_nanos`].
    coarse_nanos: AtomicU64,
    /// The breaker keeps a duration histogram (fixed when it is built).
    fine: bool,
}

impl HotConfig {
    /// `fine`: the breaker keeps a duration histogram, so its calls are always timed with
    /// the fine clock.
    pub(crate) fn new(config: &Config, fine: bool) -> HotConfig {
        let hot = HotConfig {
            slow_nanos: AtomicU64::new(0),
            failure_threshold: AtomicU32::new(0),
            min_calls: AtomicU32::new(0),
            success_threshold: AtomicU32::new(0),
            half_open_max_calls: AtomicU32::new(0),
            failure_rate_threshold: AtomicU64::new(0),
            slow_call_rate_threshold: AtomicU64::new(0),
            call_timeout_nanos: AtomicU64::new(0),
            coarse_nanos: AtomicU64::new(0),
            fine,
        };
        hot.store(config);
        hot
    }

    /// Copies the values of a new config.
    pub(crate) fn store(&self, c: &Config) {
        let r = Ordering::Relaxed;
        self.slow_nanos.store(nanos(c.slow_call_duration()), r);
        self.failure_threshold.store(c.failure_threshold(), r);
        self.min_calls.store(c.min_calls(), r);
        self.success_threshold.store(c.success_threshold(), r);
        self.half_open_max_calls.store(c.half_open_max_calls(), r);
        let rate = c.failure_rate_threshold().to_bits();
        self.failure_rate_threshold.store(rate, r);
        let rate = c.slow_call_rate_threshold().to_bits();
        self.slow_call_rate_threshold.store(rate, r);
        let timeout = c.call_timeout().map_or(0, nanos);
        self.call_timeout_nanos.store(timeout, r);
        let judged = c.call_timeout().map_or(u64::MAX, nanos);
        let judged = judged.min(nanos(c.slow_call_duration()));
        self.coarse_nanos
            .store(if self.fine { 0 } else { judged }, r);
    }

    /// What a call may be timed coarsely for: the shortest duration the breaker judges
    /// calls by (`slow_call_duration`, `call_timeout`), 0 when it keeps a duration
    /// histogram. A call is timed with the coarse clock when this is at least
    /// [`COARSE_TIMING_FACTOR`](crate::COARSE_TIMING_FACTOR) lags of the clock's
    /// coarse reading; never when it is 0 (the smallest such bound is 1).
    #[inline]
    pub(crate) fn coarse_nanos(&self) -> u64 {
        self.coarse_nanos.load(Ordering::Relaxed)
    }

    /// `call_timeout`, if any.
    #[inline]
    pub(crate) fn call_timeout(&self) -> Option<std::time::Duration> {
        match self.call_timeout_nanos.load(Ordering::Relaxed) {
            0 => None,
            n => Some(std::time::Duration::from_nanos(n)),
        }
    }

    /// `slow_call_duration` in nanoseconds.
    #[inline]
    pub(crate) fn slow_nanos(&self) -> u64 {
        self.slow_nanos.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn failure_threshold(&self) -> u32 {
        self.failure_threshold.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn min_calls(&self) -> u32 {
        self.min_calls.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn success_threshold(&self) -> u32 {
        self.success_threshold.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn half_open_max_calls(&self) -> u32 {
        self.half_open_max_calls.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn failure_rate_threshold(&self) -> f64 {
        f64::from_bits(self.failure_rate_threshold.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn slow_call_rate_threshold(&self) -> f64 {
        f64::from_bits(self.slow_call_rate_threshold.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn holds_the_values_of_the_last_config() {
        let hot = HotConfig::new(&Config::default(), false);
        assert_eq!(hot.failure_threshold(), 5);
        let cfg = Config::builder()
            .failure_threshold(7)
            .min_calls(20)
            .success_threshold(2)
            .half_open_max_calls(4)
            .failure_rate_threshold(0.7)
            .slow_call_rate_threshold(0.3)
            .slow_call_duration(Duration::from_millis(250))
            .build()
            .unwrap();
        hot.store(&cfg);
        assert_eq!(hot.failure_threshold(), 7);
        assert_eq!(hot.min_calls(), 20);
        assert_eq!(hot.success_threshold(), 2);
        assert_eq!(hot.half_open_max_calls(), 4);
        assert_eq!(hot.failure_rate_threshold(), 0.7);
        assert_eq!(hot.slow_call_rate_threshold(), 0.3);
        assert_eq!(hot.slow_nanos(), 250_000_000);
    }
}
