//! What every part of a fleet round shares: the connection, what the task remembers of
//! each breaker between rounds, and times in Redis's units.

use std::time::{Duration, SystemTime};

use redis::aio::ConnectionManager;

use crate::breaker::CallTotals;

/// What the task remembers about one breaker between rounds.
#[derive(Debug, Default)]
pub(super) struct Memo {
    /// The lifetime totals at the last successful publish.
    pub(super) last: CallTotals,
    /// The half-open trial slots held, if any.
    pub(super) held: Option<Held>,
    /// The breaker's keys were unusable in the last round (see `keys`): logged once.
    pub(super) key_failing: bool,
    /// The same for its lease and probe-result keys.
    pub(super) probe_key_failing: bool,
}

/// The trial slots this replica holds in one half-open epoch (`probe`).
#[derive(Debug)]
pub(super) struct Held {
    pub(super) epoch: u64,
    pub(super) slots: Vec<u32>,
}

pub(super) type Conn = ConnectionManager;

/// Milliseconds of `d`, at least 1 (Redis refuses a zero TTL), saturating.
pub(super) fn millis(d: Duration) -> u64 {
    crate::time::millis(d).clamp(1, i64::MAX as u64)
}

/// Unix milliseconds of `t` (0 before the epoch).
pub(super) fn unix_ms(t: SystemTime) -> u64 {
    crate::time::unix_ms(t)
}
