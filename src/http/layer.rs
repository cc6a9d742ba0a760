//! The tower layer.

use tower::Layer;

use super::classify::StatusClassifier;
use super::keyed::KeyedBreakers;
use super::service::CircuitBreakerService;
use crate::breaker::CircuitBreaker;

/// Guards a service with a circuit breaker: one for every request
/// ([`new`](CircuitBreakerLayer::new)) or one per route or key
/// (`per_route` with the `axum` feature, [`keyed`](CircuitBreakerLayer::keyed)).
/// Responses are classified by a [`StatusClassifier`] (5xx and errors are failures) unless
/// you set another [`classifier`](CircuitBreakerLayer::classifier).
///
/// A rejected request gets a 503 response with `Retry-After` and a problem+json body; see
/// [`CircuitBreakerService`] for the details. A cheap `Clone`: clones share the breakers.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{Router, routing::get};
/// use breakerbox::http::CircuitBreakerLayer;
/// use breakerbox::{Config, Registry};
///
/// let registry = Registry::new();
/// let routes = ["/users/{id}", "/orders"];
/// let app: Router = Router::new()
///     .route(routes[0], get(|| async { "user" }))
///     .route(routes[1], get(|| async { "orders" }))
///     // one breaker per route template: `http:/users/{id}`, `http:/orders`, with the
///     // edge preset (no slow-call trip: slowness is the dependencies' breakers' call),
///     // registered now so health and metrics list them before the first request
///     .layer(CircuitBreakerLayer::per_route(&registry, Config::edge()).preregister(routes));
/// assert_eq!(registry.names(), ["http:/orders", "http:/users/{id}"]);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<P = CircuitBreaker, C = StatusClassifier> {
    picker: P,
    classifier: C,
    hide_names: bool,
}

impl CircuitBreakerLayer {
    /// Every request goes through `breaker`.
    pub fn new(breaker: CircuitBreaker) -> Self {
        CircuitBreakerLayer {
            picker: breaker,
            classifier: StatusClassifier::new(),
            hide_names: false,
        }
    }
}

impl<K> CircuitBreakerLayer<KeyedBreakers<K>> {
    /// Each request goes through the breaker of its key; see [`KeyedBreakers`].
    pub fn keyed(breakers: KeyedBreakers<K>) -> Self {
        CircuitBreakerLayer {
            picker: breakers,
            classifier: StatusClassifier::new(),
            hide_names: false,
        }
    }
}

impl<K, C> CircuitBreakerLayer<KeyedBreakers<K>, C> {
    /// Registers the breakers of `keys` (for `per_route`: the route templates, as given to
    /// `Router::route`) now, so health and metrics list every route before its first
    /// request. See [`KeyedBreakers::preregister`].
    #[must_use]
    pub fn preregister<I>(self, keys: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.picker.preregister(keys);
        self
    }
}

impl<P, C> CircuitBreakerLayer<P, C> {
    /// Classifies responses with `classifier` instead.
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<P, C2> {
        CircuitBreakerLayer {
            picker: self.picker,
            classifier,
            hide_names: self.hide_names,
        }
    }

    /// Leaves the breaker's name and state out of rejection bodies (default: shown), for
    /// public APIs whose clients should not learn internal dependency names: the body
    /// is [`anonymous_rejection_response`](super::anonymous_rejection_response)'s. Status,
    /// `Retry-After`, metrics, spans and logs are unchanged.
    #[must_use]
    pub fn hide_breaker_names(mut self) -> Self {
        self.hide_names = true;
        self
    }

    /// The breaker (or the keyed family) the layer uses.
    pub fn breakers(&self) -> &P {
        &self.picker
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for CircuitBreakerLayer<P, C> {
    type Service = CircuitBreakerService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.picker.clone(), self.classifier.clone())
            .hide_breaker_names(self.hide_names)
    }
}
