//! `CallError` composes: `map_inner`, `into_inner`, and an error chain that names each
//! error once.

use std::error::Error;
use std::fmt;

use breakerbox::{CallError, CircuitBreaker};

#[derive(Debug)]
struct Query {
    cause: std::io::Error,
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}

impl Error for Query {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

/// What an error reporter prints: each error of the chain, in order.
fn chain(e: &dyn Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s.to_string());
        next = s.source();
    }
    out
}

#[test]
fn a_reporter_prints_each_error_of_the_chain_once() {
    let e: CallError<Query> = CallError::Inner(Query {
        cause: std::io::Error::other("connection reset"),
    });
    assert_eq!(chain(&e), ["query failed", "connection reset"]);

    let b = CircuitBreaker::new("postgres");
    b.force_open();
    let open = b.try_acquire().unwrap_err();
    let e: CallError<Query> = CallError::Rejected(open);
    assert_eq!(chain(&e), ["circuit breaker `postgres` is forced_open"]);
}

#[test]
fn map_inner_and_into_inner_keep_rejections() {
    let b = CircuitBreaker::new("postgres");
    b.force_open();
    let open = b.try_acquire().unwrap_err();
    let rejected: CallError<&str> = CallError::Rejected(open.clone());
    assert_eq!(
        rejected.clone().map_inner(str::len),
        CallError::Rejected(open)
    );
    assert_eq!(rejected.breaker(), Some("postgres"));
    assert_eq!(rejected.into_inner(), None);
    let inner: CallError<&str> = CallError::Inner("boom");
    assert_eq!(inner.clone().map_inner(str::len), CallError::Inner(4));
    assert_eq!(inner.breaker(), None);
    assert_eq!(inner.into_inner(), Some("boom"));
}
