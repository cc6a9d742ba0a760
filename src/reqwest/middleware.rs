//! The middleware: one breaker per upstream key, a permit per request, the outcome
//! classified when reqwest answers.

use std::fmt;
use std::time::Duration;

use ::reqwest::header::RETRY_AFTER;
use ::reqwest::{Request, Response, StatusCode};
use ::reqwest_middleware::{Middleware, Next};
use http::Extensions;

use super::classify::{ClassifyUpstream, UpstreamClassifier};
use super::key::{Origin, UpstreamKey};
use crate::config::Config;
use crate::error::BreakerOpen;
use crate::event::Outcome;
use crate::http::KeyedBreakers;
use crate::name::NameError;
use crate::registry::Registry;
use crate::state::State;

/// A `reqwest_middleware::Middleware` that gives each upstream (by default each origin,
/// see [`Origin`]) its own circuit breaker, registered in a [`Registry`] as
/// `upstream:` + key, with the [`Config::external_api`] preset unless you choose another.
/// At most 64 upstreams get a breaker of their own (see
/// [`max_upstreams`](MiddlewareBuilder::max_upstreams)); later ones share the overflow
/// breaker `upstream:~overflow`, so memory and metric series stay bounded.
///
/// A rejected request never reaches reqwest: it fails with
/// `reqwest_middleware::Error::Middleware` holding the [`BreakerOpen`] (find it with
/// [`rejection`](super::rejection), or `downcast_ref::<BreakerOpen>()` on the inner
/// `anyhow::Error`). Responses and errors are classified by an [`UpstreamClassifier`]
/// unless you set another [`classifier`](MiddlewareBuilder::classifier).
///
/// A cheap `Clone`: clones share the breakers.
///
/// ```
/// use breakerbox::reqwest::CircuitBreakerMiddleware;
/// use breakerbox::Registry;
///
/// # let _ = rustls::crypto::ring::default_provider().install_default();
/// let registry = Registry::new();
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(CircuitBreakerMiddleware::new(&registry))
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct CircuitBreakerMiddleware<K = Origin, C = UpstreamClassifier> {
    breakers: KeyedBreakers<()>,
    key: K,
    classifier: C,
    honor_retry_after: bool,
}

impl<K, C> fmt::Debug for CircuitBreakerMiddleware<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerMiddleware")
            .field("breakers", &self.breakers)
            .field("honor_retry_after", &self.honor_retry_after)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerMiddleware {
    /// One breaker per origin in `registry`, with the defaults.
    pub fn new(registry: &Registry) -> Self {
        CircuitBreakerMiddleware::builder(registry)
            .build()
            .unwrap_or_else(|_| unreachable!("the default overflow name is valid"))
    }

    /// A builder, to choose the config, the key, the cap or the classifier.
    pub fn builder(registry: &Registry) -> MiddlewareBuilder {
        MiddlewareBuilder {
            registry: registry.clone(),
            config: Config::external_api(),
            prefix: "upstream:".to_owned(),
            max_upstreams: 64,
            key: Origin,
            classifier: UpstreamClassifier::new(),
            honor_retry_after: false,
        }
    }
}

impl<K, C> CircuitBreakerMiddleware<K, C> {
    /// The breakers, one per upstream key (look one up with
    /// [`breaker_for`](KeyedBreakers::breaker_for)).
    pub fn breakers(&self) -> &KeyedBreakers<()> {
        &self.breakers
    }
}

/// Builds a [`CircuitBreakerMiddleware`]; from [`CircuitBreakerMiddleware::builder`].
#[derive(Debug)]
pub struct MiddlewareBuilder<K = Origin, C = UpstreamClassifier> {
    registry: Registry,
    config: Config,
    prefix: String,
    max_upstreams: usize,
    key: K,
    classifier: C,
    honor_retry_after: bool,
}

impl<K, C> MiddlewareBuilder<K, C> {
    /// The config of every upstream's breaker (default [`Config::external_api`]).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The prefix of every breaker name (default `"upstream:"`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many upstream keys get a breaker of their own (default 64); later keys share
    /// the overflow breaker (`prefix + "~overflow"`).
    #[must_use]
    pub fn max_upstreams(mut self, max: usize) -> Self {
        self.max_upstreams = max;
        self
    }

    /// Keys requests with `key` instead of their [`Origin`].
    pub fn key<K2: UpstreamKey>(self, key: K2) -> MiddlewareBuilder<K2, C> {
        MiddlewareBuilder {
            registry: self.registry,
            config: self.config,
            prefix: self.prefix,
            max_upstreams: self.max_upstreams,
            key,
            classifier: self.classifier,
            honor_retry_after: self.honor_retry_after,
        }
    }

    /// Classifies with `classifier` instead of the [`UpstreamClassifier`].
    pub fn classifier<C2: ClassifyUpstream>(self, classifier: C2) -> MiddlewareBuilder<K, C2> {
        MiddlewareBuilder {
            registry: self.registry,
            config: self.config,
            prefix: self.prefix,
            max_upstreams: self.max_upstreams,
            key: self.key,
            classifier,
            honor_retry_after: self.honor_retry_after,
        }
    }

    /// Lets an upstream's `Retry-After` (in seconds) on a 503 or 429 response whose
    /// failure trips the breaker keep it open that long, up to the config's
    /// `max_reset_timeout` after the trip, instead of its reset timeout (default: off).
    ///
    /// Off by default because it hands the upstream control over your breaker: a server
    /// that answers `Retry-After: 86400`, by mistake or from a shared proxy, keeps its
    /// breaker open for the whole `max_reset_timeout` (10 × the reset timeout by
    /// default), with no half-open probe that could notice it has recovered. Turn it on
    /// for APIs whose `Retry-After` you trust (rate-limited SaaS APIs). The transition's
    /// reported `open_for` stays the reset timeout; the rejections' `retry_after` and
    /// the half-open probe follow the stretched deadline.
    #[must_use]
    pub fn honor_retry_after(mut self, honor: bool) -> Self {
        self.honor_retry_after = honor;
        self
    }

    /// Builds the middleware.
    ///
    /// # Errors
    /// [`NameError`] if the overflow breaker's name (`prefix + "~overflow"`) is empty or
    /// longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes.
    pub fn build(self) -> Result<CircuitBreakerMiddleware<K, C>, NameError> {
        let breakers = KeyedBreakers::builder(&self.registry, self.config)
            .prefix(self.prefix)
            .max_keys(self.max_upstreams)
            .build(())?;
        Ok(CircuitBreakerMiddleware {
            breakers,
            key: self.key,
            classifier: self.classifier,
            honor_retry_after: self.honor_retry_after,
        })
    }
}

/// The rejection as reqwest-middleware's error: the [`BreakerOpen`] is the error's source,
/// so it stays reachable when another middleware (`reqwest-retry`) wraps it.
fn rejected(open: BreakerOpen) -> reqwest_middleware::Error {
    let message = open.to_string();
    reqwest_middleware::Error::Middleware(anyhow::Error::new(open).context(message))
}

/// The `Retry-After` of a 503 or 429 response, in delta-seconds (an HTTP date is not
/// read).
fn retry_after(res: &Response) -> Option<Duration> {
    let status = res.status();
    if status != StatusCode::SERVICE_UNAVAILABLE && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let value = res.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[async_trait::async_trait]
impl<K, C> Middleware for CircuitBreakerMiddleware<K, C>
where
    K: UpstreamKey + Send + Sync + 'static,
    C: ClassifyUpstream + Send + Sync + 'static,
{
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Some(breaker) = self.key.with_key(&req, |k| self.breakers.breaker(k?)) else {
            return next.run(req, extensions).await;
        };
        let permit = breaker.try_acquire_owned().map_err(rejected)?;
        // Dropped here (the caller gave up): the permit counts the call as ignored.
        let result = next.run(req, extensions).await;
        let outcome = self.classifier.classify(&result);
        let done = permit.finish(outcome);
        if self.honor_retry_after
            && outcome == Outcome::Failure
            && done.transition == Some(State::Open)
            && let Some(wait) = result.as_ref().ok().and_then(retry_after)
        {
            breaker.stretch_open(wait);
        }
        result
    }
}
