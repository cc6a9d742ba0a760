//! Errors as axum responses: a handler can use `?` on a breaker's or a limit's result.

use axum::response::IntoResponse;

use crate::error::{BreakerOpen, CallError, CallTimeout};
use crate::http::response::{Problem, limited_response, rejection_response};
use crate::limited::Limited;

/// A bulkhead that is full answers `503 Service Unavailable`, a rate limit `429 Too
/// Many Requests` with `Retry-After`; see [`limited_response`](crate::http::limited_response).
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for Limited {
    fn into_response(self) -> axum::response::Response {
        limited_response(&self).map(axum::body::Body::from)
    }
}

/// A rejection answers 503 with `Retry-After` and a problem+json body, so a handler
/// can use `?` on a breaker's result.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for BreakerOpen {
    fn into_response(self) -> axum::response::Response {
        rejection_response(&self).map(axum::body::Body::from)
    }
}

/// A timed-out call answers `504 Gateway Timeout` with a problem+json body of type
/// `CallTimeout`.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for CallTimeout {
    fn into_response(self) -> axum::response::Response {
        let detail = self.to_string();
        let status = http::StatusCode::GATEWAY_TIMEOUT;
        let title = "Dependency call timed out";
        let mut res = Problem::new("CallTimeout", title, status, &detail)
            .breaker(self.name())
            .response()
            .map(axum::body::Body::from);
        res.extensions_mut().insert(self);
        res
    }
}

/// A rejection answers like [`BreakerOpen`], a timeout like [`CallTimeout`]; the
/// call's own error answers as it would without the breaker.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<E: IntoResponse> IntoResponse for CallError<E> {
    fn into_response(self) -> axum::response::Response {
        self.into_response_with(|e| e)
    }
}

impl<E> CallError<E> {
    /// The response for this error: a rejection, a limit's refusal and a timeout answer as
    /// the library does (503 with `Retry-After`, 429, 504, problem+json), the call's own
    /// error as `respond` makes it. For an error type that is not yours (a database
    /// driver's, say) and so cannot implement `IntoResponse`; when `E` implements it,
    /// `CallError<E>` is already an `IntoResponse` and a handler can use `?`.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::response::{IntoResponse, Response};
    /// use breakerbox::{CallError, CircuitBreaker};
    ///
    /// async fn balance(db: CircuitBreaker) -> Response {
    ///     match db.call(async { Err::<u64, std::io::Error>(std::io::ErrorKind::Other.into()) }).await {
    ///         Ok(n) => n.to_string().into_response(),
    ///         Err(e) => e.into_response_with(|io| (StatusCode::BAD_GATEWAY, io.to_string())),
    ///     }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = CircuitBreaker::new("postgres");
    /// assert_eq!(balance(db.clone()).await.status(), StatusCode::BAD_GATEWAY);
    /// db.force_open_for(std::time::Duration::from_secs(30));
    /// let res = balance(db).await;
    /// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// assert!(res.headers().contains_key("retry-after"));
    /// # });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn into_response_with<R: IntoResponse>(
        self,
        respond: impl FnOnce(E) -> R,
    ) -> axum::response::Response {
        match self {
            CallError::Rejected(open) => open.into_response(),
            CallError::Timeout(t) => t.into_response(),
            CallError::Limited(l) => l.into_response(),
            CallError::Inner(e) => respond(e).into_response(),
        }
    }
}
