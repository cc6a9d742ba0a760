//! Which breaker an upstream request goes through: by default one per origin (scheme,
//! host and port), or a key of your own.

use ::reqwest::Request;
use url::{Position, Url};

/// Extracts the key of an upstream request: the requests of one key share one breaker.
/// `None` means "not guarded": the request goes through as if the middleware were not
/// there.
///
/// Implemented by [`Origin`] (the default) and by any `Fn(&reqwest::Request) -> Option<K>`
/// closure where `K: AsRef<str>`:
///
/// ```
/// use breakerbox::reqwest::UpstreamKey;
///
/// // One breaker per host name, whatever the scheme and port.
/// let by_host = |req: &reqwest::Request| req.url().host_str().map(str::to_owned);
/// let req = reqwest::Request::new(reqwest::Method::GET, "https://prices.example:8443/q".parse().unwrap());
/// assert_eq!(by_host.with_key(&req, |k| k.map(str::to_owned)).as_deref(), Some("prices.example"));
/// ```
pub trait UpstreamKey {
    /// Calls `f` with the key of `req`.
    fn with_key<R>(&self, req: &Request, f: impl FnOnce(Option<&str>) -> R) -> R;
}

impl<F, K> UpstreamKey for F
where
    F: Fn(&Request) -> Option<K>,
    K: AsRef<str>,
{
    fn with_key<R>(&self, req: &Request, f: impl FnOnce(Option<&str>) -> R) -> R {
        let key = self(req);
        f(key.as_ref().map(AsRef::as_ref))
    }
}

/// The default key: the request's origin, `scheme://host[:port]` (the port only when it
/// is not the scheme's default, as URLs are normalized), e.g. `https://api.stripe.com`.
/// Without user info in the URL the key is a slice of it: looking the breaker up does
/// not allocate. A URL with a user name or password is keyed without them (that one
/// allocates), so credentials never reach a breaker name, a metric or a log.
///
/// ```
/// use breakerbox::reqwest::{Origin, UpstreamKey};
///
/// let key = |url: &str| {
///     let req = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
///     Origin.with_key(&req, |k| k.map(str::to_owned))
/// };
/// assert_eq!(key("https://api.example/v1/quotes?s=X").as_deref(), Some("https://api.example"));
/// assert_eq!(key("http://127.0.0.1:8080/").as_deref(), Some("http://127.0.0.1:8080"));
/// assert_eq!(key("https://user:pw@api.example:443/").as_deref(), Some("https://api.example"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin;

impl UpstreamKey for Origin {
    fn with_key<R>(&self, req: &Request, f: impl FnOnce(Option<&str>) -> R) -> R {
        let url = req.url();
        if url.host_str().is_none() {
            return f(None);
        }
        if !has_credentials(url) {
            return f(Some(&url[..Position::AfterPort]));
        }
        let origin = format!(
            "{}://{}",
            url.scheme(),
            &url[Position::BeforeHost..Position::AfterPort]
        );
        f(Some(&origin))
    }
}

fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}
