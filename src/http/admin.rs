//! The health and admin routes (axum).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use humantime_serde::re::humantime;
use serde::Serialize;

use super::auth::Admin;
use super::health::{BreakerView, Health};
use super::response::{PROBLEM_JSON, json_string};
use crate::breaker::CircuitBreaker;
use crate::registry::Registry;

/// The health and admin HTTP API of a [`Registry`], as an axum router to mount anywhere.
///
/// | route | auth | what it does |
/// |---|---|---|
/// | `GET /health` | none | every breaker: state, since when, last transition and its reason, window numbers, lifetime counts, config |
/// | `POST /reset` | bearer | resets every breaker to Closed (reason `manual`) |
/// | `POST /reset/{name}` | bearer | resets one breaker |
/// | `POST /force-open/{name}?ttl=30s` | bearer | forces one breaker open (reason `forced`), for the TTL if given (`30s`, `500ms`, or plain seconds), then probes in HalfOpen |
/// | `POST /disable/{name}` | bearer | disables one breaker: every call passes and is measured (reason `manual`) |
///
/// Admin routes exist only when a token is set ([`admin_token`](BreakerApi::admin_token));
/// the token is compared in constant time, and a missing, malformed or wrong
/// `Authorization: Bearer` header gets a bare 401. An unknown breaker name gets 404
/// (names containing `/`, such as per-route breakers, go in the path as they are or
/// percent-encoded). Every admin action is logged through `tracing` (target
/// `breakerbox::admin`) and becomes a transition of the breaker, unless it was already in
/// the target state.
///
/// Health answers 200 whatever the breakers' states, so that a liveness probe does not
/// restart a process because a dependency is down; opt into 503 while any breaker is open
/// with [`unhealthy_when_open`](BreakerApi::unhealthy_when_open). It also applies elapsed
/// open timeouts first (see [`Registry::poll_timeouts`]), so it never reports a stale Open.
///
/// ```
/// use axum::Router;
/// use breakerbox::Registry;
/// use breakerbox::http::BreakerApi;
///
/// let registry = Registry::new();
/// let mut api = BreakerApi::new(&registry);
/// if let Ok(token) = std::env::var("BREAKERBOX_ADMIN_TOKEN") {
///     api = api.admin_token(token);
/// }
/// let app: Router = Router::new().nest("/api/circuit-breakers", api.router());
/// ```
///
/// Mount the API *after* applying a [`CircuitBreakerLayer`](super::CircuitBreakerLayer) to
/// the rest of the app (axum layers wrap only the routes added before them), so that an
/// open breaker never locks operators out of the reset route.
#[derive(Clone)]
pub struct BreakerApi {
    registry: Registry,
    token: Option<Arc<[u8]>>,
    unhealthy_when_open: bool,
}

impl fmt::Debug for BreakerApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerApi")
            .field("registry", &self.registry)
            .field("admin", &self.token.is_some())
            .field("unhealthy_when_open", &self.unhealthy_when_open)
            .finish()
    }
}

impl BreakerApi {
    /// The API of `registry`, with the admin routes off.
    pub fn new(registry: &Registry) -> Self {
        BreakerApi {
            registry: registry.clone(),
            token: None,
            unhealthy_when_open: false,
        }
    }

    /// Turns the admin routes on, guarded by this bearer token. An empty token leaves them
    /// off.
    #[must_use]
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.token = (!token.is_empty()).then(|| Arc::from(token.into_bytes()));
        self
    }

    /// Whether health answers 503 while any breaker is open or forced open (default: no,
    /// always 200).
    #[must_use]
    pub fn unhealthy_when_open(mut self, yes: bool) -> Self {
        self.unhealthy_when_open = yes;
        self
    }

    /// The router: `/health`, and the admin routes if a token is set. Nest it where you
    /// like, e.g. at `/api/circuit-breakers`.
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mut router = Router::new().route("/health", get(health));
        if self.token.is_some() {
            router = router
                .route("/reset", post(reset_all))
                .route("/reset/{*name}", post(reset_one))
                .route("/force-open/{*name}", post(force_open))
                .route("/disable/{*name}", post(disable));
        }
        router.with_state(Arc::new(self))
    }

    /// The admin token, if the admin routes are on.
    pub(super) fn token(&self) -> Option<&[u8]> {
        self.token.as_deref()
    }

    fn find(&self, name: &str) -> Result<CircuitBreaker, ApiError> {
        let name = name.strip_prefix('/').unwrap_or(name);
        self.registry
            .get(name)
            .ok_or_else(|| ApiError::NotFound(name.to_owned()))
    }
}

pub(super) type Api = Arc<BreakerApi>;

async fn health(State(api): State<Api>) -> Response {
    api.registry.poll_timeouts();
    let health = Health::new(&api.registry.snapshot_all());
    let status = if api.unhealthy_when_open && !health.open.is_empty() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut res = (status, Json(health)).into_response();
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The body of an admin action's answer: the breakers it touched, after the action.
#[derive(Serialize)]
struct Done {
    action: &'static str,
    breakers: Vec<BreakerView>,
}

fn done(action: &'static str, breakers: &[CircuitBreaker]) -> Response {
    let breakers = breakers.iter().map(|b| BreakerView::new(&b.snapshot()));
    Json(Done {
        action,
        breakers: breakers.collect(),
    })
    .into_response()
}

async fn reset_all(_: Admin, State(api): State<Api>) -> Response {
    let all = api.registry.all();
    for b in &all {
        audit("reset", b, || b.reset(), None);
    }
    done("reset", &all)
}

async fn reset_one(
    _: Admin,
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let b = api.find(&name)?;
    audit("reset", &b, || b.reset(), None);
    Ok(done("reset", &[b]))
}

async fn force_open(
    _: Admin,
    State(api): State<Api>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let ttl = ttl_param(&uri)?;
    let b = api.find(&name)?;
    let act = || match ttl {
        Some(ttl) => b.force_open_for(ttl),
        None => b.force_open(),
    };
    audit("force_open", &b, act, ttl);
    Ok(done("force_open", &[b]))
}

async fn disable(
    _: Admin,
    State(api): State<Api>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let b = api.find(&name)?;
    audit("disable", &b, || b.disable(), None);
    Ok(done("disable", &[b]))
}

/// Runs an admin action on `b` and logs it with the states before and after.
fn audit(action: &str, b: &CircuitBreaker, act: impl FnOnce(), ttl: Option<Duration>) {
    #[cfg(feature = "tracing")]
    let from = b.state();
    act();
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "breakerbox::admin",
        action,
        breaker = b.name(),
        from = from.as_str(),
        to = b.state().as_str(),
        ttl_ms = ttl.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        "circuit breaker admin action"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (action, b, ttl);
}

/// The `ttl` query parameter: `30s`, `500ms`, `1m 30s` or plain seconds.
fn ttl_param(uri: &Uri) -> Result<Option<Duration>, ApiError> {
    let query = uri.query().unwrap_or("");
    let Some(raw) = query.split('&').find_map(|kv| kv.strip_prefix("ttl=")) else {
        return Ok(None);
    };
    let raw = raw.replace("%20", " ").replace('+', " ");
    let parsed = match raw.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(&raw),
    };
    parsed.map(Some).map_err(|_| ApiError::InvalidTtl)
}

/// Why an admin request failed, answered as problem+json.
enum ApiError {
    NotFound(String),
    InvalidTtl,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(name) => {
                let detail = format!("no circuit breaker named `{name}`");
                problem(StatusCode::NOT_FOUND, "BreakerNotFound", &detail)
            }
            ApiError::InvalidTtl => {
                let detail = "`ttl` must be a duration such as `30s` or `500ms`, or seconds";
                problem(StatusCode::BAD_REQUEST, "InvalidTtl", detail)
            }
        }
    }
}

fn problem(status: StatusCode, kind: &str, detail: &str) -> Response {
    let body = format!(
        r#"{{"type":"{kind}","title":{},"status":{},"detail":{}}}"#,
        json_string(status.canonical_reason().unwrap_or("")),
        status.as_u16(),
        json_string(detail),
    );
    (status, [(CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
}
