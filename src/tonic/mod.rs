//! gRPC with tonic: a client layer that classifies calls by their gRPC status, and the
//! server side's rejection in gRPC's own terms.
//!
//! - **Client**: [`GrpcBreakerLayer`] over a tonic `Channel` (any tower service of HTTP
//!   requests), with one breaker for the channel or one per service or per method
//!   ([`GrpcKey`]). A call's outcome is its `grpc-status`, read from the trailers when the
//!   response ends, classified by [`GrpcClassifier`] (the table is on its page; a closure
//!   replaces it, see [`ClassifyGrpc`]). A rejected call never reaches the channel: tonic
//!   returns `Status` `UNAVAILABLE` with the breaker's pushback in the metadata key
//!   `grpc-retry-pushback-ms`.
//! - **Server**: the tower layer of [`crate::http`]
//!   ([`CircuitBreakerLayer`](crate::http::CircuitBreakerLayer)) answers a rejected gRPC
//!   request (`content-type: application/grpc*`) with a trailers-only `UNAVAILABLE` and
//!   `grpc-retry-pushback-ms` instead of an HTTP 503
//!   ([`grpc_rejection_response`](crate::http::grpc_rejection_response)); put it on
//!   tonic's `Server::builder().layer(...)`. That needs only the `tower` feature.
//!
//! See `docs/CLIENTS.md` for a guide.

mod body;
mod classify;
mod future;
mod key;
mod layer;
mod service;

pub use body::GrpcBody;
pub use classify::{ClassifyGrpc, GrpcClassifier};
pub use future::ResponseFuture;
pub use key::GrpcKey;
pub use layer::GrpcBreakerLayer;
pub use service::GrpcBreakerService;

/// The `grpc-retry-pushback-ms` of a `Status` (milliseconds; negative: do not retry), as a
/// breaker's rejection (or a server) sent it.
///
/// ```
/// let mut status = tonic::Status::unavailable("circuit breaker `grpc:a` is open");
/// status.metadata_mut().insert("grpc-retry-pushback-ms", "1500".parse().unwrap());
/// assert_eq!(breakerbox::tonic::pushback_ms(&status), Some(1500));
/// ```
pub fn pushback_ms(status: &::tonic::Status) -> Option<i64> {
    status
        .metadata()
        .get("grpc-retry-pushback-ms")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
