//! Deadlines from user-supplied durations, saturating instead of panicking.
//!
//! A duration from a builder (`Duration::MAX` included) added to an instant overflows and
//! panics; these helpers cap the result far in the future instead.

use std::time::Duration;

use tokio::time::Instant;

/// About 30 years: the stand-in for "never" where a deadline would overflow (Tokio uses the
/// same horizon for its far-future sleeps).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + d`, or a time about 30 years ahead if that overflows.
pub(crate) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// `now + d`, capped at the end of year 9999 (the last time an RFC 3339 timestamp can
/// carry).
#[cfg(any(test, feature = "notify-webhook"))]
pub(crate) fn wall_after(now: std::time::SystemTime, d: Duration) -> std::time::SystemTime {
    use crate::time::{clamp_wall, last_wall};
    clamp_wall(now.checked_add(d).unwrap_or_else(last_wall))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{clamp_wall, last_wall};
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn a_huge_duration_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert!(after(now, Duration::MAX) > after(now, Duration::from_secs(3600)));
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let wall = wall_after(SystemTime::now(), Duration::MAX);
        assert_eq!(wall, last_wall());
        assert_eq!(clamp_wall(UNIX_EPOCH - Duration::from_secs(1)), UNIX_EPOCH);
    }
}
