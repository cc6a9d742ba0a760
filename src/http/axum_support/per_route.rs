//! One breaker per axum route: the request key from `MatchedPath`, and
//! `CircuitBreakerLayer::per_route`.

use axum::extract::MatchedPath;
use http::Request;

use crate::config::Config;
use crate::http::{CircuitBreakerLayer, KeyedBreakers, RequestKey};
use crate::registry::Registry;

/// Keys a request by the route template axum matched (`/users/{id}`, not `/users/7`), so
/// the number of keys is bounded by the number of routes. Requests that matched no route
/// are not guarded.
///
/// axum inserts the matched path before a layer added with `Router::layer` or
/// `Router::route_layer` runs.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchedPathKey;

impl<B> RequestKey<B> for MatchedPathKey {
    fn with_key<R>(&self, req: &Request<B>, f: impl FnOnce(Option<&str>) -> R) -> R {
        let path = req.extensions().get::<MatchedPath>();
        f(path.map(MatchedPath::as_str))
    }
}

impl CircuitBreakerLayer<KeyedBreakers<MatchedPathKey>> {
    /// One breaker per axum route template (from `MatchedPath`), named `http:` + the
    /// template and registered in `registry`, with at most 64 routes (more share the
    /// `http:~overflow` breaker). Requests that match no route are not guarded. Use
    /// [`KeyedBreakers::builder`] and [`keyed`](CircuitBreakerLayer::keyed) to change the
    /// prefix or the cap.
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn per_route(registry: &Registry, config: Config) -> Self {
        let builder = KeyedBreakers::builder(registry, config);
        Self::keyed(builder.build_unchecked(MatchedPathKey))
    }
}
