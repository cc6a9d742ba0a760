//! The client layer.

use tower::Layer;

use super::classify::{ClassifyGrpc, GrpcClassifier};
use super::key::GrpcKey;
use super::service::GrpcBreakerService;
use crate::breaker::CircuitBreaker;
use crate::config::Config;
use crate::http::KeyedBreakers;
use crate::name::NameError;
use crate::registry::Registry;

/// Guards a gRPC client (a tonic `Channel`, or any tower service of HTTP requests) with
/// circuit breakers: one for the channel ([`new`](GrpcBreakerLayer::new)), or one per
/// service or per method ([`keyed`](GrpcBreakerLayer::keyed), registered as `grpc:` +
/// key, capped like the HTTP layer's [`KeyedBreakers`]). Calls are classified by their
/// gRPC status with a [`GrpcClassifier`] unless you set another
/// [`classifier`](GrpcBreakerLayer::classifier).
///
/// A cheap `Clone`: clones share the breakers.
///
/// ```
/// use breakerbox::tonic::{GrpcBreakerLayer, GrpcKey};
/// use breakerbox::{Config, Registry};
///
/// let registry = Registry::new();
/// let layer = GrpcBreakerLayer::keyed(&registry, Config::rpc(), GrpcKey::Method)?;
/// // let channel = tonic::transport::Channel::from_static("http://orders:50051").connect_lazy();
/// // let client = OrdersClient::new(tower::ServiceBuilder::new().layer(layer).service(channel));
/// # let _ = layer;
/// # Ok::<(), breakerbox::NameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GrpcBreakerLayer<P = CircuitBreaker, C = GrpcClassifier> {
    picker: P,
    classifier: C,
}

impl GrpcBreakerLayer {
    /// Every call through the channel goes through `breaker`.
    pub fn new(breaker: CircuitBreaker) -> Self {
        GrpcBreakerLayer {
            picker: breaker,
            classifier: GrpcClassifier::new(),
        }
    }
}

impl GrpcBreakerLayer<KeyedBreakers<GrpcKey>> {
    /// One breaker per service or per method (`key`), registered in `registry` as
    /// `grpc:` + key with `config`; at most 64 keys, later ones share `grpc:~overflow`.
    /// For another prefix or cap, build the [`KeyedBreakers`] yourself and use
    /// [`with_breakers`](GrpcBreakerLayer::with_breakers).
    ///
    /// # Errors
    /// Never with the default prefix; the type is [`KeyedBreakers`]'s.
    pub fn keyed(registry: &Registry, config: Config, key: GrpcKey) -> Result<Self, NameError> {
        let breakers = KeyedBreakers::builder(registry, config)
            .prefix("grpc:")
            .build(key)?;
        Ok(GrpcBreakerLayer::with_breakers(breakers))
    }

    /// Calls go through the breaker of their key in `breakers`.
    pub fn with_breakers(breakers: KeyedBreakers<GrpcKey>) -> Self {
        GrpcBreakerLayer {
            picker: breakers,
            classifier: GrpcClassifier::new(),
        }
    }
}

impl<P, C> GrpcBreakerLayer<P, C> {
    /// Classifies calls with `classifier` instead.
    pub fn classifier<C2: ClassifyGrpc>(self, classifier: C2) -> GrpcBreakerLayer<P, C2> {
        GrpcBreakerLayer {
            picker: self.picker,
            classifier,
        }
    }

    /// The breaker (or the keyed family) the layer uses.
    pub fn breakers(&self) -> &P {
        &self.picker
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for GrpcBreakerLayer<P, C> {
    type Service = GrpcBreakerService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcBreakerService::new(inner, self.picker.clone(), self.classifier.clone())
    }
}
