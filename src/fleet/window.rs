//! The fleet window of one breaker, kept server-side (`window.lua`): each round a replica
//! adds its deltas into per-period slot totals and rolling totals, and reads back the
//! fleet's totals and the count of replicas failing, in one script call whose work does
//! not grow with the number of replicas (nor, but right after a close, with the window's
//! periods). Each replica's own slots are kept too, so that its counts leave the totals
//! once its heartbeat (a score in a sorted set) is 3 periods old.
//!
//! Two keys per breaker, in one Redis Cluster hash slot (`{NAME}`: ready for a cluster,
//! which the fleet does not connect to yet), versioned (`v2`) so
//! that replicas of the previous layout (`P:w:NAME`, `P:hb:REPLICA`) run beside these
//! during a rolling deploy without reading each other's windows: the hash `P:v2:{NAME}:w`
//! and the sorted set `P:v2:{NAME}:hb`.

use std::time::Duration;

use redis::{FromRedisValue, Value};

use super::verdict::Aggregate;

/// The script: publish, evict, reap the dead, read (see the header of `window.lua`).
pub(super) const SCRIPT: &str = include_str!("window.lua");

/// The version of the key layout, in every window key.
pub(super) const LAYOUT: &str = "v2";

/// The common part of a breaker's window keys: `P:v2:{NAME}`.
pub(super) fn base(prefix: &str, name: &str) -> String {
    format!("{prefix}:{LAYOUT}:{{{name}}}")
}

/// What one replica sends for one breaker in a round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Publish {
    /// Wall-clock time of the round, Unix milliseconds.
    pub(super) now_ms: u64,
    /// Calls with an outcome since the last publish.
    pub(super) calls: u64,
    /// Failures since the last publish.
    pub(super) failures: u64,
    /// Slow calls since the last publish.
    pub(super) slow: u64,
    /// How long ago this replica's breaker last closed, when it is Closed: only the slots
    /// after the one of the close are read.
    pub(super) closed_age_ms: Option<u64>,
}

/// The fixed parameters of a fleet's script calls.
#[derive(Debug, Clone, Copy)]
pub(super) struct Params {
    /// The period: the slots' width.
    pub(super) period: Duration,
    /// The fleet window.
    pub(super) window: Duration,
    /// A replica is dead when its heartbeat is this old.
    pub(super) heartbeat_ttl: Duration,
}

impl Params {
    /// Slots in the window: `ceil(window / period)`, at least 1.
    pub(super) fn slots(&self) -> u64 {
        let p = super::round::millis(self.period);
        super::round::millis(self.window).div_ceil(p).max(1)
    }
}

/// Adds one script call (`EVALSHA sha 2 KEYS... ARGV...`) for `name` to `pipe`.
pub(super) fn invoke(
    pipe: &mut redis::Pipeline,
    sha: &str,
    prefix: &str,
    name: &str,
    replica: &str,
    params: Params,
    p: Publish,
) {
    let base = base(prefix, name);
    let keep = super::round::millis(params.window.saturating_add(params.heartbeat_ttl));
    pipe.cmd("EVALSHA")
        .arg(sha)
        .arg(2)
        .arg(format!("{base}:w"))
        .arg(format!("{base}:hb"))
        .arg(replica)
        .arg(p.now_ms)
        .arg(super::round::millis(params.period))
        .arg(params.slots())
        .arg(super::round::millis(params.heartbeat_ttl))
        .arg(p.calls)
        .arg(p.failures)
        .arg(p.slow)
        .arg(
            p.closed_age_ms
                .map_or(-1, |a| a.min(i64::MAX as u64) as i64),
        )
        .arg(keep);
}

/// The script's reply as the fleet's aggregate; `None` for anything else (a negative count
/// included: the client's conversion to `u64` would wrap it).
pub(super) fn parse(v: Value) -> Option<Aggregate> {
    let (calls, failures, slow, failing, slow_replicas) =
        <(i64, i64, i64, i64, i64)>::from_redis_value(v).ok()?;
    Some(Aggregate {
        calls: u64::try_from(calls).ok()?,
        failures: u64::try_from(failures).ok()?,
        slow: u64::try_from(slow).ok()?,
        failing_replicas: u32::try_from(failing).ok()?,
        slow_replicas: u32::try_from(slow_replicas).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breakers_keys_share_one_cluster_hash_tag() {
        assert_eq!(base("bb", "pg"), "bb:v2:{pg}");
        let mut pipe = redis::pipe();
        let params = Params {
            period: Duration::from_secs(1),
            window: Duration::from_secs(60),
            heartbeat_ttl: Duration::from_secs(3),
        };
        invoke(
            &mut pipe,
            "sha",
            "bb",
            "pg",
            "a",
            params,
            Publish::default(),
        );
        let packed = String::from_utf8_lossy(&pipe.get_packed_pipeline()).into_owned();
        for key in ["bb:v2:{pg}:w", "bb:v2:{pg}:hb"] {
            assert!(packed.contains(key), "{key} in {packed}");
        }
    }

    #[test]
    fn the_window_is_counted_in_whole_periods() {
        let p = |window_ms, period_ms| Params {
            period: Duration::from_millis(period_ms),
            window: Duration::from_millis(window_ms),
            heartbeat_ttl: Duration::from_secs(3),
        };
        assert_eq!(p(60_000, 1_000).slots(), 60);
        assert_eq!(p(1_500, 1_000).slots(), 2);
        assert_eq!(p(1, 1_000).slots(), 1);
    }

    #[test]
    fn replies_that_are_not_five_counts_are_refused() {
        let ok = Value::Array(vec![
            Value::Int(12),
            Value::Int(6),
            Value::Int(0),
            Value::Int(2),
            Value::Int(0),
        ]);
        let agg = parse(ok).unwrap();
        assert_eq!((agg.calls, agg.failures, agg.failing_replicas), (12, 6, 2));
        assert_eq!(parse(Value::Nil), None);
        assert_eq!(parse(Value::Array(vec![Value::Int(-1); 5])), None);
    }
}
