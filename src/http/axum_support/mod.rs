//! Everything of the HTTP edge that needs axum (feature `axum`), in one gated module: the
//! per-route key and layer, the health, admin, readiness and metrics routes, and the
//! `IntoResponse` impls of the errors. The tower layer around it needs tower only.

mod admin;
mod auth;
mod health;
mod into_response;
#[cfg(feature = "prometheus")]
mod metrics_route;
mod per_route;
mod readiness;

pub use admin::BreakerApi;
#[cfg(feature = "prometheus")]
pub use metrics_route::metrics_router;
pub use per_route::MatchedPathKey;
pub use readiness::Readiness;
