//! Coordinated probing: half-open trial slots as leases in Redis, and probe results that
//! end the other replicas' half-open round.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Shared;
use super::keys;
use super::round::{Conn, Held, Memo, millis, unix_ms};
use crate::breaker::CircuitBreaker;
use crate::state::{Reason, State};

/// Lease slots tried per breaker and round, whatever `half_open_max_calls` says.
const MAX_SLOTS: u32 = 256;

/// Takes a lease, or refreshes it when this token already holds it: 1 if held after.
const ACQUIRE: &str = r"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1";

/// Deletes a lease only if this token holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

fn lease_key(prefix: &str, name: &str, slot: u32) -> String {
    format!("{prefix}:lease:{name}:{slot}")
}

fn probe_key(prefix: &str, name: &str) -> String {
    format!("{prefix}:probe:{name}")
}

/// How long a probe result decides for peers: a reset timeout or 3 periods, the longer.
fn result_ttl(b: &CircuitBreaker, shared: &Shared) -> Duration {
    let reset = b.inner.settings.load().config.reset_timeout();
    reset.max(shared.config.heartbeat_ttl())
}

/// The probing part of a round, for every breaker.
pub(super) async fn round(
    conn: &mut Conn,
    shared: &Shared,
    breakers: &[CircuitBreaker],
    memos: &mut HashMap<Arc<str>, Memo>,
) -> redis::RedisResult<()> {
    for b in breakers {
        let memo = memos.entry(b.name_arc().clone()).or_default();
        let probed = probe(conn, shared, b, memo).await;
        let key = probe_key(shared.config.key_prefix.as_str(), b.name());
        match probed {
            Ok(()) => keys::report(b, &key, true, &mut memo.probe_key_failing),
            // A wrong-typed lease or result key: this breaker probes with local limits.
            Err(e) if keys::is_key_error(&e) => {
                b.inner.set_trial_gate(None);
                keys::report(b, &key, false, &mut memo.probe_key_failing);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The probing part of a round for one breaker.
async fn probe(
    conn: &mut Conn,
    shared: &Shared,
    b: &CircuitBreaker,
    memo: &mut Memo,
) -> redis::RedisResult<()> {
    let w = b.inner.state.load();
    let token = |epoch: u64| format!("{}:{epoch}", shared.config.replica_id);
    if let Some(held) = memo
        .held
        .take_if(|h| w.state() != State::HalfOpen || h.epoch != w.epoch())
    {
        finish(conn, shared, b, &held, &token(held.epoch)).await?;
    }
    if w.state() != State::HalfOpen {
        b.inner.set_trial_gate(Some((u64::MAX, 0)));
        return Ok(());
    }
    let holds_none = memo.held.as_ref().is_none_or(|h| h.slots.is_empty());
    if holds_none && adopt_peer_result(conn, shared, b).await? {
        return Ok(());
    }
    let slots = acquire(conn, shared, b, &token(w.epoch())).await?;
    b.inner
        .set_trial_gate(Some((w.epoch(), slots.len() as u32)));
    memo.held = Some(Held {
        epoch: w.epoch(),
        slots,
    });
    Ok(())
}

/// Takes (or keeps) every free trial slot of the breaker's half-open round.
async fn acquire(
    conn: &mut Conn,
    shared: &Shared,
    b: &CircuitBreaker,
    token: &str,
) -> redis::RedisResult<Vec<u32>> {
    let prefix = shared.config.key_prefix.as_str();
    let max = b
        .inner
        .settings
        .load()
        .config
        .half_open_max_calls()
        .min(MAX_SLOTS);
    let ttl = millis(shared.config.heartbeat_ttl());
    let mut pipe = redis::pipe();
    for slot in 0..max {
        pipe.cmd("EVAL")
            .arg(ACQUIRE)
            .arg(1)
            .arg(lease_key(prefix, b.name(), slot))
            .arg(token)
            .arg(ttl);
    }
    if max == 0 {
        return Ok(Vec::new());
    }
    let got: Vec<i64> = pipe.query_async(conn).await?;
    Ok((0..max)
        .zip(got)
        .filter(|(_, g)| *g == 1)
        .map(|(s, _)| s)
        .collect())
}

/// A half-open round this replica held slots in has ended: publish how it ended (when it
/// ended on its own trials), then give the slots back, in that order, so a peer that
/// finds a slot free also finds the result.
async fn finish(
    conn: &mut Conn,
    shared: &Shared,
    b: &CircuitBreaker,
    held: &Held,
    token: &str,
) -> redis::RedisResult<()> {
    let prefix = shared.config.key_prefix.as_str();
    if held.slots.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    let result = b.inner.last_transition.load_full().and_then(|t| {
        if t.from != State::HalfOpen || t.restored {
            return None;
        }
        match (t.to, t.reason) {
            (State::Closed, Reason::HalfOpenSuccess) => Some("closed"),
            (State::Open, Reason::HalfOpenFailure | Reason::HalfOpenSlowCall) => Some("open"),
            _ => None,
        }
    });
    if let Some(result) = result {
        let value = format!("{result} {}", unix_ms(SystemTime::now()));
        pipe.cmd("SET")
            .arg(probe_key(prefix, b.name()))
            .arg(value)
            .arg("PX")
            .arg(millis(result_ttl(b, shared)))
            .ignore();
    }
    for slot in &held.slots {
        pipe.cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(lease_key(prefix, b.name(), *slot))
            .arg(token)
            .ignore();
    }
    pipe.query_async(conn).await
}

/// Ends this replica's half-open round on a peer's recent probe result: closed if the
/// peer's trials closed it, open if they failed. Returns whether it did.
async fn adopt_peer_result(
    conn: &mut Conn,
    shared: &Shared,
    b: &CircuitBreaker,
) -> redis::RedisResult<bool> {
    let prefix = shared.config.key_prefix.as_str();
    let value: Option<String> = redis::cmd("GET")
        .arg(probe_key(prefix, b.name()))
        .query_async(conn)
        .await?;
    let Some((result, at)) = value.as_deref().and_then(|v| v.split_once(' ')) else {
        return Ok(false);
    };
    let Ok(at_ms) = at.parse::<u64>() else {
        return Ok(false);
    };
    let inner = &b.inner;
    let w = inner.state.load();
    let since_ms = unix_ms(inner.clock.system_time(inner.since(w)));
    if at_ms.saturating_add(millis(result_ttl(b, shared))) < since_ms {
        return Ok(false);
    }
    let to = match result {
        "closed" => State::Closed,
        "open" => State::Open,
        _ => return Ok(false),
    };
    Ok(inner.fleet_move(State::HalfOpen, to, None))
}
