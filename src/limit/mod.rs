//! Limits that compose with a breaker (feature `limit`): a [`Bulkhead`] caps the calls in
//! flight to a dependency, a [`RateLimit`] caps the calls per second. Either refuses a call
//! at once with a [`Limited`](crate::Limited) error (as `CallError::Limited`), never queues
//! it, and a refusal is not a dependency failure: wrap the breaker's call, so a refused call
//! never reaches the breaker.
//!
//! ```
//! use breakerbox::limit::{Bulkhead, RateLimit};
//! use breakerbox::{CallError, CircuitBreaker, Config};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let rpc = CircuitBreaker::builder("solana-rpc").config(Config::rpc()).build()?;
//! let slots = Bulkhead::new("solana-rpc", 16)?; // at most 16 calls in flight
//! let api = RateLimit::per_second("price-api", 10, 20)?; // 10/s on average, bursts of 20
//!
//! let sig: Result<&str, CallError<String>> =
//!     slots.call(rpc.call(async { Ok("5xq...") })).await;
//! assert_eq!(sig, Ok("5xq..."));
//! let price: Result<u64, CallError<String>> = api.call(async { Ok(142) }).await;
//! assert_eq!(price, Ok(142));
//! # Ok::<(), breakerbox::BuildError>(())
//! # }).unwrap();
//! ```
//!
//! Observability follows the breakers' contract (`docs/METRICS.md`), labelled `breaker`
//! with the limit's name: `breakerbox_limit_rejections_total{reason}`,
//! `breakerbox_bulkhead_in_use`, `breakerbox_bulkhead_max_concurrent`,
//! `breakerbox_rate_limit_per_second`; a refused call is a short `breakerbox.call` span
//! with `breakerbox.outcome` and `error.type` set to the reason. With the `axum` feature a
//! full bulkhead answers 503 and a rate limit 429 with `Retry-After`; with `tower`,
//! `LimitLayer` guards routes the same way.

mod bulkhead;
#[cfg(feature = "tower")]
mod layer;
mod observe;
mod rate;

pub use bulkhead::{Bulkhead, BulkheadPermit};
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub use layer::{LimitFuture, LimitLayer, LimitService};
pub use rate::{RateLimit, RateLimitBuilder};
