//! The rejection of a gRPC request: a trailers-only response with status `UNAVAILABLE`
//! and gRPC's retry pushback, instead of an HTTP 503 a gRPC client cannot read.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};

use crate::error::BreakerOpen;
use crate::state::State;

/// The header of gRPC's status code.
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The header of gRPC's status message (percent-encoded).
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// gRPC's retry pushback (proposal A6): how many milliseconds a client should wait before
/// retrying; a negative value asks it not to retry at all.
pub const GRPC_RETRY_PUSHBACK_MS: HeaderName = HeaderName::from_static("grpc-retry-pushback-ms");

/// gRPC's `UNAVAILABLE` status code.
const UNAVAILABLE: &str = "14";

/// Whether `req` is a gRPC request: its `content-type` is `application/grpc` or one of its
/// subtypes (`application/grpc+proto`, `application/grpc-web`, ...).
pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The pushback for a rejection, in milliseconds: the remaining open time rounded up (at
/// least 1), 1000 for a half-open breaker whose trial slots are all busy, and -1 (do not
/// retry) for a breaker forced open without a TTL.
///
/// ```
/// use breakerbox::CircuitBreaker;
/// use breakerbox::http::grpc_pushback_ms;
/// use std::time::Duration;
///
/// let b = CircuitBreaker::new("prices");
/// b.force_open_for(Duration::from_millis(1500));
/// assert_eq!(grpc_pushback_ms(&b.try_acquire().unwrap_err()), 1500);
/// b.force_open();
/// assert_eq!(grpc_pushback_ms(&b.try_acquire().unwrap_err()), -1);
/// ```
pub fn grpc_pushback_ms(open: &BreakerOpen) -> i64 {
    match (open.retry_after(), open.state()) {
        (Some(d), _) => {
            let ms = d.as_nanos().div_ceil(1_000_000).max(1);
            i64::try_from(ms).unwrap_or(i64::MAX)
        }
        (None, State::ForcedOpen) => -1,
        (None, _) => 1000,
    }
}

/// The answer to a rejected gRPC request: HTTP 200 with a trailers-only gRPC response,
/// `grpc-status: 14` (`UNAVAILABLE`), a `grpc-message` naming the breaker (or not, with
/// `anonymous`) and `grpc-retry-pushback-ms` (see [`grpc_pushback_ms`]). The
/// [`BreakerOpen`] is in the extensions, as in
/// [`rejection_response`](super::rejection_response).
///
/// ```
/// use breakerbox::CircuitBreaker;
/// use breakerbox::http::grpc_rejection_response;
///
/// let b = CircuitBreaker::new("ledger");
/// b.force_open();
/// let res = grpc_rejection_response(&b.try_acquire().unwrap_err(), false);
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.headers()["grpc-status"], "14");
/// assert_eq!(res.headers()["grpc-retry-pushback-ms"], "-1");
/// assert_eq!(res.headers()["grpc-message"], "circuit breaker `ledger` is forced_open");
/// ```
pub fn grpc_rejection_response(open: &BreakerOpen, anonymous: bool) -> Response<Bytes> {
    let message = if anonymous {
        "service temporarily unavailable".to_owned()
    } else {
        format!(
            "circuit breaker `{}` is {}",
            open.name(),
            open.state().as_str()
        )
    };
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(GRPC_STATUS, HeaderValue::from_static(UNAVAILABLE));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(&message)) {
        headers.insert(GRPC_MESSAGE, v);
    }
    headers.insert(
        GRPC_RETRY_PUSHBACK_MS,
        HeaderValue::from(grpc_pushback_ms(open)),
    );
    res.extensions_mut().insert(open.clone());
    res
}

/// gRPC's percent-encoding of a status message: every byte outside printable ASCII, and
/// `%` itself, as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_percent_encodes_non_printable_bytes_and_percent() {
        assert_eq!(percent_encode("a b`c"), "a b`c");
        assert_eq!(percent_encode("50%\n"), "50%25%0A");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn only_grpc_content_types_are_grpc() {
        let req = |ct: &str| {
            Request::post("/")
                .header(CONTENT_TYPE, ct)
                .body(())
                .unwrap()
        };
        assert!(is_grpc(&req("application/grpc")));
        assert!(is_grpc(&req("application/grpc+proto")));
        assert!(!is_grpc(&req("application/json")));
        assert!(!is_grpc(&Request::get("/").body(()).unwrap()));
    }
}
