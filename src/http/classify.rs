//! Response classifiers: which responses and errors count against a breaker.

use std::ops::RangeInclusive;
use std::sync::Arc;

use http::{Response, StatusCode};

use crate::error::BreakerOpen;
use crate::event::Outcome;
use crate::limited::Limited;

/// Decides how a response, or the inner service's error, counts: a
/// [`Success`](Outcome::Success), a [`Failure`](Outcome::Failure) (counts toward tripping
/// the breaker) or [`Ignore`](Outcome::Ignore).
///
/// Implemented by [`StatusClassifier`] (the default) and by any
/// `Fn(&Result<Response<B>, E>) -> Outcome` closure:
///
/// ```
/// use breakerbox::Outcome;
/// use breakerbox::http::ClassifyResponse;
/// use http::{Response, StatusCode};
///
/// // A gateway timeout is a failure; every other status is a success; errors are ignored.
/// let classify = |r: &Result<Response<()>, std::io::Error>| match r {
///     Ok(res) if res.status() == StatusCode::GATEWAY_TIMEOUT => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(_) => Outcome::Ignore,
/// };
/// let res = Response::builder().status(504).body(()).unwrap();
/// assert_eq!(classify.classify(&Ok(res)), Outcome::Failure);
/// ```
pub trait ClassifyResponse<B, E> {
    /// How `result` counts.
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome;
}

impl<B, E, F> ClassifyResponse<B, E> for F
where
    F: Fn(&Result<Response<B>, E>) -> Outcome,
{
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: a 5xx status or an error from the inner service (a transport
/// error, for a client) is a failure, every other response a success. Adjust it per status
/// or per range; a later rule wins over an earlier one.
///
/// A 503 that an inner breaker answered (see
/// [`rejection_response`](super::rejection_response)) is ignored by default: a refusal
/// of a dependency's breaker says nothing new about this route, and counting it would let
/// one open dependency trip every route that uses it. Change that with
/// [`inner_rejections`](StatusClassifier::inner_rejections). A refusal by a bulkhead or a
/// rate limit (see [`limited_response`](super::limited_response)) is always ignored: the
/// call never reached the dependency.
///
/// A cheap `Clone` (the rules are shared).
///
/// ```
/// use breakerbox::Outcome;
/// use breakerbox::http::{ClassifyResponse, StatusClassifier};
/// use http::{Response, StatusCode};
///
/// let classify = StatusClassifier::new()
///     .status(StatusCode::TOO_MANY_REQUESTS, Outcome::Failure) // upstream throttles us
///     .status(StatusCode::NOT_IMPLEMENTED, Outcome::Ignore) // not a health signal
///     .range(400..=499, Outcome::Ignore); // client errors say nothing about the service
///
/// let status = |code: u16| {
///     let res = Response::builder().status(code).body(()).unwrap();
///     classify.classify(&Ok::<_, ()>(res))
/// };
/// assert_eq!(status(200), Outcome::Success);
/// assert_eq!(status(404), Outcome::Ignore);
/// assert_eq!(status(503), Outcome::Failure);
/// assert_eq!(status(501), Outcome::Ignore);
/// assert_eq!(classify.classify(&Err::<Response<()>, _>("connection refused")), Outcome::Failure);
/// ```
#[derive(Debug, Clone)]
pub struct StatusClassifier {
    rules: Arc<[(RangeInclusive<u16>, Outcome)]>,
    errors: Outcome,
    inner_rejections: Outcome,
}

impl Default for StatusClassifier {
    fn default() -> Self {
        StatusClassifier::new()
    }
}

impl StatusClassifier {
    /// 5xx and errors are failures; everything else is a success.
    pub fn new() -> Self {
        StatusClassifier {
            rules: Arc::new([(500..=599, Outcome::Failure)]),
            errors: Outcome::Failure,
            inner_rejections: Outcome::Ignore,
        }
    }

    /// Classifies `status` as `outcome`, overriding earlier rules.
    #[must_use]
    pub fn status(self, status: StatusCode, outcome: Outcome) -> Self {
        let code = status.as_u16();
        self.range(code..=code, outcome)
    }

    /// Classifies every status in `codes` (e.g. `400..=499`) as `outcome`, overriding
    /// earlier rules.
    #[must_use]
    pub fn range(self, codes: RangeInclusive<u16>, outcome: Outcome) -> Self {
        let mut rules = self.rules.to_vec();
        rules.push((codes, outcome));
        StatusClassifier {
            rules: rules.into(),
            ..self
        }
    }

    /// How an error of the inner service counts (default: failure).
    #[must_use]
    pub fn errors(mut self, outcome: Outcome) -> Self {
        self.errors = outcome;
        self
    }

    /// How a rejection by an inner breaker counts (default: ignored).
    #[must_use]
    pub fn inner_rejections(mut self, outcome: Outcome) -> Self {
        self.inner_rejections = outcome;
        self
    }

    /// How a response with `status` counts.
    pub fn classify_status(&self, status: StatusCode) -> Outcome {
        let code = status.as_u16();
        self.rules
            .iter()
            .rev()
            .find(|(range, _)| range.contains(&code))
            .map_or(Outcome::Success, |(_, outcome)| *outcome)
    }
}

impl<B, E> ClassifyResponse<B, E> for StatusClassifier {
    fn classify(&self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(res) if res.extensions().get::<Limited>().is_some() => Outcome::Ignore,
            Ok(res) if res.extensions().get::<BreakerOpen>().is_some() => self.inner_rejections,
            Ok(res) => self.classify_status(res.status()),
            Err(_) => self.errors,
        }
    }
}
