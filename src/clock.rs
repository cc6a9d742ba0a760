//! Time, injected: the [`Clock`] trait, the real [`MonotonicClock`] and, under the
//! `test-util` feature, the `ManualClock` that tests advance by hand.
//!
//! A clock is passed one way: by value, to the `.clock(..)` setter of the builder
//! ([`CircuitBreakerBuilder::clock`](crate::CircuitBreakerBuilder::clock),
//! [`RegistryBuilder::clock`](crate::RegistryBuilder::clock), and `RateLimitBuilder::clock`
//! with the feature `limit`). Keep a clone of a `ManualClock` to advance it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Upkeep threads started by [`MonotonicClock::start_upkeep`] and still running. quanta's
/// cached time is left frozen when its upkeep thread stops, so [`Clock::recent`] reads it
/// only while this is non-zero.
///
/// # Memory ordering
/// Incremented with `Release` after quanta has stored a fresh time, read with `Acquire`:
/// a reader that sees upkeep running also sees a cached time at least that fresh.
static UPKEEP_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The shortest `slow_call_duration` a breaker on the default clock times with
/// [`Clock::recent`] while upkeep runs: [`COARSE_TIMING_FACTOR`] upkeep periods; `u64::MAX`
/// (never) without upkeep. Read once per call, so it is kept ready rather than computed.
static COARSE_FROM: AtomicU64 = AtomicU64::new(u64::MAX);

/// The upkeep period in nanoseconds while upkeep runs (what [`Clock::recent_lag`] of the
/// default clock reports).
static UPKEEP_PERIOD: AtomicU64 = AtomicU64::new(0);

/// How many periods of its clock's coarse reading ([`Clock::recent_lag`]) a breaker's
/// `slow_call_duration` and `call_timeout` must both span for the breaker to time its
/// calls with [`Clock::recent`] instead of [`Clock::now`] (and only when it keeps no
/// duration histogram, which needs fine time).
///
/// Each of the two readings that time a call is at most one lag behind the true time,
/// so a call's measured duration is off by less than one lag either way: a call longer
/// than `slow_call_duration` plus one lag is always slow, one no longer than
/// `slow_call_duration` minus one lag never is, whatever the timing. With a factor of
/// 100 that is at most 1% of `slow_call_duration` (with the default clock and 1 ms
/// upkeep, coarse timing starts at a `slow_call_duration` of 100 ms; the default, 5 s, is
/// timed coarsely). `docs/ARCHITECTURE.md`, "Call timing", has the details.
pub const COARSE_TIMING_FACTOR: u64 = 100;

/// The smallest duration (nanoseconds) timed coarsely by a clock whose `recent` lags by at
/// most `lag`: `u64::MAX` (never) when the lag is not known.
#[inline]
pub(crate) fn coarse_from_lag(lag: Option<Duration>) -> u64 {
    match lag {
        Some(lag) => crate::time::nanos(lag)
            .saturating_mul(COARSE_TIMING_FACTOR)
            .max(1),
        None => u64::MAX,
    }
}

/// [`coarse_from_lag`] of the default clock, ready: one relaxed load.
#[inline(always)]
pub(crate) fn coarse_from() -> u64 {
    COARSE_FROM.load(Ordering::Relaxed)
}

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

    /// How far behind [`now`](Clock::now) a reading of [`recent`](Clock::recent) can be at
    /// most, when that is known: `None` (the default) when `recent` is as fine as `now` or
    /// its lag is unknown. A breaker whose `slow_call_duration` and `call_timeout` span at
    /// least [`COARSE_TIMING_FACTOR`] lags, and which keeps no duration histogram, times
    /// its calls with `recent`: its slow-call verdicts are then off by less than one lag.
    /// The default [`MonotonicClock`] reports its upkeep period while upkeep runs.
    fn recent_lag(&self) -> Option<Duration> {
        None
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
        // cached time that will no longer move: calls admitted from now on are timed
        // finely, and `recent` of a call timed coarsely falls back to `now`.
        COARSE_FROM.store(u64::MAX, Ordering::Relaxed);
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
                let period = crate::time::nanos(interval);
                UPKEEP_PERIOD.store(period, Ordering::Relaxed);
                COARSE_FROM.store(coarse_from_lag(Some(interval)), Ordering::Relaxed);
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

    /// The upkeep period while upkeep runs, `None` without upkeep (`recent` is then `now`).
    fn recent_lag(&self) -> Option<Duration> {
        if UPKEEP_RUNNING.load(Ordering::Acquire) == 0 {
            return None;
        }
        Some(Duration::from_nanos(UPKEEP_PERIOD.load(Ordering::Relaxed)))
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
    /// The simulated upkeep period of `recent`, in nanoseconds; 0 for none.
    upkeep: u64,
}

#[cfg(any(test, feature = "test-util"))]
impl ManualClock {
    /// Creates a clock at time zero; its wall-clock origin is the current system time.
    pub fn new() -> Self {
        ManualClock {
            nanos: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            wall_origin: SystemTime::now(),
            upkeep: 0,
        }
    }

    /// This clock (sharing its time) with a coarse [`recent`](Clock::recent) reading, as
    /// the default clock's under [`MonotonicClock::start_upkeep`]: the time of the last
    /// tick of an upkeep every `period` (the current time rounded down to a multiple of
    /// `period`), and `period` as its [`recent_lag`](Clock::recent_lag). For testing
    /// coarse call timing (see [`COARSE_TIMING_FACTOR`]); a zero period means no upkeep.
    ///
    /// ```
    /// use breakerbox::{Clock, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new().with_upkeep(Duration::from_millis(1));
    /// clock.advance(Duration::from_micros(2_500));
    /// assert_eq!(clock.now(), 2_500_000);
    /// assert_eq!(clock.recent(), 2_000_000);
    /// ```
    #[must_use]
    pub fn with_upkeep(mut self, period: Duration) -> Self {
        self.upkeep = crate::time::nanos(period);
        self
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

    fn recent(&self) -> u64 {
        let now = self.now();
        match self.upkeep {
            0 => now,
            period => now - now % period,
        }
    }

    fn recent_lag(&self) -> Option<Duration> {
        (self.upkeep != 0).then(|| Duration::from_nanos(self.upkeep))
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
        assert_eq!(clock.recent_lag(), None);
        assert_eq!(coarse_from(), u64::MAX, "no coarse timing without upkeep");

        let upkeep = MonotonicClock::start_upkeep(Duration::from_millis(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.recent() > a);
        assert_eq!(clock.recent_lag(), Some(Duration::from_millis(1)));
        assert_eq!(coarse_from(), COARSE_TIMING_FACTOR * 1_000_000);
        drop(upkeep);
        assert_eq!(clock.recent_lag(), None);
        assert_eq!(
            coarse_from(),
            u64::MAX,
            "calls admitted after the stop are timed finely"
        );
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
    fn manual_clock_upkeep_reads_the_last_tick_and_reports_its_period() {
        let clock = ManualClock::new().with_upkeep(Duration::from_millis(2));
        let shared = clock.clone();
        shared.advance(Duration::from_micros(4_999));
        assert_eq!(clock.recent(), 4_000_000);
        assert_eq!(clock.now(), 4_999_000);
        assert_eq!(clock.recent_lag(), Some(Duration::from_millis(2)));
        assert_eq!(ManualClock::new().recent_lag(), None);
        assert_eq!(coarse_from_lag(Some(Duration::from_millis(2))), 200_000_000);
        assert_eq!(coarse_from_lag(Some(Duration::ZERO)), 1);
        assert_eq!(coarse_from_lag(Some(Duration::MAX)), u64::MAX);
        assert_eq!(coarse_from_lag(None), u64::MAX);
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
