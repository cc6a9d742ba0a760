//! A rate limit: `governor`'s GCRA (one atomic, lock-free), refusing at once.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::observe::LimitObserver;
use crate::error::{CallError, ConfigError, Name};
use crate::limited::{LimitReason, Limited};

/// A rate limit: on average `rate` calls per period, in bursts of up to `burst`; a call
/// over it is refused at once with [`LimitReason::RateLimited`] and the time until the
/// next one is admitted. For a third-party API's quota: being refused by us is cheaper
/// than being throttled (or banned) by them. A cheap `Clone`: clones share the state.
#[derive(Clone)]
pub struct RateLimit {
    inner: Arc<Inner>,
}

struct Inner {
    limiter: Limiter,
    observer: LimitObserver,
}

enum Limiter {
    Real(DefaultDirectRateLimiter, DefaultClock),
    #[cfg(feature = "test-util")]
    Fake(
        RateLimiter<
            governor::state::NotKeyed,
            governor::state::InMemoryState,
            governor::clock::FakeRelativeClock,
            governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
        >,
        governor::clock::FakeRelativeClock,
    ),
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("name", self.inner.observer.name())
            .finish_non_exhaustive()
    }
}

/// An empty name or one over 128 bytes is refused, as for breakers.
pub(super) fn check_name(name: &Arc<str>) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 128 {
        return Err(ConfigError::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(())
}

fn quota(rate: u32, burst: u32, per: Duration) -> Result<Quota, ConfigError> {
    let rate = NonZeroU32::new(rate).ok_or(ConfigError::Zero { field: "rate" })?;
    let burst = NonZeroU32::new(burst).ok_or(ConfigError::Zero { field: "burst" })?;
    let quota = if per == Duration::from_secs(1) {
        Quota::per_second(rate)
    } else {
        Quota::per_minute(rate)
    };
    Ok(quota.allow_burst(burst))
}

impl RateLimit {
    /// `rate` calls per second on average, in bursts of up to `burst`.
    ///
    /// # Errors
    /// [`ConfigError::Zero`] for a zero rate or burst, [`ConfigError::InvalidName`] for an
    /// empty name or one over 128 bytes.
    pub fn per_second(
        name: impl Into<Arc<str>>,
        rate: u32,
        burst: u32,
    ) -> Result<RateLimit, ConfigError> {
        let q = quota(rate, burst, Duration::from_secs(1))?;
        Self::build(name.into(), f64::from(rate), Limiter::real(q))
    }

    /// `rate` calls per minute on average, in bursts of up to `burst`.
    ///
    /// # Errors
    /// As [`per_second`](RateLimit::per_second).
    pub fn per_minute(
        name: impl Into<Arc<str>>,
        rate: u32,
        burst: u32,
    ) -> Result<RateLimit, ConfigError> {
        let q = quota(rate, burst, Duration::from_secs(60))?;
        Self::build(name.into(), f64::from(rate) / 60.0, Limiter::real(q))
    }

    /// [`per_second`](RateLimit::per_second) on a fake clock that tests advance by hand
    /// (feature `test-util`; clones of the clock share one time).
    ///
    /// # Errors
    /// As [`per_second`](RateLimit::per_second).
    #[cfg(feature = "test-util")]
    pub fn per_second_with_clock(
        name: impl Into<Arc<str>>,
        rate: u32,
        burst: u32,
        clock: &governor::clock::FakeRelativeClock,
    ) -> Result<RateLimit, ConfigError> {
        let q = quota(rate, burst, Duration::from_secs(1))?;
        let limiter = RateLimiter::direct_with_clock(q, clock.clone());
        Self::build(
            name.into(),
            f64::from(rate),
            Limiter::Fake(limiter, clock.clone()),
        )
    }

    fn build(name: Arc<str>, per_second: f64, limiter: Limiter) -> Result<RateLimit, ConfigError> {
        check_name(&name)?;
        Ok(RateLimit {
            inner: Arc::new(Inner {
                limiter,
                observer: LimitObserver::new(&name, None, Some(per_second)),
            }),
        })
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        self.inner.observer.name()
    }

    /// Takes one unit of capacity.
    ///
    /// # Errors
    /// [`Limited`] with [`LimitReason::RateLimited`] and the wait until a call is admitted.
    pub fn check(&self) -> Result<(), Limited> {
        let wait = match &self.inner.limiter {
            Limiter::Real(l, clock) => l.check().err().map(|n| n.wait_time_from(clock.now())),
            #[cfg(feature = "test-util")]
            Limiter::Fake(l, clock) => l.check().err().map(|n| n.wait_time_from(clock.now())),
        };
        match wait {
            None => Ok(()),
            Some(wait) => {
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

impl Limiter {
    fn real(q: Quota) -> Limiter {
        Limiter::Real(RateLimiter::direct(q), DefaultClock::default())
    }
}
