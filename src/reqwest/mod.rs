//! Outbound HTTP through `reqwest`: a `reqwest-middleware` middleware with one circuit
//! breaker per upstream host.
//!
//! - [`CircuitBreakerMiddleware`] picks each request's breaker by its [`Origin`]
//!   (`scheme://host[:port]`) or a key of yours ([`UpstreamKey`]), from a capped family
//!   of breakers in a [`Registry`](crate::Registry) (the HTTP layer's
//!   [`KeyedBreakers`](crate::http::KeyedBreakers)): at most 64 upstreams by default,
//!   later ones share an overflow breaker.
//! - [`UpstreamClassifier`]: connect errors, timeouts, 5xx and 429 are failures; other 4xx
//!   are successes (the upstream answered). A closure replaces it ([`ClassifyUpstream`]).
//! - A rejection is an error, never a made-up response: [`rejection`] finds its
//!   [`BreakerOpen`] (with `retry_after`).
//! - With `reqwest-retry`: put the breaker *outside* the retries (added to the client
//!   before the retry middleware) so a rejection is not retried and a request counts once
//!   whatever its attempts; *inside* (added after it), each attempt is a call of its own,
//!   and once the breaker opens the retry middleware gets the rejection, which it does
//!   not retry. See `docs/CLIENTS.md`.
//!
//! ```
//! use breakerbox::reqwest::{CircuitBreakerMiddleware, rejection};
//! use breakerbox::Registry;
//!
//! # async fn run() -> Result<(), reqwest_middleware::Error> {
//! let registry = Registry::new();
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(CircuitBreakerMiddleware::new(&registry))
//!     .build();
//! match client.get("http://127.0.0.1:9/quote").send().await {
//!     Ok(res) => println!("{}", res.status()),
//!     Err(e) => match rejection(&e) {
//!         Some(open) => println!("{open}; retry in {:?}", open.retry_after()),
//!         None => println!("upstream failed: {e}"),
//!     },
//! }
//! # Ok(())
//! # }
//! ```

mod classify;
mod key;
mod middleware;

pub use classify::{ClassifyUpstream, UpstreamClassifier, UpstreamResult};
pub use key::{Origin, UpstreamKey};
pub use middleware::{CircuitBreakerMiddleware, MiddlewareBuilder};

use crate::error::BreakerOpen;

/// The [`BreakerOpen`] of a request a breaker rejected, if `err` is one; also when
/// another middleware (e.g. `reqwest-retry`) wrapped the rejection.
///
/// ```
/// use breakerbox::reqwest::rejection;
///
/// let err = reqwest_middleware::Error::Middleware(anyhow::anyhow!("not a rejection"));
/// assert!(rejection(&err).is_none());
/// ```
pub fn rejection(err: &reqwest_middleware::Error) -> Option<&BreakerOpen> {
    match err {
        reqwest_middleware::Error::Middleware(e) => {
            e.chain().find_map(|e| e.downcast_ref::<BreakerOpen>())
        }
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}
