//! The sliding window's kind, and the bucket count chosen when none is set.

use std::time::Duration;

use super::MAX_WINDOW_BUCKETS;

/// The sliding window over which failure and slow-call rates are computed.
///
/// A window is a ring of buckets and slides a bucket at a time, which bounds how exact it
/// is:
/// - `Count(n)` with `b` buckets of `w = ceil(n / b)` calls each holds, once full, between
///   `(b - 1) * w + 1` and `b * w` of the most recent calls. With `b = n` (the default up to
///   64 calls) it holds exactly the last `n` calls. Without `window_buckets`, a larger
///   window gets the bucket count (at most 64) that keeps it closest to `n` calls: a count
///   with a divisor `b` near 64 is within `n / b - 1` calls of `n`.
/// - `Time(d)` with `b` buckets (default 10, fewer for a window under 10 ms so each bucket
///   spans at least 1 ms) holds the calls of the last `d - d / b` to `d`: with the default
///   60 s window, the last 54 to 60 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The calls of the last `Duration` (default: 60 s).
    Time(Duration),
    /// The last `n` calls.
    Count(u32),
}

/// The bucket count of a window whose `window_buckets` is not set (see [`WindowKind`]).
pub(super) fn default_buckets(kind: WindowKind) -> u32 {
    match kind {
        WindowKind::Count(n) if n <= MAX_WINDOW_BUCKETS => n.max(1),
        WindowKind::Count(n) => {
            // Buckets of `w = ceil(n / b)` calls hold between `(b - 1) * w + 1` and
            // `b * w` calls: take the `b` whose range strays least from `n`, the larger
            // on a tie.
            let n = u64::from(n);
            let error = |b: u64| {
                let w = n.div_ceil(b);
                (b * w - n).max(n.saturating_sub((b - 1) * w + 1))
            };
            (1..=u64::from(MAX_WINDOW_BUCKETS))
                .rev()
                .min_by_key(|&b| error(b))
                .map_or(MAX_WINDOW_BUCKETS, |b| b as u32)
        }
        WindowKind::Time(d) => crate::time::millis_u32(d).clamp(1, DEFAULT_TIME_BUCKETS),
    }
}

/// Buckets of a time window whose `window_buckets` is not set.
const DEFAULT_TIME_BUCKETS: u32 = 10;
