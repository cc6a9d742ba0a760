//! How a response or an error of an upstream call counts against its host's breaker.

use ::reqwest::{Response, StatusCode};

use crate::event::Outcome;

/// The result a [`CircuitBreakerMiddleware`](super::CircuitBreakerMiddleware) classifies:
/// what the rest of the middleware chain (and reqwest) returned.
pub type UpstreamResult = Result<Response, reqwest_middleware::Error>;

/// Decides how an upstream call counts: a [`Success`](Outcome::Success), a
/// [`Failure`](Outcome::Failure) (counts toward tripping the host's breaker) or
/// [`Ignore`](Outcome::Ignore).
///
/// Implemented by [`UpstreamClassifier`] (the default) and by any
/// `Fn(&UpstreamResult) -> Outcome` closure, which replaces it:
///
/// ```
/// use breakerbox::Outcome;
/// use breakerbox::reqwest::{ClassifyUpstream, UpstreamResult};
///
/// // Only transport errors count; every answer, 5xx included, is a success.
/// let classify = |r: &UpstreamResult| match r {
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Failure,
/// };
/// # let _ = &classify as &dyn ClassifyUpstream;
/// ```
pub trait ClassifyUpstream {
    /// How `result` counts.
    fn classify(&self, result: &UpstreamResult) -> Outcome;
}

impl<F> ClassifyUpstream for F
where
    F: Fn(&UpstreamResult) -> Outcome,
{
    fn classify(&self, result: &UpstreamResult) -> Outcome {
        self(result)
    }
}

/// The default classifier of upstream calls:
///
/// | result | outcome | why |
/// |---|---|---|
/// | connect error, timeout, any other transport error | failure | the host did not answer |
/// | 5xx | failure | the host answered that it is broken |
/// | 429 Too Many Requests | failure | the host is shedding load: back off |
/// | other 4xx | success | the host answered; the request was wrong |
/// | 1xx, 2xx, 3xx | success | |
/// | a rejection by another breaker (see [`rejection`](super::rejection)) | ignored | the call never reached the host |
/// | any other middleware's error (e.g. `reqwest-retry`'s, wrapping the last attempt's transport error) | failure | |
///
/// A cheap `Copy`.
///
/// ```
/// use breakerbox::Outcome;
/// use breakerbox::reqwest::UpstreamClassifier;
/// use reqwest::StatusCode;
///
/// let c = UpstreamClassifier::new();
/// assert_eq!(c.classify_status(StatusCode::BAD_GATEWAY), Outcome::Failure);
/// assert_eq!(c.classify_status(StatusCode::TOO_MANY_REQUESTS), Outcome::Failure);
/// assert_eq!(c.classify_status(StatusCode::NOT_FOUND), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UpstreamClassifier {
    _private: (),
}

impl UpstreamClassifier {
    /// The classifier of the table above.
    pub const fn new() -> Self {
        UpstreamClassifier { _private: () }
    }

    /// How a response with `status` counts.
    pub fn classify_status(&self, status: StatusCode) -> Outcome {
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl ClassifyUpstream for UpstreamClassifier {
    fn classify(&self, result: &UpstreamResult) -> Outcome {
        match result {
            Ok(res) => self.classify_status(res.status()),
            Err(e) if super::rejection(e).is_some() => Outcome::Ignore,
            Err(_) => Outcome::Failure,
        }
    }
}
