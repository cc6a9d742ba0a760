//! Choosing the breaker for a request: one breaker for everything, or one per key (route)
//! with a cap on the number of keys.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use http::Request;

use crate::breaker::{CircuitBreaker, OwnedPermit};
use crate::config::Config;
use crate::error::{BreakerOpen, RegistryError};
use crate::name::{MAX_NAME_LEN, NameError, allowed_chars};
use crate::registry::Registry;

/// How a [`CircuitBreakerLayer`](super::CircuitBreakerLayer) picks the breaker that guards
/// a request.
///
/// Implemented by [`CircuitBreaker`] (one breaker guards every request) and by
/// [`KeyedBreakers`] (one breaker per key, e.g. per route).
pub trait PickBreaker<B> {
    /// Picks the breaker for `req` and asks it for a permit.
    fn acquire(&self, req: &Request<B>) -> Picked;
}

/// What [`PickBreaker::acquire`] decided for a request.
#[derive(Debug)]
#[must_use = "an admitted request's permit records its outcome"]
pub enum Picked {
    /// No breaker guards this request (e.g. it matched no route): it goes through as if
    /// the layer were not there.
    Unguarded,
    /// The breaker admitted the request; the permit records its outcome.
    Admitted(OwnedPermit),
    /// The breaker refused the request: it gets a 503 without reaching the service.
    Rejected(BreakerOpen),
}

impl From<Result<OwnedPermit, BreakerOpen>> for Picked {
    fn from(r: Result<OwnedPermit, BreakerOpen>) -> Self {
        match r {
            Ok(permit) => Picked::Admitted(permit),
            Err(open) => Picked::Rejected(open),
        }
    }
}

impl<B> PickBreaker<B> for CircuitBreaker {
    fn acquire(&self, _req: &Request<B>) -> Picked {
        self.try_acquire_owned().into()
    }
}

/// Extracts the key of a request for [`KeyedBreakers`]. `None` means "not guarded".
///
/// Implemented by any `Fn(&Request<B>) -> Option<K>` closure where `K: AsRef<str>` (a
/// `&'static str` or a `String`), and, with the `axum` feature, by `MatchedPathKey`
/// (the route template, without allocating).
///
/// ```
/// use breakerbox::http::RequestKey;
/// use http::Request;
///
/// // One breaker per upstream host, for a client-side stack.
/// let by_host = |req: &Request<()>| req.uri().host().map(str::to_owned);
/// let req = Request::get("http://prices.example/quote").body(()).unwrap();
/// assert_eq!(by_host.with_key(&req, |k| k.map(str::to_owned)).as_deref(), Some("prices.example"));
/// ```
pub trait RequestKey<B> {
    /// Calls `f` with the key of `req`.
    fn with_key<R>(&self, req: &Request<B>, f: impl FnOnce(Option<&str>) -> R) -> R;
}

impl<B, F, K> RequestKey<B> for F
where
    F: Fn(&Request<B>) -> Option<K>,
    K: AsRef<str>,
{
    fn with_key<R>(&self, req: &Request<B>, f: impl FnOnce(Option<&str>) -> R) -> R {
        let key = self(req);
        f(key.as_ref().map(AsRef::as_ref))
    }
}

/// One breaker per key (e.g. per route), registered in a [`Registry`] as `prefix + key`,
/// all with the same config. At most `max_keys` keys get their own breaker; later keys
/// share one overflow breaker (`prefix + overflow_key`), so memory and metric series stay
/// bounded whatever the clients send. A key that would make a name longer than
/// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes, or that holds a backslash (which a name
/// may not: see [`NameError`]), also goes to the overflow breaker.
///
/// A cheap `Clone`: clones share the breakers.
///
/// ```
/// use breakerbox::http::KeyedBreakers;
/// use breakerbox::{Config, Registry};
///
/// let registry = Registry::new();
/// let by_tenant = |req: &http::Request<()>| {
///     req.headers().get("x-tenant").and_then(|v| v.to_str().ok()).map(str::to_owned)
/// };
/// let keyed = KeyedBreakers::builder(&registry, Config::external_api())
///     .prefix("tenant:")
///     .max_keys(2)
///     .build(by_tenant)?;
/// keyed.breaker_for("a");
/// keyed.breaker_for("b");
/// let c = keyed.breaker_for("c").unwrap(); // past the cap
/// assert_eq!(c.name(), "tenant:~overflow");
/// assert_eq!(registry.names(), ["tenant:a", "tenant:b", "tenant:~overflow"]);
/// # Ok::<(), breakerbox::NameError>(())
/// ```
pub struct KeyedBreakers<K> {
    inner: Arc<KeyedInner<K>>,
}

struct KeyedInner<K> {
    registry: Registry,
    config: Config,
    key: K,
    prefix: Box<str>,
    overflow_key: Box<str>,
    max_keys: usize,
    /// The keys' breakers, read without a lock (`arc-swap`'s `load`): a lookup on one key
    /// never waits for another key's lookup or registration. Copied on write, which
    /// happens at most `max_keys` times; the keys are `Arc<str>`, so a copy allocates
    /// only the table.
    map: ArcSwap<HashMap<Arc<str>, CircuitBreaker>>,
    /// Serializes registrations (not lookups).
    write: Mutex<()>,
    overflow: OnceLock<CircuitBreaker>,
}

impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        KeyedBreakers {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("prefix", &self.inner.prefix)
            .field("max_keys", &self.inner.max_keys)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// Builds [`KeyedBreakers`]; from [`KeyedBreakers::builder`].
#[derive(Debug)]
pub struct KeyedBuilder {
    registry: Registry,
    config: Config,
    prefix: String,
    overflow_key: String,
    max_keys: usize,
}

impl KeyedBuilder {
    /// The prefix of every breaker name (default `"http:"`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many keys get a breaker of their own (default 64).
    #[must_use]
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// The key of the breaker shared by keys past the cap (default `"~overflow"`).
    #[must_use]
    pub fn overflow_key(mut self, key: impl Into<String>) -> Self {
        self.overflow_key = key.into();
        self
    }

    /// Builds the family, keying requests with `key`.
    ///
    /// # Errors
    /// [`NameError`] if the overflow breaker's name (`prefix + overflow_key`) is empty,
    /// longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes or holds a backslash.
    pub fn build<K>(self, key: K) -> Result<KeyedBreakers<K>, NameError> {
        NameError::check(&format!("{}{}", self.prefix, self.overflow_key))?;
        Ok(self.build_unchecked(key))
    }

    /// Builds without checking the overflow name (for the defaults, which are valid).
    pub(crate) fn build_unchecked<K>(self, key: K) -> KeyedBreakers<K> {
        KeyedBreakers {
            inner: Arc::new(KeyedInner {
                registry: self.registry,
                config: self.config,
                key,
                prefix: self.prefix.into(),
                overflow_key: self.overflow_key.into(),
                max_keys: self.max_keys,
                map: ArcSwap::default(),
                write: Mutex::new(()),
                overflow: OnceLock::new(),
            }),
        }
    }
}

impl KeyedBreakers<()> {
    /// A builder for breakers registered in `registry` with `config`.
    pub fn builder(registry: &Registry, config: Config) -> KeyedBuilder {
        KeyedBuilder {
            registry: registry.clone(),
            config,
            prefix: "http:".to_owned(),
            overflow_key: "~overflow".to_owned(),
            max_keys: 64,
        }
    }
}

impl<K> KeyedBreakers<K> {
    /// The breaker for `key`: its own while fewer than `max_keys` keys exist, else the
    /// overflow breaker. `None` only if the registry holds a breaker of that name with
    /// another config and it was removed meanwhile.
    pub fn breaker_for(&self, key: &str) -> Option<CircuitBreaker> {
        self.breaker(key)
    }

    /// Creates the breakers of `keys` now (e.g. every route template of the router), so
    /// health, metrics and dashboards list them before their first request. Keys past the
    /// cap share the overflow breaker, as at request time.
    ///
    /// ```
    /// use breakerbox::http::KeyedBreakers;
    /// use breakerbox::{Config, Registry};
    ///
    /// let registry = Registry::new();
    /// let routes = KeyedBreakers::builder(&registry, Config::edge())
    ///     .build(|req: &http::Request<()>| Some(req.uri().path().to_owned()))?;
    /// routes.preregister(["/trade", "/quotes/{symbol}"]);
    /// assert_eq!(registry.names(), ["http:/quotes/{symbol}", "http:/trade"]);
    /// # Ok::<(), breakerbox::NameError>(())
    /// ```
    pub fn preregister<I>(&self, keys: I) -> &Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for key in keys {
            let _ = self.breaker(key.as_ref());
        }
        self
    }

    /// How many keys have a breaker of their own.
    pub fn len(&self) -> usize {
        self.inner.map.load().len()
    }

    /// Whether no key has a breaker yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The breaker that keys past the cap share, if one was needed yet.
    pub fn overflow(&self) -> Option<CircuitBreaker> {
        self.inner.overflow.get().cloned()
    }

    /// Looks the breaker up, creating it if needed. The lookup takes no lock; a
    /// registration takes the family's write lock (other lookups go on). No lock is held
    /// when this returns, so listeners run by the caller's acquire may use this family
    /// freely.
    pub(crate) fn breaker(&self, key: &str) -> Option<CircuitBreaker> {
        if let Some(b) = self.inner.map.load().get(key) {
            return Some(b.clone());
        }
        let inner = &*self.inner;
        let name_len = inner.prefix.len() + key.len();
        if name_len == 0 || name_len > MAX_NAME_LEN || !allowed_chars(key) {
            return self.overflow_breaker();
        }
        let write = inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let map = inner.map.load_full();
        if let Some(b) = map.get(key) {
            return Some(b.clone());
        }
        if map.len() >= inner.max_keys {
            drop(write);
            return self.overflow_breaker();
        }
        let b = self.register(&format!("{}{key}", inner.prefix))?;
        let mut next = HashMap::with_capacity(map.len() + 1);
        next.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        next.insert(Arc::from(key), b.clone());
        inner.map.store(Arc::new(next));
        drop(write);
        Some(b)
    }

    fn overflow_breaker(&self) -> Option<CircuitBreaker> {
        if let Some(b) = self.inner.overflow.get() {
            return Some(b.clone());
        }
        let name = format!("{}{}", self.inner.prefix, self.inner.overflow_key);
        let b = self.register(&name)?;
        Some(self.inner.overflow.get_or_init(|| b).clone())
    }

    /// The registry's breaker of that name: created with our config, or the existing one
    /// (whatever its config) so that a route is never left unguarded by a name clash.
    fn register(&self, name: &str) -> Option<CircuitBreaker> {
        match self.inner.registry.breaker(name, self.inner.config.clone()) {
            Ok(b) => Some(b),
            Err(RegistryError::ConfigMismatch { .. }) => self.inner.registry.get(name),
            Err(_) => None,
        }
    }
}

impl<B, K: RequestKey<B>> PickBreaker<B> for KeyedBreakers<K> {
    fn acquire(&self, req: &Request<B>) -> Picked {
        match self.inner.key.with_key(req, |key| self.breaker(key?)) {
            Some(breaker) => breaker.try_acquire_owned().into(),
            None => Picked::Unguarded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_tells_unguarded_admitted_and_rejected_apart() {
        let registry = Registry::new();
        let by_path = |req: &Request<()>| match req.uri().path() {
            "/" => None,
            path => Some(path.to_owned()),
        };
        let keyed = KeyedBreakers::builder(&registry, Config::default())
            .build(by_path)
            .unwrap();
        let req = |path: &str| Request::get(path).body(()).unwrap();
        assert!(matches!(keyed.acquire(&req("/")), Picked::Unguarded));
        assert!(matches!(keyed.acquire(&req("/a")), Picked::Admitted(_)));
        keyed.breaker_for("/a").unwrap().force_open();
        let Picked::Rejected(open) = keyed.acquire(&req("/a")) else {
            panic!("a forced-open breaker must reject");
        };
        assert_eq!(open.name(), "http:/a");
        let single = registry.breaker("one", Config::default()).unwrap();
        assert!(matches!(single.acquire(&req("/")), Picked::Admitted(_)));
    }

    #[test]
    fn a_lookup_does_not_wait_for_another_keys_registration() {
        use std::sync::mpsc;
        use std::time::Duration;

        let registry = Registry::new();
        let keyed = KeyedBreakers::builder(&registry, Config::default())
            .build(())
            .unwrap();
        keyed.breaker_for("a");
        // Another key's registration in progress: it holds the family's write lock.
        let registering = keyed.inner.write.lock().unwrap();
        let (tx, rx) = mpsc::channel();
        let other = keyed.clone();
        let lookup = std::thread::spawn(move || {
            let name = other.breaker_for("a").map(|b| b.name().to_owned());
            tx.send(name).unwrap();
        });
        // A bound on a hang, not a timing assertion: the lookup takes no lock at all.
        let name = rx.recv_timeout(Duration::from_secs(30));
        drop(registering);
        lookup.join().unwrap();
        assert_eq!(name.unwrap().as_deref(), Some("http:a"));
    }
}
