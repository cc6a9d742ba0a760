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
use super::probe;
use super::round::{Conn, Memo, unix_ms};
use super::verdict::{Aggregate, numbers, verdict};
use super::window::{self, Params, Publish};
use crate::breaker::CircuitBreaker;
use crate::config::WindowKind;
use crate::registry::Registry;
use crate::state::State;

pub(super) async fn run(registry: Registry, client: redis::Client, shared: Arc<Shared>) {
    let cfg = &shared.config;
    let manager_cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(cfg.period))
        .set_response_timeout(Some(cfg.period))
        .set_number_of_retries(0);
    let mut conn: Option<Conn> = None;
    let mut memos: HashMap<Arc<str>, Memo> = HashMap::new();
    // The window script's SHA1 on the current connection, loaded by its first round.
    let mut sha: Option<String> = None;
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
            sha = None;
            conn =
                ConnectionManager::new_lazy_with_config(client.clone(), manager_cfg.clone()).ok();
        }
        let ok = match conn.as_mut() {
            Some(c) => {
                let round = async {
                    let sha = match &sha {
                        Some(s) => s.clone(),
                        None => sha.insert(load_script(c).await?).clone(),
                    };
                    round(c, &sha, &shared, &breakers, &mut memos).await?;
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

/// Loads the window script on this connection: its SHA1 for `EVALSHA`.
async fn load_script(conn: &mut Conn) -> redis::RedisResult<String> {
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(window::SCRIPT)
        .query_async(conn)
        .await
}

/// One round: each breaker's deltas out and the fleet's totals in (one script call per
/// breaker, pipelined), verdicts, probing.
async fn round(
    conn: &mut Conn,
    sha: &str,
    shared: &Shared,
    breakers: &[CircuitBreaker],
    memos: &mut HashMap<Arc<str>, Memo>,
) -> redis::RedisResult<()> {
    let cfg = &shared.config;
    let prefix = cfg.key_prefix.as_str();
    let now_ms = unix_ms(SystemTime::now());
    for b in breakers {
        b.poll_timeouts();
    }
    let mut pipe = redis::pipe();
    // Replies one by one: a wrong-typed key fails its breaker's call, not the round.
    pipe.ignore_errors();
    let mut totals = Vec::with_capacity(breakers.len());
    for b in breakers {
        let now = b.inner.totals.totals();
        let last = memos.get(b.name_arc()).map(|m| m.last).unwrap_or_default();
        let publish = Publish {
            now_ms,
            calls: (now.successes.saturating_add(now.failures))
                .saturating_sub(last.successes.saturating_add(last.failures)),
            failures: now.failures.saturating_sub(last.failures),
            slow: now.slow.saturating_sub(last.slow),
            closed_age_ms: closed_age_ms(b, now_ms),
        };
        let params = Params {
            period: cfg.period,
            window: window_of(b, shared),
            heartbeat_ttl: cfg.heartbeat_ttl(),
        };
        window::invoke(
            &mut pipe,
            sha,
            prefix,
            b.name(),
            &cfg.replica_id,
            params,
            publish,
        );
        totals.push(now);
    }
    let replies: Vec<redis::Value> = if breakers.is_empty() {
        Vec::new()
    } else {
        pipe.query_async(conn).await?
    };
    let replies = keys::split(replies, breakers.len())?;
    for ((b, now), agg) in breakers.iter().zip(totals).zip(replies) {
        let memo = memos.entry(b.name_arc().clone()).or_default();
        let wkey = format!("{}:w", window::base(prefix, b.name()));
        keys::report(b, &wkey, agg.is_some(), &mut memo.key_failing);
        // An unusable key: nothing was written, and this breaker decides locally.
        let Some(agg) = agg else { continue };
        memo.last = now;
        decide(b, &agg, cfg.quorum);
    }
    probe::round(conn, shared, breakers, memos).await
}

/// How long ago a Closed breaker closed (by this replica's wall clock); `None` in any
/// other state.
fn closed_age_ms(b: &CircuitBreaker, now_ms: u64) -> Option<u64> {
    let inner = &b.inner;
    let w = inner.state.load();
    (w.state() == State::Closed).then(|| {
        let closed_ms = unix_ms(inner.clock.system_time(inner.since(w)));
        now_ms.saturating_sub(closed_ms)
    })
}

/// Opens a Closed breaker on a fleet verdict over the fleet's aggregate since it last
/// closed.
fn decide(b: &CircuitBreaker, agg: &Aggregate, quorum: u32) {
    let inner = &b.inner;
    if inner.state.load().state() != State::Closed {
        return;
    }
    let cfg = &inner.settings.load().config;
    if let Some(trigger) = verdict(agg, cfg, quorum) {
        let numbers = numbers(agg, cfg, trigger, quorum);
        inner.fleet_move(State::Closed, State::Open, Some(numbers));
    }
}
