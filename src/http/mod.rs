//! HTTP at the edge: a tower layer that answers 503 while a breaker is open, and (with the
//! `axum` feature) health and admin routes.
//!
//! - [`CircuitBreakerLayer`] guards a service with one breaker, or with one breaker per
//!   route (`CircuitBreakerLayer::per_route`, feature `axum`, keyed by axum's
//!   `MatchedPath`) or per key ([`KeyedBreakers`]), capped so that clients cannot grow
//!   memory or metric series.
//!   It decides in `call` and adds no backpressure. Responses are classified by a
//!   [`ClassifyResponse`]: by default [`StatusClassifier`] (5xx and errors are failures).
//! - A rejection is a response, not an error: 503, `Retry-After` (the remaining open time
//!   in seconds, rounded up, at least 1) and an `application/problem+json` body of type
//!   `CircuitBreakerOpen` naming the breaker ([`rejection_response`]). A gRPC request
//!   (`content-type: application/grpc*`) gets gRPC's answer instead: a trailers-only
//!   `UNAVAILABLE` with `grpc-retry-pushback-ms` ([`grpc_rejection_response`]). With the `axum`
//!   feature [`BreakerOpen`](crate::BreakerOpen) and [`CallError`](crate::CallError)
//!   implement `IntoResponse` the same way, so a handler can use `?` on a breaker's result.
//! - `BreakerApi` (feature `axum`): `GET /health`, and bearer-protected
//!   `POST /reset`, `/reset/{name}`, `/force-open/{name}?ttl=`, `/disable/{name}`.
//! - `metrics_router` (features `axum` and `prometheus`): `GET /metrics` on your own
//!   router.
//! - `Readiness` (feature `axum`): `GET /ready`, 503 only while a *required* breaker is
//!   open; optional dependencies (a cache with a fallback) only degrade it.
//! - For public APIs, [`CircuitBreakerLayer::hide_breaker_names`] keeps internal breaker
//!   names out of 503 bodies; a rejected request with an unread body gets
//!   `connection: close` so keep-alive clients reconnect instead of failing.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{Router, routing::get};
//! use breakerbox::http::{BreakerApi, CircuitBreakerLayer};
//! use breakerbox::{Config, Registry};
//!
//! let registry = Registry::new();
//! let app: Router = Router::new()
//!     .route("/quotes/{symbol}", get(|| async { "42" }))
//!     .layer(CircuitBreakerLayer::per_route(&registry, Config::default()))
//!     .nest("/api/circuit-breakers", BreakerApi::new(&registry).admin_token("s3cret").router());
//! # }
//! ```
//!
//! See `docs/HTTP.md` for a guide.

#[cfg(feature = "axum")]
mod axum_support;
mod classify;
mod future;
mod grpc;
mod keyed;
mod layer;
mod response;
pub(crate) mod service;

#[cfg(feature = "axum")]
pub use axum_support::*;
pub use classify::{ClassifyResponse, StatusClassifier};
pub use future::ResponseFuture;
pub use grpc::{
    GRPC_MESSAGE, GRPC_RETRY_PUSHBACK_MS, GRPC_STATUS, grpc_pushback_ms, grpc_rejection_response,
    is_grpc,
};
pub use keyed::{KeyedBreakers, KeyedBuilder, PickBreaker, Picked, RequestKey};
pub use layer::CircuitBreakerLayer;
pub use response::{
    PROBLEM_JSON, PROBLEM_TYPE, ResponseBody, anonymous_rejection_response, limited_response,
    rejection_response, retry_after_secs,
};
pub use service::CircuitBreakerService;
