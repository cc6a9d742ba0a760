//! One breaker's unusable key costs that breaker's fleet view only: a key under the
//! fleet's prefix that holds the wrong type (`SET prefix:w:name x`, by hand or by another
//! program) or content that is not text makes Redis (or the reply's conversion) fail the
//! commands on that key. Those failures are that breaker's: it decides locally for the
//! round, the failure is counted (`breakerbox_fleet_key_errors_total`) and logged once
//! until the key works again. Any other error (the connection, a server that refuses
//! writes) still fails the whole round.

use std::collections::HashMap;

use redis::{FromRedisValue, RedisError, RedisResult, Value};

use crate::breaker::CircuitBreaker;

/// Whether `e` is about one key (its type), not the connection or the server: every
/// server error in it (one per failed command of a pipeline) is `WRONGTYPE`.
pub(super) fn is_key_error(e: &RedisError) -> bool {
    e.clone()
        .into_server_errors()
        .is_some_and(|errs| !errs.is_empty() && errs.iter().all(|(_, s)| s.code() == "WRONGTYPE"))
}

/// What a round got for one breaker's window key.
#[derive(Debug, Default)]
pub(super) struct WindowReply {
    /// The delta was written (or there was none to write).
    pub(super) published: bool,
    /// The fleet's buckets; `None` when the key is unusable.
    pub(super) fields: Option<HashMap<String, String>>,
}

/// Splits the replies of a round's pipeline (sent with `ignore_errors`): the heartbeat's,
/// then for each breaker `sent[i]` replies, the last one its `HGETALL` and the first its
/// `HSET` when `sent[i]` is 3. A key error is the breaker's; any other error is returned.
pub(super) fn split(replies: Vec<Value>, sent: &[usize]) -> RedisResult<Vec<WindowReply>> {
    let mut replies = replies.into_iter();
    check(replies.next().unwrap_or(Value::Nil))?;
    let mut out = Vec::with_capacity(sent.len());
    for &n in sent {
        let mut reply = WindowReply {
            published: true,
            fields: None,
        };
        let mut usable = true;
        for i in 0..n {
            let value = replies.next().unwrap_or(Value::Nil);
            let ok = match check(value) {
                Ok(v) if i + 1 == n => match HashMap::from_redis_value(v) {
                    Ok(fields) => {
                        reply.fields = Some(fields);
                        true
                    }
                    Err(_) => false,
                },
                Ok(_) => true,
                Err(e) if is_key_error(&e) => false,
                Err(e) => return Err(e),
            };
            if !ok && i == 0 && n == 3 {
                reply.published = false;
            }
            usable &= ok;
        }
        if !usable {
            reply.fields = None;
        }
        out.push(reply);
    }
    Ok(out)
}

/// A server error in `value` as an error.
fn check(value: Value) -> RedisResult<Value> {
    match value {
        Value::ServerError(e) => Err(e.into()),
        v => Ok(v),
    }
}

/// Counts and logs (once until it works again) a breaker whose key is unusable, or logs
/// that it works again. `failing` is the breaker's flag, kept between rounds.
pub(super) fn report(b: &CircuitBreaker, key: &str, usable: bool, failing: &mut bool) {
    if usable {
        if std::mem::take(failing) {
            log(b, key, true);
        }
        return;
    }
    #[cfg(feature = "metrics")]
    metrics::counter!(
        crate::observe::names::FLEET_KEY_ERRORS_TOTAL,
        crate::observe::names::LABEL_BREAKER => b.name().to_owned()
    )
    .increment(1);
    if !std::mem::replace(failing, true) {
        log(b, key, false);
    }
}

/// Registers `breakerbox_fleet_key_errors_total` at 0 for each breaker.
pub(super) fn register(breakers: &[CircuitBreaker]) {
    #[cfg(feature = "metrics")]
    for b in breakers {
        metrics::counter!(
            crate::observe::names::FLEET_KEY_ERRORS_TOTAL,
            crate::observe::names::LABEL_BREAKER => b.name().to_owned()
        )
        .absolute(0);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = breakers;
}

#[cfg(feature = "tracing")]
fn log(b: &CircuitBreaker, key: &str, usable: bool) {
    let breaker = b.name();
    if usable {
        tracing::info!(target: "breakerbox::fleet", breaker, key, "fleet key usable again: fleet decisions in force for this breaker");
    } else {
        tracing::warn!(target: "breakerbox::fleet", breaker, key, "fleet key unusable (wrong type or content): this breaker decides locally until it is fixed or expires");
    }
}

#[cfg(not(feature = "tracing"))]
fn log(_: &CircuitBreaker, _: &str, _: bool) {}
