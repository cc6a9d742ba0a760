//! Fallbacks: degrade instead of failing when a breaker refuses a call, the call times
//! out or fails, and count it (`breakerbox_fallbacks_total{breaker,reason}`).

use crate::breaker::CircuitBreaker;
use crate::error::CallError;
use crate::state::FallbackReason;

impl FallbackReason {
    /// The reason for `error`.
    pub fn of<E>(error: &CallError<E>) -> FallbackReason {
        match error {
            CallError::Rejected(_) | CallError::Limited(_) => FallbackReason::Rejected,
            CallError::Timeout(_) => FallbackReason::Timeout,
            CallError::Inner(_) => FallbackReason::Failure,
        }
    }
}

/// Degrading on a breaker's error: implemented for the `Result` of every call path.
///
/// The breaker is passed again because the call's own error does not know which breaker
/// it went through; the fallback is counted on it, labelled with its
/// [`FallbackReason`], and each counter exists at 0 from the breaker's creation.
///
/// ```
/// use breakerbox::{CircuitBreaker, Fallback};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = CircuitBreaker::new("redis");
/// cache.force_open();
/// // The cache is optional: without it, read through to the database.
/// let price: Option<u64> = cache
///     .call(async { Ok::<_, std::io::Error>(Some(42)) })
///     .await
///     .or_fallback(&cache, |_why| None);
/// assert_eq!(price, None);
/// # });
/// ```
pub trait Fallback<T, E> {
    /// The value, or `fallback`'s answer to the error (which it receives, to log or
    /// inspect).
    fn or_fallback(self, breaker: &CircuitBreaker, fallback: impl FnOnce(CallError<E>) -> T) -> T;

    /// Like [`or_fallback`](Fallback::or_fallback), only for errors that are not the
    /// call's own: a rejection or a timeout is replaced, the call's own error is returned
    /// (as `Err(CallError::Inner(e))`, not counted).
    ///
    /// # Errors
    /// The call's own error.
    fn or_fallback_unavailable(
        self,
        breaker: &CircuitBreaker,
        fallback: impl FnOnce(CallError<E>) -> T,
    ) -> Result<T, CallError<E>>;

    /// A fallback that may have nothing to offer: `fallback` looks at the error and
    /// returns `Some(value)` to serve instead (counted, by reason), or `None` to let the
    /// error through unchanged (not counted: no fallback was taken). For a stale copy that
    /// exists only sometimes, a last-known value, a default for some errors only.
    ///
    /// ```
    /// use breakerbox::{CircuitBreaker, Fallback};
    ///
    /// let prices = CircuitBreaker::new("price-api");
    /// prices.force_open();
    /// let last_known: Option<u64> = None; // nothing cached yet
    /// let quote = prices
    ///     .call_sync(|| Ok::<u64, std::io::Error>(42))
    ///     .or_try_fallback(&prices, |_why| last_known);
    /// assert!(quote.unwrap_err().is_rejected()); // no value: the rejection, uncounted
    /// let quote = prices
    ///     .call_sync(|| Ok::<u64, std::io::Error>(42))
    ///     .or_try_fallback(&prices, |_why| Some(40));
    /// assert_eq!(quote.unwrap(), 40); // counted as a fallback, reason "rejected"
    /// ```
    ///
    /// # Errors
    /// The call's error, when `fallback` returns `None`.
    fn or_try_fallback(
        self,
        breaker: &CircuitBreaker,
        fallback: impl FnOnce(&CallError<E>) -> Option<T>,
    ) -> Result<T, CallError<E>>;
}

impl<T, E> Fallback<T, E> for Result<T, CallError<E>> {
    fn or_fallback(self, breaker: &CircuitBreaker, fallback: impl FnOnce(CallError<E>) -> T) -> T {
        match self {
            Ok(v) => v,
            Err(e) => {
                breaker.record_fallback(FallbackReason::of(&e));
                fallback(e)
            }
        }
    }

    fn or_fallback_unavailable(
        self,
        breaker: &CircuitBreaker,
        fallback: impl FnOnce(CallError<E>) -> T,
    ) -> Result<T, CallError<E>> {
        match self {
            Err(CallError::Inner(e)) => Err(CallError::Inner(e)),
            other => Ok(other.or_fallback(breaker, fallback)),
        }
    }

    fn or_try_fallback(
        self,
        breaker: &CircuitBreaker,
        fallback: impl FnOnce(&CallError<E>) -> Option<T>,
    ) -> Result<T, CallError<E>> {
        let e = match self {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match fallback(&e) {
            Some(v) => {
                breaker.record_fallback(FallbackReason::of(&e));
                Ok(v)
            }
            None => Err(e),
        }
    }
}
