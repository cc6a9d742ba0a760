//! One breaker's unusable key costs that breaker's fleet view only: a key under the
//! fleet's prefix that holds the wrong type (`SET prefix:v2:{name}:w x`, by hand or by another
//! program) or content that is not text makes Redis (or the reply's conversion) fail the
//! commands on that key. Those failures are that breaker's: it decides locally for the
//! round, the failure is counted (`breakerbox_fleet_key_errors_total`) and logged once
//! until the key works again. Any other error (the connection, a server that refuses
//! writes) still fails the whole round.

use redis::{RedisError, RedisResult, Value};

use super::verdict::Aggregate;
use super::window;

use crate::breaker::CircuitBreaker;

/// Whether `e` is about one key (its type), not the connection or the server: every
/// server error in it (one per failed command of a pipeline) is `WRONGTYPE`.
pub(super) fn is_key_error(e: &RedisError) -> bool {
    e.clone()
        .into_server_errors()
        .is_some_and(|errs| !errs.is_empty() && errs.iter().all(|(_, s)| s.code() == "WRONGTYPE"))
}

/// Splits the replies of a round's pipeline (sent with `ignore_errors`): one window
/// script call per breaker, `n` in all. A key error (or a reply that is not the script's)
/// is the breaker's: `None`, and the script wrote nothing; any other error is returned.
pub(super) fn split(replies: Vec<Value>, n: usize) -> RedisResult<Vec<Option<Aggregate>>> {
    let mut replies = replies.into_iter();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match check(replies.next().unwrap_or(Value::Nil)) {
            Ok(v) => out.push(window::parse(v)),
            Err(e) if is_key_error(&e) => out.push(None),
            Err(e) => return Err(e),
        }
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
