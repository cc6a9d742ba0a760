//! The fleet's background task: each period it publishes, reads and decides. Every Redis
//! exchange of a round is bounded by one period; a failed round means local decisions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Shared;
use super::keys;
use super::ops::{self, Cursor};
use super::probe::{self, Held};
use super::verdict::{Bucket, aggregate, numbers, verdict};
use crate::breaker::{CallTotals, CircuitBreaker};
use crate::config::WindowKind;
use crate::registry::Registry;
use crate::state::State;

/// What the task remembers about one breaker between rounds.
#[derive(Debug, Default)]
pub(super) struct Memo {
    /// The lifetime totals at the last successful publish.
    last: CallTotals,
    /// The half-open trial slots held, if any.
    pub(super) held: Option<Held>,
    /// The breaker's keys were unusable in the last round (see `keys`): logged once.
    pub(super) key_failing: bool,
    /// The same for its lease and probe-result keys.
    pub(super) probe_key_failing: bool,
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

pub(super) async fn run(registry: Registry, client: redis::Client, shared: Arc<Shared>) {
    let cfg = &shared.config;
    let manager_cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(cfg.period))
        .set_response_timeout(Some(cfg.period))
        .set_number_of_retries(0);
    let mut conn: Option<Conn> = None;
    let mut memos: HashMap<Arc<str>, Memo> = HashMap::new();
    let mut seq = unix_ms(SystemTime::now());
    let mut cursor: Cursor = None;
    // The first round logs its outcome either way: a Redis down at start is said too.
    let mut first = true;
    let mut ticker = tokio::time::interval(cfg.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let breakers = registry.all();
        let names: HashSet<&str> = breakers.iter().map(|b| b.name()).collect();
        memos.retain(|name, _| names.contains(&**name));
        if conn.is_none() {
            conn =
                ConnectionManager::new_lazy_with_config(client.clone(), manager_cfg.clone()).ok();
        }
        let ok = match conn.as_mut() {
            Some(c) => {
                let round = async {
                    round(c, &shared, &breakers, &mut memos, &mut seq).await?;
                    let (prefix, id) = (cfg.key_prefix.as_str(), cfg.replica_id.as_str());
                    ops::round(c, prefix, id, &registry, &shared.outbox, &mut cursor).await
                };
                matches!(tokio::time::timeout(cfg.period, round).await, Ok(Ok(())))
            }
            None => false,
        };
        if !ok {
            // A fresh connection next period: the manager's own reconnect is not waited on.
            conn = None;
            for b in &breakers {
                b.inner.set_trial_gate(None);
            }
        }
        set_connected(&shared, ok, first, &breakers);
        first = false;
    }
}

/// Records the connection state: the flag, the gauge of every breaker, a log line on change
/// (and after the first round).
fn set_connected(shared: &Shared, ok: bool, first: bool, breakers: &[CircuitBreaker]) {
    let was = shared.connected.swap(ok, Ordering::AcqRel);
    set_gauge(breakers, ok);
    if was != ok || first {
        log_change(shared, ok);
    }
}

/// Sets `breakerbox_fleet_connected` of each breaker to 1 (`ok`) or 0. Also called when
/// the fleet starts, so the series exists at 0 before the first round ends.
pub(super) fn set_gauge(breakers: &[CircuitBreaker], ok: bool) {
    #[cfg(feature = "metrics")]
    for b in breakers {
        metrics::gauge!(
            crate::observe::names::FLEET_CONNECTED,
            crate::observe::names::LABEL_BREAKER => b.name().to_owned()
        )
        .set(if ok { 1.0 } else { 0.0 });
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (breakers, ok);
}

#[cfg(feature = "tracing")]
fn log_change(shared: &Shared, ok: bool) {
    let replica = shared.config.replica_id.as_str();
    if ok {
        tracing::info!(target: "breakerbox::fleet", replica, "fleet connected: fleet decisions in force");
    } else {
        tracing::warn!(target: "breakerbox::fleet", replica, "fleet disconnected: local decisions only");
    }
}

#[cfg(not(feature = "tracing"))]
fn log_change(_: &Shared, _: bool) {}

fn key(prefix: &str, kind: &str, name: &str) -> String {
    format!("{prefix}:{kind}:{name}")
}

/// The fleet window of a breaker: a time window's own length, else the configured
/// `count_window` (default 10 periods).
fn window_of(b: &CircuitBreaker, shared: &Shared) -> Duration {
    match b.inner.settings.load().config.window() {
        WindowKind::Time(d) => d,
        WindowKind::Count(_) => shared
            .config
            .count_window
            .unwrap_or(shared.config.period.saturating_mul(10)),
    }
}

/// One round: heartbeat and deltas out, the fleet's buckets in, verdicts, probing.
async fn round(
    conn: &mut Conn,
    shared: &Shared,
    breakers: &[CircuitBreaker],
    memos: &mut HashMap<Arc<str>, Memo>,
    seq: &mut u64,
) -> redis::RedisResult<()> {
    let cfg = &shared.config;
    let prefix = cfg.key_prefix.as_str();
    let ttl = millis(cfg.heartbeat_ttl());
    let now_ms = unix_ms(SystemTime::now());
    for b in breakers {
        b.poll_timeouts();
    }
    let mut pipe = redis::pipe();
    // Replies one by one: a wrong-typed key fails its breaker's commands, not the round.
    pipe.ignore_errors();
    let mut sent = Vec::with_capacity(breakers.len());
    pipe.cmd("SET")
        .arg(key(prefix, "hb", &cfg.replica_id))
        .arg(1)
        .arg("PX")
        .arg(ttl);
    let mut totals = Vec::with_capacity(breakers.len());
    for b in breakers {
        let now = b.inner.totals.totals();
        let last = memos.get(b.name_arc()).map(|m| m.last).unwrap_or_default();
        let delta = Bucket {
            at_ms: now_ms,
            calls: (now.successes.saturating_add(now.failures))
                .saturating_sub(last.successes.saturating_add(last.failures)),
            failures: now.failures.saturating_sub(last.failures),
            slow: now.slow.saturating_sub(last.slow),
        };
        let wkey = key(prefix, "w", b.name());
        if delta.calls > 0 || delta.slow > 0 {
            *seq = seq.saturating_add(1);
            let field = format!("{}:{}", cfg.replica_id, seq);
            pipe.cmd("HSET").arg(&wkey).arg(field).arg(delta.encode());
            let keep = millis(window_of(b, shared)).saturating_add(ttl);
            pipe.cmd("PEXPIRE").arg(&wkey).arg(keep);
            sent.push(3);
        } else {
            sent.push(1);
        }
        pipe.cmd("HGETALL").arg(&wkey);
        totals.push(now);
    }
    let replies: Vec<redis::Value> = pipe.query_async(conn).await?;
    let replies = keys::split(replies, &sent)?;
    for ((b, now), reply) in breakers.iter().zip(totals).zip(&replies) {
        let memo = memos.entry(b.name_arc().clone()).or_default();
        if reply.published {
            memo.last = now;
        }
        let wkey = key(prefix, "w", b.name());
        keys::report(b, &wkey, reply.fields.is_some(), &mut memo.key_failing);
    }
    let windows: Vec<&HashMap<String, String>> =
        replies.iter().filter_map(|r| r.fields.as_ref()).collect();
    let live = live_replicas(conn, prefix, &windows).await?;
    let mut cleanup = redis::pipe();
    let mut stale = false;
    for (b, reply) in breakers.iter().zip(&replies) {
        // An unusable key: this breaker decides locally this round.
        let Some(fields) = &reply.fields else {
            continue;
        };
        let window_ms = millis(window_of(b, shared));
        let mut buckets = Vec::with_capacity(fields.len());
        for (field, value) in fields {
            let replica = field.split_once(':').map_or(field.as_str(), |(r, _)| r);
            match Bucket::decode(value) {
                Some(x) if x.at_ms.saturating_add(window_ms) >= now_ms => {
                    buckets.push((replica, x))
                }
                _ => {
                    stale = true;
                    cleanup
                        .cmd("HDEL")
                        .arg(key(prefix, "w", b.name()))
                        .arg(field)
                        .ignore();
                }
            }
        }
        decide(
            b,
            &buckets,
            &live,
            now_ms.saturating_sub(window_ms),
            cfg.quorum,
        );
    }
    if stale {
        cleanup.query_async::<()>(conn).await?;
    }
    probe::round(conn, shared, breakers, memos).await
}

/// The replicas with a live heartbeat among those that published buckets.
async fn live_replicas(
    conn: &mut Conn,
    prefix: &str,
    windows: &[&HashMap<String, String>],
) -> redis::RedisResult<HashSet<String>> {
    let mut ids: Vec<&str> = windows
        .iter()
        .flat_map(|w| w.keys())
        .map(|f| f.split_once(':').map_or(f.as_str(), |(r, _)| r))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.cmd("EXISTS").arg(key(prefix, "hb", id));
    }
    let alive: Vec<bool> = if ids.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    Ok(ids
        .into_iter()
        .zip(alive)
        .filter(|(_, a)| *a)
        .map(|(id, _)| id.to_owned())
        .collect())
}

/// Opens a Closed breaker on a fleet verdict over the buckets since it last closed.
fn decide(
    b: &CircuitBreaker,
    buckets: &[(&str, Bucket)],
    live: &HashSet<String>,
    window_start_ms: u64,
    quorum: u32,
) {
    let inner = &b.inner;
    let w = inner.state.load();
    if w.state() != State::Closed {
        return;
    }
    let closed_ms = unix_ms(inner.clock.system_time(inner.since(w)));
    let since_ms = window_start_ms.max(closed_ms);
    let agg = aggregate(buckets.iter().copied(), |r| live.contains(r), since_ms);
    let cfg = &inner.settings.load().config;
    if let Some(trigger) = verdict(&agg, cfg, quorum) {
        let numbers = numbers(&agg, cfg, trigger, quorum);
        inner.fleet_move(State::Closed, State::Open, Some(numbers));
    }
}
