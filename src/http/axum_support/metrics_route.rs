//! `GET /metrics` for an axum application (features `axum` and `prometheus`).

use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::observe::prometheus::{PrometheusHandle, render};
use crate::registry::Registry;

/// The media type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A router serving `GET /metrics` in the Prometheus text format from `handle` (see
/// [`prometheus::install_recorder`](crate::observe::prometheus::install_recorder)),
/// applying elapsed open timeouts of `registry`'s breakers first so an idle service's
/// gauges are true. Merge it into your application's router instead of opening another
/// port.
///
/// ```
/// use breakerbox::Registry;
/// use breakerbox::http::metrics_router;
/// use breakerbox::observe::prometheus;
///
/// let recorder = prometheus::builder().build_recorder();
/// // In an application: `let handle = prometheus::install_recorder()?;` before any breaker.
/// let handle = recorder.handle();
/// let registry = Registry::new();
/// let app: axum::Router = axum::Router::new().merge(metrics_router(handle, &registry));
/// ```
#[cfg_attr(docsrs, doc(cfg(all(feature = "axum", feature = "prometheus"))))]
pub fn metrics_router<S>(handle: PrometheusHandle, registry: &Registry) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/metrics", get(metrics))
        .with_state((handle, registry.clone()))
}

async fn metrics(State((handle, registry)): State<(PrometheusHandle, Registry)>) -> Response {
    let mut res = render(&handle, &registry).into_response();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    res
}
