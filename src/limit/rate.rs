//! A rate limit: `governor`'s GCRA (one atomic, lock-free), refusing at once.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::observe::LimitObserver;
use crate::clock::{Clock, default_clock};
use crate::error::{BuildError, CallError, ConfigError, Name};
use crate::limited::{LimitReason, Limited};
use crate::name::NameError;

/// A rate limit: on average `rate` calls per period, in bursts of up to `burst`; a call
/// over it is refused at once with [`LimitReason::RateLimited`] and the time until the
/// next one is admitted. For a third-party API's quota: being refused by us is cheaper
/// than being throttled (or banned) by them. A cheap `Clone`: clones share the state.
///
/// Time comes from a [`Clock`], as for breakers: [`RateLimit::builder`] takes one (a
/// `ManualClock` in tests, feature `test-util`).
#[derive(Clone)]
pub struct RateLimit {
    inner: Arc<Inner>,
}

struct Inner {
    limiter: RateLimiter<NotKeyed, InMemoryState, GovernorClock, NoOpMiddleware<Nanos>>,
    clock: GovernorClock,
    observer: LimitObserver,
}

/// The longest span, in nanoseconds (2^62, about 146 years), of a burst (`burst` calls
/// at the rate's spacing) and of the clock's reading. Governor adds the clock's reading,
/// the burst's span and one spacing in `u64` nanoseconds without saturating; with both
/// at most this, every sum stays below `u64::MAX`.
const MAX_SPAN_NS: u64 = 1 << 62;

/// A breakerbox [`Clock`] as governor's clock: monotonic nanoseconds, so the GCRA state
/// and the breakers read the same time. A reading past [`MAX_SPAN_NS`] (a clock advanced
/// by `Duration::MAX`) reads as that: no overflow inside governor.
#[derive(Clone)]
struct GovernorClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovernorClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.now().min(MAX_SPAN_NS))
    }
}

/// The spacing between two admitted calls at `rate` per `period_ns`, in nanoseconds, as
/// governor computes it (at least 1).
fn spacing_ns(rate: NonZeroU32, period_ns: u64) -> u64 {
    (period_ns / u64::from(rate.get())).max(1)
}

/// The largest burst whose span fits [`MAX_SPAN_NS`] at `rate` per `period_ns`.
fn max_burst(rate: NonZeroU32, period_ns: u64) -> u64 {
    MAX_SPAN_NS / spacing_ns(rate, period_ns)
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("name", self.inner.observer.name())
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `rate` calls per second on average, in bursts of up to `burst`.
    ///
    /// # Errors
    /// [`BuildError::Config`] with [`ConfigError::Zero`] for a zero rate or burst,
    /// [`BuildError::Name`] for an empty name or one over
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    pub fn per_second(
        name: impl Into<Arc<str>>,
        rate: u32,
        burst: u32,
    ) -> Result<RateLimit, BuildError> {
        RateLimit::builder(name)
            .per_second(rate)
            .burst(burst)
            .build()
    }

    /// `rate` calls per minute on average, in bursts of up to `burst`.
    ///
    /// # Errors
    /// As [`per_second`](RateLimit::per_second).
    pub fn per_minute(
        name: impl Into<Arc<str>>,
        rate: u32,
        burst: u32,
    ) -> Result<RateLimit, BuildError> {
        RateLimit::builder(name)
            .per_minute(rate)
            .burst(burst)
            .build()
    }

    /// A builder for a rate limit named `name`: its rate, its burst and its clock.
    ///
    /// ```
    /// # #[cfg(feature = "test-util")] {
    /// use breakerbox::ManualClock;
    /// use breakerbox::limit::RateLimit;
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let quota = RateLimit::builder("price-api")
    ///     .per_second(2)
    ///     .burst(1)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// assert!(quota.check().is_ok());
    /// let refused = quota.check().unwrap_err();
    /// assert_eq!(refused.retry_after(), Some(Duration::from_millis(500)));
    /// clock.advance(Duration::from_millis(500));
    /// assert!(quota.check().is_ok());
    /// # }
    /// # Ok::<(), breakerbox::BuildError>(())
    /// ```
    pub fn builder(name: impl Into<Arc<str>>) -> RateLimitBuilder {
        RateLimitBuilder {
            name: name.into(),
            rate: 0,
            per_minute: false,
            burst: None,
            clock: None,
        }
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        self.inner.observer.name()
    }

    /// Takes one unit of capacity. A clock reading past 2^62 ns (about 146 years, e.g. a
    /// `ManualClock` advanced by `Duration::MAX`) counts as that reading: no panic, and no
    /// capacity refills beyond it.
    ///
    /// # Errors
    /// [`Limited`] with [`LimitReason::RateLimited`] and the wait until a call is admitted.
    pub fn check(&self) -> Result<(), Limited> {
        let inner = &*self.inner;
        match inner.limiter.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&inner.clock));
                self.inner.observer.rejected(LimitReason::RateLimited);
                Err(Limited {
                    name: Name::new(self.inner.observer.name()),
                    reason: LimitReason::RateLimited,
                    retry_after: Some(wait),
                })
            }
        }
    }

    /// Runs `fut` (typically a breaker's `call`) if the rate allows; else refuses at once
    /// and `fut` is never polled, so the breaker inside does not see the refusal.
    ///
    /// # Errors
    /// [`CallError::Limited`] over the rate, else `fut`'s own result.
    pub async fn call<T, E, F>(&self, fut: F) -> Result<T, CallError<E>>
    where
        F: Future<Output = Result<T, CallError<E>>>,
    {
        self.check()?;
        fut.await
    }
}

/// Builds a [`RateLimit`], from [`RateLimit::builder`].
#[must_use]
pub struct RateLimitBuilder {
    name: Arc<str>,
    rate: u32,
    per_minute: bool,
    burst: Option<u32>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for RateLimitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("per_minute", &self.per_minute)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

impl RateLimitBuilder {
    /// `rate` calls per second on average (required: this or
    /// [`per_minute`](RateLimitBuilder::per_minute)).
    pub fn per_second(mut self, rate: u32) -> Self {
        self.rate = rate;
        self.per_minute = false;
        self
    }

    /// `rate` calls per minute on average.
    pub fn per_minute(mut self, rate: u32) -> Self {
        self.rate = rate;
        self.per_minute = true;
        self
    }

    /// The most calls admitted at once after a quiet period (default: the rate).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The clock (default: the fast [`MonotonicClock`](crate::MonotonicClock)); tests pass
    /// a `ManualClock` (feature `test-util`) and keep a clone to advance it.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the rate limit and registers its metrics.
    ///
    /// # Errors
    /// [`BuildError::Config`] with [`ConfigError::Zero`] for a zero (or unset) rate or a
    /// zero burst, [`ConfigError::TooLarge`] for a burst whose span at the rate (`burst`
    /// calls one spacing apart) exceeds 2^62 ns, about 146 years (`per_minute(1)` admits
    /// bursts up to 76,861,433); [`BuildError::Name`] for an empty name or one over
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    pub fn build(self) -> Result<RateLimit, BuildError> {
        NameError::check(&self.name)?;
        let rate = NonZeroU32::new(self.rate).ok_or(ConfigError::Zero { field: "rate" })?;
        let burst = match self.burst {
            None => rate,
            Some(b) => NonZeroU32::new(b).ok_or(ConfigError::Zero { field: "burst" })?,
        };
        let period_ns = if self.per_minute {
            60_000_000_000
        } else {
            1_000_000_000
        };
        let max = max_burst(rate, period_ns);
        if u64::from(burst.get()) > max {
            return Err(ConfigError::TooLarge {
                field: "burst",
                value: u64::from(burst.get()),
                max,
            }
            .into());
        }
        let (quota, per_second) = if self.per_minute {
            (Quota::per_minute(rate), f64::from(rate.get()) / 60.0)
        } else {
            (Quota::per_second(rate), f64::from(rate.get()))
        };
        let clock = GovernorClock(self.clock.unwrap_or_else(default_clock));
        Ok(RateLimit {
            inner: Arc::new(Inner {
                limiter: RateLimiter::direct_with_clock(quota.allow_burst(burst), clock.clone()),
                clock,
                observer: LimitObserver::new(&self.name, None, Some(per_second)),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::time::Duration;

    fn on(clock: &ManualClock, b: RateLimitBuilder) -> RateLimit {
        b.clock(clock.clone()).build().unwrap()
    }

    #[test]
    fn the_burst_defaults_to_the_rate_and_refills_on_the_given_clock() {
        let clock = ManualClock::new();
        let limit = on(&clock, RateLimit::builder("api").per_second(4));
        for _ in 0..4 {
            assert!(limit.check().is_ok());
        }
        let refused = limit.check().unwrap_err();
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(250)));
        clock.advance(Duration::from_millis(250));
        assert!(limit.check().is_ok());
        assert!(limit.check().is_err());
    }

    #[test]
    fn per_minute_spaces_calls_a_minute_over_the_rate() {
        let clock = ManualClock::new();
        let limit = on(&clock, RateLimit::builder("api").per_minute(2).burst(1));
        assert!(limit.check().is_ok());
        let refused = limit.check().unwrap_err();
        assert_eq!(refused.retry_after(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn the_spacing_matches_governors_quota() {
        for (rate, per_minute) in [
            (1, false),
            (3, false),
            (u32::MAX, false),
            (1, true),
            (7, true),
        ] {
            let r = NonZeroU32::new(rate).unwrap();
            let (quota, period) = if per_minute {
                (Quota::per_minute(r), 60_000_000_000)
            } else {
                (Quota::per_second(r), 1_000_000_000)
            };
            let governor_ns = u64::try_from(quota.replenish_interval().as_nanos()).unwrap();
            assert_eq!(
                spacing_ns(r, period),
                governor_ns.max(1),
                "{rate} {per_minute}"
            );
        }
    }

    #[test]
    fn a_missing_or_zero_rate_or_burst_is_a_config_error() {
        let e = RateLimit::builder("api").build().unwrap_err();
        assert_eq!(e, BuildError::Config(ConfigError::Zero { field: "rate" }));
        let e = RateLimit::builder("api").per_second(1).burst(0).build();
        assert_eq!(e.unwrap_err().field(), "burst");
    }
}
