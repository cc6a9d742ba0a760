//! The rejection as an HTTP response: 503, `Retry-After` and an RFC 9457
//! `application/problem+json` body; and the response body type of the layer.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde::Serialize;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::BreakerOpen;
use crate::limited::{LimitReason, Limited};
use crate::state::State;
use crate::time::ceil_secs;

/// The problem type of a rejection, in the `type` member of the body.
pub const PROBLEM_TYPE: &str = "CircuitBreakerOpen";

/// The media type of the rejection body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `Retry-After` value for a rejection, in whole seconds: the remaining open time
/// rounded up, at least 1. A half-open breaker with every trial slot busy says 1. `None`
/// for a breaker forced open without a TTL (nobody knows when it will admit calls).
///
/// ```
/// use breakerbox::{CircuitBreaker, Config};
/// use breakerbox::http::retry_after_secs;
/// use std::time::Duration;
///
/// let b = CircuitBreaker::new("api");
/// b.force_open_for(Duration::from_millis(1500));
/// let open = b.try_acquire().unwrap_err();
/// assert_eq!(retry_after_secs(&open), Some(2));
/// b.force_open();
/// assert_eq!(retry_after_secs(&b.try_acquire().unwrap_err()), None);
/// ```
pub fn retry_after_secs(open: &BreakerOpen) -> Option<u64> {
    match (open.retry_after(), open.state()) {
        (Some(d), _) => Some(ceil_secs(d).max(1)),
        (None, State::ForcedOpen) => None,
        (None, _) => Some(1),
    }
}

/// The rejection response: `503 Service Unavailable`, a `Retry-After` header (see
/// [`retry_after_secs`]) and an `application/problem+json` body naming the breaker:
///
/// ```json
/// {"type":"CircuitBreakerOpen","title":"Circuit breaker open","status":503,
///  "detail":"circuit breaker `postgres` is open; retry after 30s",
///  "breaker":"postgres","state":"open","retry_after":30}
/// ```
///
/// The response carries the [`BreakerOpen`] in its extensions, so that an outer layer's
/// [`StatusClassifier`](super::StatusClassifier) can tell an inner breaker's refusal from
/// a failure. The layer answers with this; use it to build your own integration.
pub fn rejection_response(open: &BreakerOpen) -> Response<Bytes> {
    rejection(open, false)
}

/// [`rejection_response`] without the breaker's name and state in the body, for public
/// endpoints whose clients should not learn the service's internal dependency names:
///
/// ```json
/// {"type":"CircuitBreakerOpen","title":"Circuit breaker open","status":503,
///  "detail":"service temporarily unavailable; retry after 30s","retry_after":30}
/// ```
///
/// The status, `Retry-After` and the [`BreakerOpen`] in the extensions (never sent) are
/// as in [`rejection_response`]; metrics, spans and logs still name the breaker.
pub fn anonymous_rejection_response(open: &BreakerOpen) -> Response<Bytes> {
    rejection(open, true)
}

fn rejection(open: &BreakerOpen, anonymous: bool) -> Response<Bytes> {
    let retry = retry_after_secs(open);
    let retry_detail = retry.map_or_else(String::new, |s| format!("; retry after {s}s"));
    let state = open.state().as_str();
    let detail = if anonymous {
        format!("service temporarily unavailable{retry_detail}")
    } else {
        format!("circuit breaker `{}` is {state}{retry_detail}", open.name())
    };
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let mut problem = Problem::new(PROBLEM_TYPE, "Circuit breaker open", status, &detail);
    if !anonymous {
        problem = problem.breaker(open.name()).state(state);
    }
    let mut res = problem.retry_after(retry).response();
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut().insert(open.clone());
    res
}

/// The response to a call refused by a bulkhead or a rate limit: `503 Service
/// Unavailable` for a full bulkhead, `429 Too Many Requests` with `Retry-After` for a rate
/// limit, and an `application/problem+json` body of type `BulkheadFull` or `RateLimited`
/// naming the limit. The [`Limited`] is in the extensions.
pub fn limited_response(limited: &Limited) -> Response<Bytes> {
    let (status, kind, title) = match limited.reason() {
        LimitReason::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimited",
            "Rate limit exceeded",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "BulkheadFull",
            "Too many concurrent calls",
        ),
    };
    let retry = limited.retry_after().map(|d| ceil_secs(d).max(1));
    let detail = limited.to_string();
    let mut res = Problem::new(kind, title, status, &detail)
        .breaker(limited.name())
        .retry_after(retry)
        .response();
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.extensions_mut().insert(limited.clone());
    res
}

/// An RFC 9457 `application/problem+json` document: the one builder of every problem body
/// breakerbox answers (rejections, refusals by a limit, call timeouts, admin errors).
/// Serialized with serde, so any breaker name, quotes and control characters included,
/// is escaped correctly. Members are written in the order declared; the optional ones
/// only when set.
#[derive(Debug, Serialize)]
pub(crate) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    /// Whole seconds; `Some(None)` is written as `null`: nobody knows when.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<Option<u64>>,
    #[serde(skip)]
    code: StatusCode,
}

impl<'a> Problem<'a> {
    /// A problem of type `kind` with its `title`, HTTP status and `detail`.
    pub(crate) fn new(kind: &'a str, title: &'a str, status: StatusCode, detail: &'a str) -> Self {
        Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            breaker: None,
            state: None,
            retry_after: None,
            code: status,
        }
    }

    /// Adds the `breaker` member: the breaker's (or limit's) name.
    pub(crate) fn breaker(mut self, name: &'a str) -> Self {
        self.breaker = Some(name);
        self
    }

    /// Adds the `state` member.
    pub(crate) fn state(mut self, state: &'a str) -> Self {
        self.state = Some(state);
        self
    }

    /// Adds the `retry_after` member (whole seconds) and, when known, the `Retry-After`
    /// header of the [`response`](Problem::response).
    pub(crate) fn retry_after(mut self, secs: Option<u64>) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Bytes {
        // Serializing strings and numbers cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The response: the status, `content-type: application/problem+json`, `Retry-After`
    /// if set, and the body.
    pub(crate) fn response(&self) -> Response<Bytes> {
        let mut res = Response::new(self.body());
        *res.status_mut() = self.code;
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(Some(secs)) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

pin_project! {
    /// The response body of a guarded service: the inner service's body, or the
    /// rejection's problem+json body.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { data: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    /// Wraps the inner service's body.
    pub fn new(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }

    /// A body of `data` in one frame.
    pub fn full(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        ResponseBody {
            kind: Kind::Full { data },
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { .. } => f.write_str("ResponseBody::Inner"),
            Kind::Full { data } => f.debug_tuple("ResponseBody::Full").field(data).finish(),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d.into())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_members_keep_their_order_and_optional_ones_are_left_out() {
        let p = Problem::new("T", "Title", StatusCode::NOT_FOUND, "d");
        assert_eq!(
            p.body(),
            r#"{"type":"T","title":"Title","status":404,"detail":"d"}"#
        );
        let p = p.breaker("b").state("open").retry_after(None);
        assert_eq!(
            p.body(),
            r#"{"type":"T","title":"Title","status":404,"detail":"d","breaker":"b","state":"open","retry_after":null}"#
        );
        let res = p.retry_after(Some(7)).response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()[CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(res.headers()[RETRY_AFTER], "7");
    }
}
