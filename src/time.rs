//! Time conversions: every saturating conversion between [`Duration`], [`SystemTime`] and
//! the integers and floats breakerbox stores, exports and writes into JSON.
//!
//! One convention for the documents breakerbox writes (health JSON, webhook payloads,
//! Alertmanager alerts): a point in time is an RFC 3339 UTC string with milliseconds
//! ([`rfc3339`]) and, next to it, Unix milliseconds ([`unix_ms`]); a duration is whole
//! milliseconds ([`millis`]). A `Retry-After` value is whole seconds rounded up
//! ([`ceil_secs`]), as HTTP defines it.
//!
//! Nothing here panics: a duration beyond what the target holds saturates at its maximum,
//! a time before the Unix epoch counts as the epoch.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whole nanoseconds of `d`, saturating at `u64::MAX` (about 584 years).
#[inline]
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whole nanoseconds of `d`, saturating at `i64::MAX` (about 292 years).
#[cfg(any(all(test, not(breakerbox_loom)), feature = "tracing"))]
#[inline]
pub(crate) fn nanos_i64(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Whole milliseconds of `d` (rounded down), saturating at `u64::MAX`.
#[inline]
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whole milliseconds of `d` (rounded down), saturating at `u32::MAX` (about 49 days).
#[inline]
pub(crate) fn millis_u32(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Whole seconds of `d`, rounded up, saturating at `u64::MAX`.
#[cfg(any(all(test, not(breakerbox_loom)), feature = "tower"))]
#[inline]
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// The time since the Unix epoch; zero for a time before it.
#[inline]
pub(crate) fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Unix time in seconds, as a float (for gauges); 0 for a time before the epoch.
#[inline]
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    since_epoch(t).as_secs_f64()
}

/// Unix time in whole milliseconds; 0 for a time before the epoch.
#[inline]
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    millis(since_epoch(t))
}

/// Unix time in nanoseconds, saturating at `i64::MAX`; 0 for a time before the epoch.
#[cfg(any(all(test, not(breakerbox_loom)), feature = "tracing"))]
#[inline]
pub(crate) fn unix_nanos_i64(t: SystemTime) -> i64 {
    nanos_i64(since_epoch(t))
}

/// The last second RFC 3339 can write: 9999-12-31T23:59:59Z.
#[cfg(any(feature = "axum", feature = "notify"))]
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// The last time an RFC 3339 timestamp can carry (9999-12-31T23:59:59Z).
#[cfg(any(feature = "axum", feature = "notify"))]
pub(crate) fn last_wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(LAST_RFC3339_SECOND)
}

/// `t` within the range an RFC 3339 timestamp can carry: the Unix epoch to the end of
/// year 9999.
#[cfg(any(feature = "axum", feature = "notify"))]
pub(crate) fn clamp_wall(t: SystemTime) -> SystemTime {
    t.clamp(UNIX_EPOCH, last_wall())
}

/// `t` as RFC 3339 in UTC with milliseconds, e.g. `2025-03-01T12:00:00.000Z`; a time
/// outside the range RFC 3339 can carry (a clock set far off) is clamped into it instead
/// of failing the formatter.
#[cfg(any(feature = "axum", feature = "notify"))]
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime_serde::re::humantime::format_rfc3339_millis(clamp_wall(t)).to_string()
}

#[cfg(all(test, not(breakerbox_loom)))]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_at_the_edges() {
        assert_eq!(nanos(Duration::MAX), u64::MAX);
        assert_eq!(nanos(Duration::from_micros(3)), 3_000);
        assert_eq!(nanos_i64(Duration::MAX), i64::MAX);
        assert_eq!(nanos_i64(Duration::from_nanos(u64::MAX)), i64::MAX);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(millis(Duration::from_micros(1_999)), 1);
        assert_eq!(
            millis_u32(Duration::from_secs(u64::from(u32::MAX))),
            u32::MAX
        );
        assert_eq!(ceil_secs(Duration::MAX), u64::MAX);
        assert_eq!(ceil_secs(Duration::from_millis(1_500)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }

    #[test]
    fn times_before_the_epoch_count_as_the_epoch() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(unix_seconds(before), 0.0);
        assert_eq!(unix_ms(before), 0);
        assert_eq!(unix_nanos_i64(before), 0);
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(unix_ms(t), 1_700_000_000_123);
        assert_eq!(unix_seconds(t), 1_700_000_000.123);
        assert_eq!(unix_nanos_i64(t), 1_700_000_000_123_000_000);
    }

    #[cfg(any(feature = "axum", feature = "notify"))]
    #[test]
    fn rfc3339_has_milliseconds_and_clamps_instead_of_panicking() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
            "9999-12-31T23:59:59.000Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
