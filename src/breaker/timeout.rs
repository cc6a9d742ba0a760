//! Call timeouts: cancelling an async call that runs past `call_timeout` (feature
//! `rt-tokio`), and recording an overlong call that could not be cancelled.

use std::future::Future;
use std::time::Duration;

use super::engine::{Inner, nanos};
use crate::error::CallError;
use crate::event::Outcome;

/// Runs `fut` under `limit` and classifies its result: the result for the caller and the
/// outcome to record.
pub(super) async fn run<T, E, F, C>(
    inner: &Inner,
    start: u64,
    limit: Option<Duration>,
    classify: C,
    fut: F,
) -> (Result<T, CallError<E>>, Outcome)
where
    F: Future<Output = Result<T, E>>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    #[cfg(feature = "rt-tokio")]
    if let Some(after) = limit
        && tokio::runtime::Handle::try_current().is_ok()
    {
        return match tokio::time::timeout(after, fut).await {
            Ok(result) => {
                let outcome = after_the_fact(inner, start, limit, classify(&result));
                (result.map_err(CallError::Inner), outcome)
            }
            Err(_elapsed) => (Err(timed_out(inner, after)), Outcome::Timeout),
        };
    }
    let result = fut.await;
    let outcome = after_the_fact(inner, start, limit, classify(&result));
    (result.map_err(CallError::Inner), outcome)
}

/// The outcome to record for a call that completed: `Timeout` if it ran strictly longer
/// than `limit` by the breaker's clock, whatever its result, else the classifier's.
pub(super) fn after_the_fact(
    inner: &Inner,
    start: u64,
    limit: Option<Duration>,
    outcome: Outcome,
) -> Outcome {
    match limit {
        Some(limit) if inner.clock.now().saturating_sub(start) > nanos(limit) => Outcome::Timeout,
        _ => outcome,
    }
}

#[cfg(feature = "rt-tokio")]
fn timed_out<E>(inner: &Inner, after: Duration) -> CallError<E> {
    CallError::Timeout(crate::error::CallTimeout {
        name: crate::error::Name::new(&inner.name),
        after,
    })
}
