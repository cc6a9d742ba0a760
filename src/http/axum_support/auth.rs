//! Bearer-token authentication of the admin routes, compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::admin::Api;

/// Proof that the request carried the admin bearer token.
pub(super) struct Admin;

impl FromRequestParts<Api> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        let expected = api.token().unwrap_or_default();
        let provided = parts.headers.get(AUTHORIZATION).and_then(bearer);
        match provided {
            Some(token) if !expected.is_empty() && token_eq(expected, token) => Ok(Admin),
            _ => {
                #[cfg(feature = "tracing")]
                tracing::warn!(
                    target: "breakerbox::admin",
                    path = parts.uri.path(),
                    "admin request refused: missing or invalid bearer token"
                );
                let bearer = [(WWW_AUTHENTICATE, "Bearer")];
                Err((StatusCode::UNAUTHORIZED, bearer).into_response())
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(value: &HeaderValue) -> Option<&[u8]> {
    let value = value.as_bytes();
    let space = value.iter().position(|&c| c == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Compares in time that depends only on the expected token's length: neither on how
/// much of the token matches nor on the provided token's length.
fn token_eq(expected: &[u8], provided: &[u8]) -> bool {
    let (e, p) = (expected.len() as u64, provided.len() as u64);
    let mut same = e.ct_eq(&p);
    for (i, byte) in expected.iter().enumerate() {
        same &= byte.ct_eq(provided.get(i).unwrap_or(&0));
    }
    same.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_eq_needs_same_bytes_and_length() {
        assert!(token_eq(b"secret", b"secret"));
        assert!(!token_eq(b"secret", b"secreT"));
        assert!(!token_eq(b"secret", b"secret2"));
        assert!(!token_eq(b"secret", b"secre"));
        assert!(!token_eq(b"secret", b""));
    }

    #[test]
    fn bearer_parses_the_scheme_case_insensitively() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(bearer(&v("Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&v("bearer  abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(&v("Basic abc")), None);
        assert_eq!(bearer(&v("Bearer")), None);
        assert_eq!(bearer(&v("Bearer ")), None);
    }
}
