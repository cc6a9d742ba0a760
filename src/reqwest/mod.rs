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
//! - With `reqwest-retry`, put the breaker *inside* the retries (added to the client after
//!   the retry middleware): each attempt is a call of the host's breaker, and once it
//!   opens the retry middleware gets the rejection, which it does not retry, so the
//!   retries stop at once. *Outside* (added before it), a request counts once whatever
//!   its attempts and a rejection comes before any attempt. See `docs/CLIENTS.md`.
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
