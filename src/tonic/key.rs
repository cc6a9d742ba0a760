//! Which breaker a gRPC call goes through: one for the channel, or one per service or
//! per method, from the request's path (`/package.Service/Method`).

use http::Request;

use crate::http::RequestKey;

/// How a [`GrpcBreakerLayer`](super::GrpcBreakerLayer) keys calls: the key of a call to
/// `/shop.Orders/Get`. The key is a slice of the path: no allocation.
///
/// ```
/// use breakerbox::http::RequestKey;
/// use breakerbox::tonic::GrpcKey;
///
/// let req = http::Request::post("http://orders:50051/shop.Orders/Get").body(()).unwrap();
/// let key = |k: GrpcKey| k.with_key(&req, |k| k.map(str::to_owned));
/// assert_eq!(key(GrpcKey::Service).as_deref(), Some("shop.Orders"));
/// assert_eq!(key(GrpcKey::Method).as_deref(), Some("shop.Orders/Get"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcKey {
    /// One breaker per service (`shop.Orders`).
    Service,
    /// One breaker per method (`shop.Orders/Get`).
    Method,
}

impl<B> RequestKey<B> for GrpcKey {
    fn with_key<R>(&self, req: &Request<B>, f: impl FnOnce(Option<&str>) -> R) -> R {
        let path = req.uri().path().strip_prefix('/');
        let key = match self {
            GrpcKey::Method => path.filter(|p| p.contains('/')),
            GrpcKey::Service => path.and_then(|p| p.rsplit_once('/')).map(|(s, _)| s),
        };
        f(key.filter(|k| !k.is_empty()))
    }
}
