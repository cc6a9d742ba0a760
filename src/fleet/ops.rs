//! Operator actions fan out: a force-open, reset, disable or metrics-only on one replica is
//! appended to a shared log in Redis with a sequence number, and every other replica
//! applies it (as its own operator action) without publishing it again.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::round::{Conn, millis};
use crate::breaker::CircuitBreaker;
use crate::event::{Event, Transition};
use crate::registry::Registry;
use crate::state::{Reason, State};

/// Entries kept in the shared log, and actions kept while Redis is unreachable.
const KEEP: usize = 1000;

/// Appends one entry under the next sequence number; returns that number.
const APPEND: &str = r"
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], seq .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return seq";

/// An operator action on one breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    breaker: String,
    action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Reset,
    Disable,
    MetricsOnly,
    /// With the TTL in milliseconds, 0 for none.
    ForceOpen(u64),
}

impl Op {
    /// The operator action behind a transition, if it is one.
    pub(crate) fn from_transition(t: &Transition) -> Option<Op> {
        let action = match (t.reason, t.to) {
            (Reason::Manual, State::Closed) => Action::Reset,
            (Reason::Manual, State::Disabled) => Action::Disable,
            (Reason::Manual, State::MetricsOnly) => Action::MetricsOnly,
            (Reason::Forced, State::ForcedOpen) => Action::ForceOpen(t.open_for.map_or(0, millis)),
            _ => return None,
        };
        Some(Op {
            breaker: t.breaker.to_string(),
            action,
        })
    }

    /// `replica action ttl_ms breaker` (the breaker last: it may hold spaces).
    fn encode(&self, replica: &str) -> String {
        let (action, ttl) = match self.action {
            Action::Reset => ("reset", 0),
            Action::Disable => ("disable", 0),
            Action::MetricsOnly => ("metrics_only", 0),
            Action::ForceOpen(ttl) => ("force_open", ttl),
        };
        format!("{replica} {action} {ttl} {}", self.breaker)
    }

    /// Parses `seq replica action ttl_ms breaker`.
    fn decode(s: &str) -> Option<(u64, String, Op)> {
        let mut it = s.splitn(5, ' ');
        let seq = it.next()?.parse().ok()?;
        let replica = it.next()?.to_owned();
        let action = it.next()?;
        let ttl: u64 = it.next()?.parse().ok()?;
        let breaker = it.next()?.to_owned();
        let action = match action {
            "reset" => Action::Reset,
            "disable" => Action::Disable,
            "metrics_only" => Action::MetricsOnly,
            "force_open" => Action::ForceOpen(ttl),
            _ => return None,
        };
        Some((seq, replica, Op { breaker, action }))
    }

    fn apply(&self, b: &CircuitBreaker) {
        match self.action {
            Action::Reset => b.reset(),
            Action::Disable => b.disable(),
            Action::MetricsOnly => b.metrics_only(),
            Action::ForceOpen(0) => b.force_open(),
            Action::ForceOpen(ms) => b.force_open_for(Duration::from_millis(ms)),
        }
    }
}

/// The actions taken on this replica and not published yet.
#[derive(Debug, Default)]
pub(crate) struct Outbox(Mutex<Vec<Op>>);

impl Outbox {
    /// Subscribes the outbox to the registry's transitions (not to calls).
    pub(crate) fn listen(registry: &Registry, outbox: std::sync::Arc<Outbox>) -> crate::ListenerId {
        registry.subscribe_transitions(move |e: &Event<'_>| {
            if let Event::Transition(t) = e
                && let Some(op) = Op::from_transition(t)
            {
                let mut v = outbox.0.lock().unwrap_or_else(PoisonError::into_inner);
                if v.len() >= KEEP {
                    v.remove(0);
                }
                v.push(op);
            }
        })
    }

    fn take(&self) -> Vec<Op> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts back actions that could not be published, before newer ones.
    fn put_back(&self, mut ops: Vec<Op>) {
        let mut v = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        ops.append(&mut v);
        *v = ops;
    }

    /// Forgets the echo of an action just applied from the log (the last one equal).
    fn forget(&self, op: &Op) {
        let mut v = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = v.iter().rposition(|o| o == op) {
            v.remove(i);
        }
    }
}

/// The log's read position: `None` until the first successful read, which starts at the
/// log's current end (history is the state store's job, not a replay).
pub(crate) type Cursor = Option<u64>;

/// Publishes this replica's actions and applies the others'.
pub(crate) async fn round(
    conn: &mut Conn,
    prefix: &str,
    replica: &str,
    registry: &Registry,
    outbox: &Outbox,
    cursor: &mut Cursor,
) -> redis::RedisResult<()> {
    let seq_key = format!("{prefix}:opseq");
    let log_key = format!("{prefix}:ops");
    let Some(seen) = *cursor else {
        let end: Option<u64> = redis::cmd("GET").arg(&seq_key).query_async(conn).await?;
        *cursor = Some(end.unwrap_or(0));
        return publish(conn, &seq_key, &log_key, replica, outbox).await;
    };
    publish(conn, &seq_key, &log_key, replica, outbox).await?;
    let (end, entries): (Option<u64>, Vec<String>) = redis::pipe()
        .cmd("GET")
        .arg(&seq_key)
        .cmd("LRANGE")
        .arg(&log_key)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await?;
    // A counter behind the cursor: Redis restarted empty, its log is all new.
    let seen = if end.unwrap_or(0) < seen { 0 } else { seen };
    let mut last = seen;
    for (seq, from, op) in entries.iter().filter_map(|e| Op::decode(e)) {
        if seq <= seen {
            continue;
        }
        last = last.max(seq);
        if from == replica {
            continue;
        }
        if let Some(b) = registry.get(&op.breaker) {
            op.apply(&b);
            outbox.forget(&op);
        }
    }
    *cursor = Some(last);
    Ok(())
}

async fn publish(
    conn: &mut Conn,
    seq_key: &str,
    log_key: &str,
    replica: &str,
    outbox: &Outbox,
) -> redis::RedisResult<()> {
    let ops = outbox.take();
    if ops.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for op in &ops {
        pipe.cmd("EVAL")
            .arg(APPEND)
            .arg(2)
            .arg(seq_key)
            .arg(log_key)
            .arg(op.encode(replica))
            .arg(KEEP)
            .ignore();
    }
    let sent = pipe.query_async::<()>(conn).await;
    if sent.is_err() {
        outbox.put_back(ops);
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_garbage_is_skipped() {
        for action in [
            Action::Reset,
            Action::Disable,
            Action::MetricsOnly,
            Action::ForceOpen(0),
            Action::ForceOpen(u64::MAX),
        ] {
            let op = Op {
                breaker: "pay ments".into(),
                action,
            };
            let line = format!("7 {}", op.encode("r1"));
            assert_eq!(Op::decode(&line), Some((7, "r1".into(), op)));
        }
        for bad in [
            "",
            "x r1 reset 0 a",
            "1 r1 explode 0 a",
            "1 r1 reset",
            "1 r1 reset -1 a",
        ] {
            assert_eq!(Op::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_outbox_forgets_only_the_last_echo() {
        let outbox = Outbox::default();
        let op = Op {
            breaker: "a".into(),
            action: Action::Reset,
        };
        outbox.put_back(vec![op.clone(), op.clone()]);
        outbox.forget(&op);
        assert_eq!(outbox.take(), vec![op]);
    }
}
