//! A readiness route that tells an orchestrator whether to send traffic, ignoring the
//! optional dependencies the service can degrade without.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::health::is_open;
use crate::registry::Registry;

/// `GET /ready`: `200` while no *required* breaker is open or forced open, else `503`.
///
/// A breaker marked [`optional`](Readiness::optional) (a cache with a fallback, a
/// best-effort enrichment API) never makes the service unready: its being open is
/// reported under `degraded`. Taking a replica out of rotation because its cache is down
/// would only move the load to replicas with the same cache.
///
/// ```json
/// {"ready":true,"open":[],"degraded":["redis"]}
/// ```
///
/// ```
/// use breakerbox::http::Readiness;
/// use breakerbox::{Config, Registry};
///
/// let registry = Registry::new();
/// registry.breaker("postgres", Config::database())?;
/// registry.breaker("redis", Config::cache())?;
/// let app: axum::Router = axum::Router::new()
///     .merge(Readiness::new(&registry).optional("redis").router());
/// # Ok::<(), breakerbox::RegistryError>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Debug, Clone)]
pub struct Readiness {
    registry: Registry,
    optional: Arc<BTreeSet<String>>,
}

/// The body of `GET /ready`.
#[derive(Debug, Serialize)]
struct Ready {
    ready: bool,
    /// Required breakers that are open or forced open.
    open: Vec<String>,
    /// Optional breakers that are open or forced open.
    degraded: Vec<String>,
}

impl Readiness {
    /// Readiness over every breaker of `registry`; each one is required unless marked
    /// optional. Breakers registered later are included.
    pub fn new(registry: &Registry) -> Self {
        Readiness {
            registry: registry.clone(),
            optional: Arc::default(),
        }
    }

    /// Marks the breaker `name` optional: open, it degrades the service but does not make
    /// it unready.
    #[must_use]
    pub fn optional(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.optional).insert(name.into());
        self
    }

    /// Whether the service is ready now, with the open required and optional breakers.
    fn check(&self) -> Ready {
        let (mut open, mut degraded) = (Vec::new(), Vec::new());
        for s in self.registry.snapshot_all() {
            if !is_open(s.state) {
                continue;
            }
            match self.optional.contains(&*s.name) {
                true => degraded.push(s.name.to_string()),
                false => open.push(s.name.to_string()),
            }
        }
        Ready {
            ready: open.is_empty(),
            open,
            degraded,
        }
    }

    /// The router with `GET /ready`. Mount it where your orchestrator probes.
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new().route("/ready", get(ready)).with_state(self)
    }
}

async fn ready(State(r): State<Readiness>) -> Response {
    r.registry.poll_timeouts();
    let body = r.check();
    let status = match body.ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}
