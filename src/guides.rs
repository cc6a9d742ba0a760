//! The README's and the guides' Rust snippets, compiled and run as doc tests, so that
//! documentation that no longer compiles fails CI. Each guide is included under the
//! features its snippets need (`cargo test --all-features --doc` runs them all).

/// `README.md`.
#[cfg(all(feature = "prometheus", feature = "rt-tokio"))]
#[doc = include_str!("../README.md")]
pub struct Readme;

/// `docs/HTTP.md`.
#[cfg(all(feature = "axum", feature = "test-util", feature = "limit"))]
#[doc = include_str!("../docs/HTTP.md")]
pub struct Http;

/// `docs/METRICS.md`.
#[cfg(all(feature = "prometheus", feature = "rt-tokio"))]
#[doc = include_str!("../docs/METRICS.md")]
pub struct Metrics;

/// `docs/BENCHMARKS.md`.
#[doc = include_str!("../docs/BENCHMARKS.md")]
pub struct Benchmarks;

/// `docs/ALERTS.md`.
#[doc = include_str!("../docs/ALERTS.md")]
pub struct Alerts;

/// `docs/ARCHITECTURE.md`.
#[doc = include_str!("../docs/ARCHITECTURE.md")]
pub struct Architecture;

/// `docs/NOTIFY.md`.
#[cfg(all(feature = "notify-email", feature = "notify-webhook"))]
#[doc = include_str!("../docs/NOTIFY.md")]
pub struct Notify;

/// `docs/PERSISTENCE.md`.
#[cfg(all(feature = "persist", feature = "test-util"))]
#[doc = include_str!("../docs/PERSISTENCE.md")]
pub struct Persistence;

/// `docs/FLEET.md`.
#[cfg(feature = "fleet-redis")]
#[doc = include_str!("../docs/FLEET.md")]
pub struct Fleet;

/// `docs/CLIENTS.md`.
#[cfg(all(
    feature = "reqwest",
    feature = "tonic",
    feature = "axum",
    feature = "test-util"
))]
#[doc = include_str!("../docs/CLIENTS.md")]
pub struct Clients;
