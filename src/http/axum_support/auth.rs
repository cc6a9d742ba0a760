//! Bearer-token authentication of the admin routes, compared in constant time.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// The bearer token admin routes accept, taken from a router's state through `FromRef`
/// (so any router whose state yields one can require [`Admin`]); none refuses every
/// request.
#[derive(Debug, Clone, Default)]
pub(super) struct AdminToken(pub(super) Option<Arc<[u8]>>);

/// Proof that the request carried the admin bearer token.
pub(super) struct Admin;

impl<S> FromRequestParts<S> for Admin
where
    AdminToken: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let token = AdminToken::from_ref(state);
        let expected = token.0.as_deref().unwrap_or_default();
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
