//! The health and admin routes (axum).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use humantime_serde::re::humantime;
use serde::Serialize;

use super::auth::{Admin, AdminToken};
use super::health::{BreakerView, Health};
use crate::breaker::CircuitBreaker;
use crate::http::response::Problem;
use crate::registry::Registry;

/// The health and admin HTTP API of a [`Registry`], as an axum router to mount anywhere.
///
/// | route | auth | what it does |
/// |---|---|---|
/// | `GET /health` | none | every breaker: state, since when, last transition and its reason, window numbers, lifetime counts, config |
/// | `POST /reset` | bearer | resets every breaker to Closed (reason `manual`) |
/// | `POST /reset/{name}` | bearer | resets one breaker |
/// | `POST /force-open/{name}?ttl=30s` | bearer | forces one breaker open (reason `forced`), for the TTL if given (`30s`, `500ms`, or plain seconds; at most 365 days), then probes in HalfOpen |
/// | `POST /disable/{name}` | bearer | disables one breaker: every call passes and is measured (reason `manual`) |
///
/// Admin routes exist only when a token is set ([`admin_token`](BreakerApi::admin_token));
/// the token is compared in constant time, and a missing, malformed or wrong
/// `Authorization: Bearer` header gets a bare 401. The breaker name is the rest of the
/// path after the action, percent-decoded and matched exactly: names containing `/`, such
/// as per-route breakers, go in the path as they are or percent-encoded, so `%2Fx` and
/// `//x` both name `/x`, never `x`. An unknown name gets 404. The `ttl` is percent-decoded
/// too and may be at most [`MAX_TTL`](BreakerApi::MAX_TTL) (365 days); a longer or malformed one gets 400. Every admin action is logged through `tracing` (target
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
/// Mount the API *after* applying a [`CircuitBreakerLayer`](crate::http::CircuitBreakerLayer) to
/// the rest of the app (axum layers wrap only the routes added before them), so that an
/// open breaker never locks operators out of the reset route.
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
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
    /// The longest `ttl` the force-open route accepts: 365 days. A breaker keeps deadlines
    /// in microseconds in 48 bits, about 8.9 years from its clock's origin: a year stays
    /// exact for any process younger than about 7.9 years, where a longer TTL could be cut
    /// short silently.
    ///
    /// A breaker restored forced open from a state store waits at most this long too.
    pub const MAX_TTL: Duration = crate::store::MAX_RESTORED_TTL;

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

    /// The breaker named exactly `name` (the rest of the path, percent-decoded).
    fn find(&self, name: &str) -> Result<CircuitBreaker, ApiError> {
        self.registry
            .get(name)
            .ok_or_else(|| ApiError::NotFound(name.to_owned()))
    }
}

pub(super) type Api = Arc<BreakerApi>;

impl FromRef<Api> for AdminToken {
    fn from_ref(api: &Api) -> AdminToken {
        AdminToken(api.token.clone())
    }
}

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
        ttl_ms = ttl.map(crate::time::millis),
        "circuit breaker admin action"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (action, b, ttl);
}

/// The `ttl` query parameter, percent-decoded (`+` is a space): `30s`, `500ms`, `1m 30s`
/// or plain seconds, at most [`BreakerApi::MAX_TTL`].
fn ttl_param(uri: &Uri) -> Result<Option<Duration>, ApiError> {
    let query = uri.query().unwrap_or("");
    let mut raw = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key).as_deref() == Some("ttl") {
            raw = Some(percent_decode(value).ok_or(ApiError::InvalidTtl)?);
            break;
        }
    }
    let Some(raw) = raw else {
        return Ok(None);
    };
    let raw = raw.trim();
    let ttl = if raw.bytes().all(|b| b.is_ascii_digit()) && !raw.is_empty() {
        // All digits: seconds, and a number too big for a u64 is too long, not malformed.
        raw.parse::<u64>()
            .map_or(Err(ApiError::TtlTooLong), |secs| {
                Ok(Duration::from_secs(secs))
            })?
    } else {
        humantime::parse_duration(raw).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => ApiError::TtlTooLong,
            _ => ApiError::InvalidTtl,
        })?
    };
    if ttl > BreakerApi::MAX_TTL {
        return Err(ApiError::TtlTooLong);
    }
    Ok(Some(ttl))
}

/// Decodes `%XX` escapes and `+` (a space, as in forms); `None` for a malformed escape or
/// bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let (hi, lo) = (bytes.next()?, bytes.next()?);
                let digit = |c: u8| char::from(c).to_digit(16);
                out.push(u8::try_from(digit(hi)? * 16 + digit(lo)?).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// Why an admin request failed, answered as problem+json.
enum ApiError {
    NotFound(String),
    InvalidTtl,
    TtlTooLong,
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
            ApiError::TtlTooLong => {
                let detail = format!(
                    "`ttl` may be at most 365 days ({} seconds); force open without a ttl to hold until reset",
                    BreakerApi::MAX_TTL.as_secs()
                );
                problem(StatusCode::BAD_REQUEST, "TtlTooLong", &detail)
            }
        }
    }
}

fn problem(status: StatusCode, kind: &str, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("");
    Problem::new(kind, title, status, detail)
        .response()
        .map(axum::body::Body::from)
}

#[cfg(all(test, feature = "limit", feature = "notify-webhook"))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::{Body, to_bytes};
    use axum::http::{Request, header};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;
    use crate::http::{
        Readiness, anonymous_rejection_response, limited_response, rejection_response,
    };
    use crate::limit::{Bulkhead, RateLimit};
    use crate::notify::{
        AlertmanagerNotifier, Kind, Notification, WebhookFormat, WebhookNotifier, WebhookPayload,
    };
    use crate::{CallTimeout, Config};

    /// Quotes, control characters (C0 and DEL), a would-be HTML tag, and non-ASCII text
    /// of two, three and four bytes per character (a name holds no backslash).
    const NASTY: &str = "db \"main\" / shard\n\t\r\u{1}\u{8}\u{c}\u{1f}\u{7f} </x> é 日本 🦀";

    fn json(body: &[u8]) -> Value {
        serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
    }

    async fn body_of<B: Into<Body>>(res: http::Response<B>) -> (StatusCode, Value) {
        let status = res.status();
        let bytes = to_bytes(res.into_body().into(), usize::MAX).await.unwrap();
        (status, json(&bytes))
    }

    fn percent_encoded(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    async fn send(app: &Router, method: &str, uri: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, "Bearer token")
            .body(Body::empty())
            .unwrap();
        body_of(app.clone().oneshot(req).await.unwrap()).await
    }

    #[tokio::test]
    async fn a_nasty_name_round_trips_through_every_problem_body() {
        let registry = Registry::new();
        let b = registry.breaker(NASTY, Config::default()).unwrap();
        b.force_open_for(Duration::from_secs(30));
        let open = b.try_acquire().unwrap_err();

        let (status, p) = body_of(rejection_response(&open)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(p["breaker"], NASTY);
        assert_eq!(p["state"], "forced_open");
        assert_eq!(
            p["detail"],
            format!("circuit breaker `{NASTY}` is forced_open; retry after 30s")
        );
        let (_, p) = body_of(anonymous_rejection_response(&open)).await;
        assert_eq!(
            p["detail"],
            "service temporarily unavailable; retry after 30s"
        );
        assert!(p.get("breaker").is_none());

        let bulkhead = Bulkhead::new(NASTY, 1).unwrap();
        let _slot = bulkhead.try_acquire().unwrap();
        let full = bulkhead.try_acquire().unwrap_err();
        let (status, p) = body_of(limited_response(&full)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            (&p["breaker"], &p["detail"]),
            (&json!(NASTY), &json!(full.to_string()))
        );

        let rate = RateLimit::per_second(NASTY, 1, 1).unwrap();
        let limited = std::iter::repeat_with(|| rate.check())
            .find_map(Result::err)
            .unwrap();
        let (status, p) = body_of(limited_response(&limited)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(p["breaker"], NASTY);

        let timeout = CallTimeout {
            name: crate::error::Name::new(&Arc::from(NASTY)),
            after: Duration::from_millis(1500),
        };
        let detail = timeout.to_string();
        let (status, p) = body_of(timeout.into_response()).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            (&p["breaker"], &p["detail"]),
            (&json!(NASTY), &json!(detail))
        );

        let app: Router = BreakerApi::new(&registry).admin_token("token").router();
        let unknown = format!("{NASTY}?");
        let uri = format!("/reset/{}", percent_encoded(&unknown));
        let (status, p) = send(&app, "POST", &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(p["type"], "BreakerNotFound");
        assert_eq!(p["detail"], format!("no circuit breaker named `{unknown}`"));
    }

    #[tokio::test]
    async fn a_nasty_name_round_trips_through_every_json_document() {
        let registry = Registry::new();
        let b = registry.breaker(NASTY, Config::default()).unwrap();
        b.force_open();
        let app: Router = BreakerApi::new(&registry)
            .admin_token("token")
            .router()
            .merge(Readiness::new(&registry).router());

        let (_, health) = send(&app, "GET", "/health").await;
        assert_eq!(health["open"], json!([NASTY]));
        assert_eq!(health["breakers"][0]["name"], NASTY);
        let (status, ready) = send(&app, "GET", "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready["open"], json!([NASTY]));
        let uri = format!("/force-open/{}?ttl=5s", percent_encoded(NASTY));
        let (status, done) = send(&app, "POST", &uri).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(done["breakers"][0]["name"], NASTY);

        let t = b.snapshot().last_transition.unwrap();
        let n = Notification::new(Kind::Opened, (*t).clone());
        let summary = n.summary();
        assert!(summary.contains(NASTY), "{summary}");

        let webhook = WebhookNotifier::builder("http://127.0.0.1:1/")
            .build()
            .unwrap();
        let body = webhook.body(&n);
        let v = json(&body);
        assert_eq!(
            (&v["breaker"], &v["summary"]),
            (&json!(NASTY), &json!(summary))
        );
        let payload: WebhookPayload = serde_json::from_slice(&body).unwrap();
        assert_eq!(payload, WebhookPayload::from(&n));
        assert_eq!(payload.breaker, NASTY);

        let slack = WebhookNotifier::builder("http://127.0.0.1:1/")
            .format(WebhookFormat::Slack)
            .build()
            .unwrap();
        let text = json(&slack.body(&n))["text"].as_str().unwrap().to_owned();
        assert!(text.contains(NASTY), "{text}");

        let am = AlertmanagerNotifier::builder("http://127.0.0.1:1")
            .build()
            .unwrap();
        let alerts = am.alerts(&n, t.at);
        let sent = json(alerts.to_string().as_bytes());
        assert_eq!(sent, alerts);
        assert_eq!(sent[0]["labels"]["breaker"], NASTY);
        assert_eq!(sent[0]["annotations"]["summary"], summary);
        assert_eq!(sent[0]["annotations"]["description"], n.text());
    }
}
