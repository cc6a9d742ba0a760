//! The rejection as an HTTP response: 503, `Retry-After` and an RFC 9457
//! `application/problem+json` body; and the response body type of the layer.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::BreakerOpen;
use crate::limited::{LimitReason, Limited};
use crate::state::State;

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

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
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
    let body = if anonymous {
        anonymous_body(retry)
    } else {
        problem_body(open, retry)
    };
    let mut res = Response::new(Bytes::from(body));
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = retry {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    res.extensions_mut().insert(open.clone());
    res
}

fn problem_body(open: &BreakerOpen, retry: Option<u64>) -> String {
    let name = json_string(open.name());
    let state = open.state().as_str();
    let (detail_retry, retry_json) = match retry {
        Some(s) => (format!("; retry after {s}s"), s.to_string()),
        None => (String::new(), "null".to_owned()),
    };
    let detail = json_string(&format!(
        "circuit breaker `{}` is {state}{detail_retry}",
        open.name()
    ));
    format!(
        concat!(
            r#"{{"type":"{}","title":"Circuit breaker open","status":503,"detail":{},"#,
            r#""breaker":{},"state":"{}","retry_after":{}}}"#
        ),
        PROBLEM_TYPE, detail, name, state, retry_json
    )
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
    let body = format!(
        r#"{{"type":"{kind}","title":"{title}","status":{},"detail":{},"breaker":{},"retry_after":{}}}"#,
        status.as_u16(),
        json_string(&limited.to_string()),
        json_string(limited.name()),
        retry.map_or("null".to_owned(), |s| s.to_string()),
    );
    let mut res = Response::new(Bytes::from(body));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = retry {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    res.extensions_mut().insert(limited.clone());
    res
}

fn anonymous_body(retry: Option<u64>) -> String {
    let (detail_retry, retry_json) = match retry {
        Some(s) => (format!("; retry after {s}s"), s.to_string()),
        None => (String::new(), "null".to_owned()),
    };
    format!(
        concat!(
            r#"{{"type":"{}","title":"Circuit breaker open","status":503,"#,
            r#""detail":"service temporarily unavailable{}","retry_after":{}}}"#
        ),
        PROBLEM_TYPE, detail_retry, retry_json
    )
}

/// `s` as a JSON string literal, quotes included.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
    fn ceil_secs_saturates_at_duration_max() {
        assert_eq!(ceil_secs(Duration::MAX), u64::MAX);
        assert_eq!(ceil_secs(Duration::from_millis(1500)), 2);
    }
}
