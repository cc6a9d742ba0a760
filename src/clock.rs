//! Time, injected: the [`Clock`] trait, the real [`MonotonicClock`] and, under the
//! `test-util` feature, the `ManualClock` that tests advance by hand.
//!
//! A clock is passed one way: by value, to the `.clock(..)` setter of the builder
//! ([`CircuitBreakerBuilder::clock`](crate::CircuitBreakerBuilder::clock),
//! [`RegistryBuilder::clock`](crate::RegistryBuilder::clock), and `RateLimitBuilder::clock`
//! with the feature `limit`). Keep a clone of a `ManualClock` to advance it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Upkeep threads started by [`MonotonicClock::start_upkeep`] and still running. quanta's
/// cached time is left frozen when its upkeep thread stops, so [`Clock::recent`] reads it
/// only while this is non-zero.
///
/// # Memory ordering
/// Incremented with `Release` after quanta has stored a fresh time, read with `Acquire`:
/// a reader that sees upkeep running also sees a cached time at least that fresh.
static UPKEEP_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A source of monotonic time in nanoseconds since an arbitrary origin.
///
/// Breakers hold an `Arc<dyn Clock>`, so a breaker's type does not depend on its clock.
/// Implementations must be monotonic (never go backwards) and cheap: `now` runs twice per
/// call. (A breaker given the default [`MonotonicClock`] recognises it and reads it
/// without going through the trait object.)
pub trait Clock: Send + Sync + fmt::Debug + std::any::Any {
    /// Monotonic nanoseconds since this clock's origin.
    fn now(&self) -> u64;

    /// A possibly coarse reading (a few milliseconds stale at most) that is cheaper than
    /// [`now`](Clock::now). Used where precision does not matter, such as checking whether
    /// an open breaker's reset timeout has elapsed. Defaults to `now`.
    fn recent(&self) -> u64 {
        self.now()
    }

    /// The wall-clock time corresponding to the monotonic reading `nanos`; used for the
    /// `since` timestamps of snapshots and metrics.
    fn system_time(&self, nanos: u64) -> SystemTime {
        let now = self.now();
        let wall = SystemTime::now();
        let moved = if nanos >= now {
            wall.checked_add(Duration::from_nanos(nanos - now))
        } else {
            wall.checked_sub(Duration::from_nanos(now - nanos))
        };
        moved.unwrap_or(wall)
    }
}

/// The default clock: `quanta`'s TSC-backed monotonic clock (about half the cost of a pair
/// of `std::time::Instant` reads here).
///
/// [`Clock::recent`] reads quanta's cached "recent" time when an upkeep thread keeps it
/// fresh (see [`MonotonicClock::start_upkeep`]): the rejection path of an open breaker then
/// costs one atomic load instead of a clock read. Without upkeep, `recent` is `now`.
#[derive(Clone)]
pub struct MonotonicClock {
    inner: quanta::Clock,
    /// The origin as a raw counter reading (TSC ticks, or nanoseconds where there is no
    /// usable TSC): `now` scales one delta from it, a multiply and a shift.
    origin_raw: u64,
    /// The same origin, scaled, to measure quanta's cached `recent` time against.
    origin: quanta::Instant,
}

/// Keeps the coarse clock behind [`Clock::recent`] fresh while it lives; drop it to stop the
/// upkeep thread. From [`MonotonicClock::start_upkeep`].
pub struct UpkeepHandle {
    _handle: quanta::Handle,
}

impl Drop for UpkeepHandle {
    fn drop(&mut self) {
        // Before the thread stops (the field drops after this), so no reader trusts a
        // cached time that will no longer move.
        UPKEEP_RUNNING.fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for UpkeepHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpkeepHandle").finish_non_exhaustive()
    }
}

impl MonotonicClock {
    /// Creates a clock whose origin is now.
    pub fn new() -> Self {
        let inner = quanta::Clock::new();
        let origin_raw = inner.raw();
        let origin = inner.scaled(origin_raw);
        MonotonicClock {
            inner,
            origin_raw,
            origin,
        }
    }

    /// Starts a background thread that refreshes the process-wide coarse clock every
    /// `interval` (1 ms is a good value), so that rejecting a call while a breaker is open
    /// needs no clock read. Open breakers then move to half-open up to `interval` late,
    /// never early. Applications call this once at start-up; the library never does.
    ///
    /// # Errors
    /// The I/O error if the thread cannot be spawned, or if upkeep is already running
    /// (`AlreadyExists`).
    pub fn start_upkeep(interval: Duration) -> std::io::Result<UpkeepHandle> {
        match quanta::Upkeep::new(interval).start() {
            Ok(handle) => {
                UPKEEP_RUNNING.fetch_add(1, Ordering::Release);
                Ok(UpkeepHandle { _handle: handle })
            }
            Err(quanta::Error::FailedToSpawnUpkeepThread(e)) => Err(e),
            Err(e) => Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                e.to_string(),
            )),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MonotonicClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonotonicClock").finish_non_exhaustive()
    }
}

impl Clock for MonotonicClock {
    /// One raw counter read, scaled as a delta from the origin: cheaper than quanta's `now`
    /// followed by a `Duration` (whose nanoseconds-to-seconds split and back cost about as
    /// much as the read itself here).
    #[inline]
    fn now(&self) -> u64 {
        self.inner.delta_as_nanos(self.origin_raw, self.inner.raw())
    }

    /// With upkeep running, the cached time measured from this clock's origin, saturating
    /// at 0 while the cached time still predates the origin (for at most one upkeep
    /// interval after the clock is made, when it is no staler than any other cached
    /// reading). Without upkeep, [`now`](Clock::now).
    #[inline]
    fn recent(&self) -> u64 {
        if UPKEEP_RUNNING.load(Ordering::Acquire) != 0 {
            return since(self.inner.recent(), self.origin);
        }
        self.now()
    }
}

/// Nanoseconds from `origin` to `t`, 0 if `t` is earlier.
///
/// The comparison first is what lets the compiler drop the `Duration` in between (its
/// split into seconds and back): with it this is one subtraction and a conditional move;
/// without it, about 20 instructions more.
#[inline]
fn since(t: quanta::Instant, origin: quanta::Instant) -> u64 {
    if t > origin {
        crate::time::nanos(t.saturating_duration_since(origin))
    } else {
        0
    }
}

/// A clock that moves only when told to. Clones share one time, so a test can keep a
/// clone and advance the breaker's clock from outside.
///
/// ```
/// use breakerbox::{CircuitBreaker, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::builder("db").clock(clock.clone()).build().unwrap();
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.elapsed(), Duration::from_secs(30));
/// # let _ = breaker;
/// ```
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Clone, Debug)]
pub struct ManualClock {
    nanos: Arc<std::sync::atomic::AtomicU64>,
    wall_origin: SystemTime,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// Creates a clock at time zero; its wall-clock origin is the current system time.
    pub fn new() -> Self {
        ManualClock {
            nanos: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            wall_origin: SystemTime::now(),
        }
    }

    /// Moves the clock forward by `by`. The clock saturates at `u64::MAX` nanoseconds
    /// (584 years) instead of wrapping, so it never goes backwards.
    pub fn advance(&self, by: Duration) {
        let by = crate::time::nanos(by);
        let order = std::sync::atomic::Ordering::SeqCst;
        // The closure always returns `Some`: the update cannot fail.
        let _ = self
            .nanos
            .fetch_update(order, order, |n| Some(n.saturating_add(by)));
    }

    /// Time elapsed since the clock was created (the sum of all advances).
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "test-util"))]
impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.nanos.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn system_time(&self, nanos: u64) -> SystemTime {
        let since_origin = Duration::from_nanos(nanos);
        self.wall_origin
            .checked_add(since_origin)
            .unwrap_or(self.wall_origin)
    }
}

/// `clock` itself if it is a [`MonotonicClock`], which a breaker then reads directly: an
/// inlined read instead of a call through the trait object on every call, twice.
pub(crate) fn as_monotonic(clock: &dyn Clock) -> Option<&MonotonicClock> {
    (clock as &dyn std::any::Any).downcast_ref::<MonotonicClock>()
}

/// The clock a breaker uses when none is given.
pub(crate) fn default_clock() -> Arc<dyn Clock> {
    Arc::new(MonotonicClock::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A breaker reads the default clock without the trait object only when it is that
    /// clock: any other, a wrapper of it included, goes through its own `now`.
    #[test]
    fn only_the_monotonic_clock_is_read_directly() {
        #[derive(Debug)]
        struct Wrapped(MonotonicClock);
        impl Clock for Wrapped {
            fn now(&self) -> u64 {
                self.0.now()
            }
        }
        let default = default_clock();
        assert!(as_monotonic(&*default).is_some());
        assert!(as_monotonic(&ManualClock::new()).is_none());
        assert!(as_monotonic(&Wrapped(MonotonicClock::new())).is_none());
    }

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let clock = MonotonicClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(now >= last);
            last = now;
        }
    }

    /// Before upkeep starts and after it stops: quanta's cached time stays frozen at its
    /// last update once the thread is gone, and `recent` must not return it. (One test, so
    /// no other test of this binary reads `recent` while upkeep runs.)
    #[test]
    fn recent_without_upkeep_is_now() {
        let clock = MonotonicClock::new();
        let a = clock.now();
        let r = clock.recent();
        assert!(r >= a);

        let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.recent() > a);
        drop(upkeep);
        let stopped = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.recent() >= stopped + 10_000_000);
    }

    #[test]
    fn since_counts_nanoseconds_from_the_origin_and_saturates_at_zero() {
        let origin = quanta::Clock::new().now();
        let later = origin + Duration::from_nanos(1_234_567_891);
        assert_eq!(since(later, origin), 1_234_567_891);
        assert_eq!(since(origin, origin), 0);
        assert_eq!(since(origin, later), 0);
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new();
        let b = a.clone();
        b.advance(Duration::from_millis(1500));
        assert_eq!(a.now(), 1_500_000_000);
        assert_eq!(
            a.system_time(a.now()),
            a.wall_origin + Duration::from_millis(1500)
        );
    }
}
