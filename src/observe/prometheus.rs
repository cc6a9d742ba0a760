//! Prometheus helpers for applications (feature `prometheus`): install a recorder with the
//! right histogram buckets, serve it on an address, or render it from an existing HTTP
//! server. breakerbox calls none of these itself: a library never installs a global
//! recorder.
//!
//! Install the recorder **before** building breakers: a breaker registers its metric
//! handles with the recorder in force when it is built.
//!
//! Serve `/metrics` on its own port:
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use breakerbox::{Config, Registry};
//!
//! breakerbox::observe::prometheus::install(([0, 0, 0, 0], 9000))?; // inside a Tokio runtime
//! let registry = Registry::new();
//! let db = registry.breaker("postgres", Config::database())?;
//! # Ok(()) }
//! ```
//!
//! Or render from your own server (e.g. an axum route):
//! ```
//! use breakerbox::Registry;
//! use breakerbox::observe::prometheus;
//!
//! let recorder = prometheus::builder().build_recorder();
//! let handle = recorder.handle();
//! // In an application: `prometheus::install_recorder()?` installs it globally instead.
//! let registry = metrics::with_local_recorder(&recorder, || {
//!     let registry = Registry::new();
//!     registry.breaker("postgres", breakerbox::Config::database()).unwrap();
//!     registry
//! });
//! let body = prometheus::render(&handle, &registry); // the body of GET /metrics
//! assert!(body.contains("breakerbox_state{breaker=\"postgres\",state=\"closed\"} 1"));
//! ```

use std::net::SocketAddr;

pub use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

pub use super::describe_metrics;
use super::names::CALL_DURATION_SECONDS;
use crate::Registry;

/// Bucket bounds of `breakerbox_call_duration_seconds`, in seconds: 0.5 ms to 60 s, dense
/// around the usual database, cache and API latencies and the `slow_call_duration`
/// presets (2 s, 5 s, 10 s).
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0,
    30.0, 60.0,
];

/// A [`PrometheusBuilder`] with real buckets (not a summary) for the call-duration
/// histogram, so quantiles aggregate across instances. Add your own settings (listener,
/// global labels, buckets for your metrics) before installing it.
///
/// ```
/// let recorder = breakerbox::observe::prometheus::builder().build_recorder();
/// # drop(recorder);
/// ```
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CALL_DURATION_SECONDS.to_owned()),
            DURATION_BUCKETS,
        )
        .expect("DURATION_BUCKETS is not empty")
}

/// Installs the global recorder and serves the Prometheus text format at `addr` (any
/// path), then describes every breakerbox metric.
///
/// Inside a Tokio runtime the listener runs on it; outside one, on a thread of its own.
///
/// # Errors
/// [`BuildError`] if the address cannot be bound or a global recorder is already installed.
pub fn install(addr: impl Into<SocketAddr>) -> Result<(), BuildError> {
    builder().with_http_listener(addr).install()?;
    describe_metrics();
    Ok(())
}

/// Installs the global recorder without a listener and returns the handle that renders it,
/// for serving `/metrics` from an existing server (see [`render`]). Also describes every
/// breakerbox metric.
///
/// Call [`PrometheusHandle::run_upkeep`] now and then (every few seconds) if scrapes are
/// rare, or use [`render`], which does it.
///
/// # Errors
/// [`BuildError`] if a global recorder is already installed.
pub fn install_recorder() -> Result<PrometheusHandle, BuildError> {
    let handle = builder().install_recorder()?;
    describe_metrics();
    Ok(handle)
}

/// Renders a scrape: applies elapsed timeouts and refreshes the rate gauges of every breaker
/// in `registry` (so the state and rates are true even on an idle service without the
/// eager timer), runs the recorder's upkeep and renders the Prometheus text format.
pub fn render(handle: &PrometheusHandle, registry: &Registry) -> String {
    registry.poll_timeouts();
    handle.run_upkeep();
    handle.render()
}
