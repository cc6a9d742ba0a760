//! The health and admin routes: authentication, actions, their transitions and logs, and
//! health reporting. Breakers run on a manual clock.
#![cfg(all(feature = "axum", feature = "test-util"))]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use breakerbox::http::BreakerApi;
use breakerbox::{CircuitBreaker, Config, ManualClock, Registry, State};
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::http::{client, get_json};
#[cfg(feature = "tracing")]
use crate::support::logs::Logs;

const TOKEN: &str = "s3cret-admin-token";

struct Rig {
    clock: ManualClock,
    registry: Registry,
    app: Router,
}

fn cfg() -> Config {
    Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A registry with `postgres` (open) and `redis` (closed), and the API nested where the
/// original service had it.
fn rig(api: impl FnOnce(BreakerApi) -> BreakerApi) -> Rig {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let pg = registry.breaker("postgres", cfg()).unwrap();
    registry.breaker("redis", Config::cache()).unwrap();
    let _ = pg.call_sync(|| Err::<(), _>("connection refused"));
    assert_eq!(pg.state(), State::Open);
    let app = Router::new().nest(
        "/api/circuit-breakers",
        api(BreakerApi::new(&registry)).router(),
    );
    Rig {
        clock,
        registry,
        app,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(app: &Router, method: &str, path: &str, auth: Option<&str>) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/api/circuit-breakers{path}"));
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn state(r: &Registry, name: &str) -> State {
    r.get(name).unwrap().state()
}

#[tokio::test]
async fn admin_routes_are_off_without_a_token() {
    for rig in [rig(|a| a), rig(|a| a.admin_token(""))] {
        for path in [
            "/reset",
            "/reset/postgres",
            "/disable/postgres",
            "/force-open/redis",
        ] {
            let a = send(&rig.app, "POST", path, Some(&bearer())).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(state(&rig.registry, "postgres"), State::Open);
        assert_eq!(send(&rig.app, "GET", "/health", None).await.status, 200);
    }
}

#[tokio::test]
async fn missing_malformed_or_wrong_tokens_get_a_bare_401() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let wrong_same_length = format!("Bearer {}", "x".repeat(TOKEN.len()));
    let longer = format!("Bearer {TOKEN}x");
    let shorter = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    let cases: [Option<&str>; 7] = [
        None,
        Some(""),
        Some("Bearer"),
        Some(&basic),
        Some(&wrong_same_length),
        Some(&longer),
        Some(&shorter),
    ];
    for auth in cases {
        for path in [
            "/reset",
            "/reset/postgres",
            "/force-open/redis",
            "/disable/nope",
        ] {
            let a = send(&rig.app, "POST", path, auth).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?} {path}");
            assert!(a.body.is_empty(), "no detail in a 401");
            assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
    assert_eq!(state(&rig.registry, "postgres"), State::Open);
    assert_eq!(state(&rig.registry, "redis"), State::Closed);
}

#[tokio::test]
async fn unknown_breaker_is_404_problem_json() {
    let rig = rig(|a| a.admin_token(TOKEN));
    for path in ["/reset/mysql", "/force-open/mysql?ttl=5s", "/disable/mysql"] {
        let a = send(&rig.app, "POST", path, Some(&bearer())).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(a.json()["type"], "BreakerNotFound");
    }
}

#[tokio::test]
async fn reset_one_closes_it_with_reason_manual_and_leaves_the_others() {
    let rig = rig(|a| a.admin_token(TOKEN));
    rig.registry.get("redis").unwrap().force_open();

    let a = send(&rig.app, "POST", "/reset/postgres", Some(&bearer())).await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    assert_eq!(body["action"], "reset");
    assert_eq!(body["breakers"][0]["name"], "postgres");
    assert_eq!(body["breakers"][0]["state"], "closed");
    let t = &body["breakers"][0]["last_transition"];
    assert_eq!(
        (&t["from"], &t["to"], &t["reason"]),
        (&"open".into(), &"closed".into(), &"manual".into())
    );

    assert_eq!(state(&rig.registry, "postgres"), State::Closed);
    assert_eq!(state(&rig.registry, "redis"), State::ForcedOpen);
}

#[tokio::test]
async fn reset_all_closes_every_breaker() {
    let rig = rig(|a| a.admin_token(TOKEN));
    rig.registry.get("redis").unwrap().force_open();
    // The scheme is case-insensitive.
    let auth = format!("bearer {TOKEN}");
    let a = send(&rig.app, "POST", "/reset", Some(&auth)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["breakers"].as_array().unwrap().len(), 2);
    for name in ["postgres", "redis"] {
        let b = rig.registry.get(name).unwrap();
        assert_eq!(b.state(), State::Closed);
        let last = b.snapshot().last_transition.unwrap();
        assert_eq!(last.reason.as_str(), "manual");
    }
}

#[tokio::test]
async fn force_open_with_ttl_expires_into_half_open() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let a = send(
        &rig.app,
        "POST",
        "/force-open/redis?ttl=30s",
        Some(&bearer()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let view = &a.json()["breakers"][0];
    assert_eq!(view["state"], "forced_open");
    assert_eq!(view["retry_after_secs"], 30);
    assert_eq!(view["last_transition"]["reason"], "forced");

    rig.clock.advance(Duration::from_secs(29));
    let health = send(&rig.app, "GET", "/health", None).await.json();
    let redis = &health["breakers"][1];
    assert_eq!(
        (&redis["name"], &redis["state"]),
        (&"redis".into(), &"forced_open".into())
    );

    // Health applies the elapsed TTL itself: no call needed to see the probe state.
    rig.clock.advance(Duration::from_secs(1));
    let health = send(&rig.app, "GET", "/health", None).await.json();
    let redis = &health["breakers"][1];
    assert_eq!(redis["state"], "half_open");
    assert_eq!(redis["last_transition"]["from"], "forced_open");
    assert_eq!(redis["last_transition"]["reason"], "timeout_elapsed");
}

#[tokio::test]
async fn force_open_without_ttl_holds_until_reset_and_bad_ttl_is_400() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let a = send(
        &rig.app,
        "POST",
        "/force-open/redis?ttl=soon",
        Some(&bearer()),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(state(&rig.registry, "redis"), State::Closed);

    let a = send(&rig.app, "POST", "/force-open/redis", Some(&bearer())).await;
    assert_eq!(a.status, StatusCode::OK);
    rig.clock.advance(Duration::from_secs(24 * 3600));
    rig.registry.poll_timeouts();
    assert_eq!(state(&rig.registry, "redis"), State::ForcedOpen);

    let a = send(
        &rig.app,
        "POST",
        "/force-open/redis?ttl=15",
        Some(&bearer()),
    )
    .await;
    assert_eq!(a.json()["breakers"][0]["retry_after_secs"], 15);
}

#[tokio::test]
async fn disable_lets_every_call_through_with_reason_manual() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let a = send(&rig.app, "POST", "/disable/postgres", Some(&bearer())).await;
    assert_eq!(a.status, StatusCode::OK);
    let pg = rig.registry.get("postgres").unwrap();
    assert_eq!(pg.state(), State::Disabled);
    assert_eq!(
        pg.snapshot().last_transition.unwrap().reason.as_str(),
        "manual"
    );
    for _ in 0..5 {
        assert!(pg.call_sync(|| Err::<(), _>("still down")).is_err());
    }
    assert_eq!(pg.state(), State::Disabled);
    assert_eq!(pg.snapshot().totals.rejected, 0);
}

#[tokio::test]
async fn names_with_slashes_work_as_they_are_or_percent_encoded() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let route = rig.registry.breaker("http:/users/{id}", cfg()).unwrap();
    route.force_open();
    let a = send(
        &rig.app,
        "POST",
        "/reset/http:/users/%7Bid%7D",
        Some(&bearer()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(route.state(), State::Closed);
    route.force_open();
    let a = send(
        &rig.app,
        "POST",
        "/reset/http%3A%2Fusers%2F%7Bid%7D",
        Some(&bearer()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(route.state(), State::Closed);
}

#[tokio::test]
async fn a_name_is_matched_exactly_as_percent_decoded() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let x = rig.registry.breaker("x", cfg()).unwrap();
    x.force_open();
    // `/x` does not exist: neither spelling of it may act on `x`.
    for path in [
        "/reset/%2Fx",
        "/reset//x",
        "/disable/%2Fx",
        "/force-open//x?ttl=5s",
    ] {
        let a = send(&rig.app, "POST", path, Some(&bearer())).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            a.json()["detail"],
            "no circuit breaker named `/x`",
            "{path}"
        );
        assert_eq!(x.state(), State::ForcedOpen, "{path}");
    }
    // A name that starts with `/` is reachable, and only it is touched.
    let slash_x = rig.registry.breaker("/x", cfg()).unwrap();
    for path in ["/reset/%2Fx", "/reset//x"] {
        slash_x.force_open();
        let a = send(&rig.app, "POST", path, Some(&bearer())).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.json()["breakers"][0]["name"], "/x");
        assert_eq!(slash_x.state(), State::Closed, "{path}");
        assert_eq!(x.state(), State::ForcedOpen, "{path}");
    }
}

#[tokio::test]
async fn the_ttl_is_fully_percent_decoded() {
    let rig = rig(|a| a.admin_token(TOKEN));
    for (query, secs) in [
        ("ttl=30%73", 30),
        ("ttl=1m%2030s", 90),
        ("ttl=1m+30s", 90),
        ("%74tl=45s", 45),
        ("other=1&ttl=%3120", 120),
    ] {
        let path = format!("/force-open/redis?{query}");
        let a = send(&rig.app, "POST", &path, Some(&bearer())).await;
        assert_eq!(a.status, StatusCode::OK, "{query}");
        assert_eq!(a.json()["breakers"][0]["retry_after_secs"], secs, "{query}");
    }
    for query in ["ttl=30%7", "ttl=%zz", "ttl=%FF", "ttl=30%+9"] {
        let path = format!("/force-open/redis?{query}");
        let a = send(&rig.app, "POST", &path, Some(&bearer())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(a.json()["type"], "InvalidTtl", "{query}");
    }
}

#[tokio::test]
async fn a_ttl_beyond_the_limit_is_400_naming_it_not_a_silent_clamp() {
    let rig = rig(|a| a.admin_token(TOKEN));
    assert_eq!(BreakerApi::MAX_TTL, Duration::from_secs(365 * 24 * 3600));
    for ttl in [
        "366d",
        "31536001",
        "18446744073709551615",
        "99999999999999999999999",
        "99999999999999999999999s",
        "600000years",
    ] {
        let path = format!("/force-open/redis?ttl={ttl}");
        let a = send(&rig.app, "POST", &path, Some(&bearer())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{ttl}");
        let body = a.json();
        assert_eq!(body["type"], "TtlTooLong", "{ttl}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("365 days (31536000 seconds)"), "{detail}");
        assert_eq!(state(&rig.registry, "redis"), State::Closed, "{ttl}");
    }
    // The limit itself is accepted and reported as asked.
    let a = send(
        &rig.app,
        "POST",
        "/force-open/redis?ttl=365d",
        Some(&bearer()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["breakers"][0]["retry_after_secs"], 31_536_000);
}

#[tokio::test]
async fn health_reports_state_since_reason_window_and_config() {
    let rig = rig(|a| a);
    rig.clock.advance(Duration::from_secs(12));
    let a = send(&rig.app, "GET", "/health", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    let h = a.json();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["open"], serde_json::json!(["postgres"]));

    let pg = &h["breakers"][0];
    assert_eq!(pg["name"], "postgres");
    assert_eq!(pg["state"], "open");
    assert!(pg["since"].as_str().unwrap().ends_with('Z'));
    assert!(pg["since_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(pg["retry_after_secs"], 48);
    let t = &pg["last_transition"];
    assert_eq!(t["reason"], "consecutive_failures");
    assert_eq!(t["consecutive_failures"], 1);
    assert_eq!(t["threshold"], 1.0);
    assert_eq!(t["failures"], 1);
    assert_eq!(pg["window"]["calls"], 1);
    assert_eq!(pg["window"]["failure_rate"], serde_json::Value::Null); // below min_calls
    assert_eq!(pg["totals"]["failures"], 1);
    assert_eq!(pg["totals"]["timeouts"], 0, "a failure, not a timeout");
    assert_eq!(pg["config"]["failure_threshold"], 1);
    assert_eq!(pg["config"]["reset_timeout"], "1m");

    let redis = &h["breakers"][1];
    assert_eq!(redis["state"], "closed");
    assert_eq!(redis["last_transition"], serde_json::Value::Null);
    assert_eq!(redis["config"]["reset_timeout"], "10s");
}

#[tokio::test]
async fn health_is_200_with_open_breakers_unless_opted_into_503() {
    let default = rig(|a| a);
    assert_eq!(send(&default.app, "GET", "/health", None).await.status, 200);

    let strict = rig(|a| a.unhealthy_when_open(true));
    let a = send(&strict.app, "GET", "/health", None).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.json()["status"], "degraded");
    strict.registry.reset_all();
    let a = send(&strict.app, "GET", "/health", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["status"], "ok");
}

#[cfg(feature = "tracing")]
#[tokio::test]
async fn every_admin_action_is_logged_without_the_token() {
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());

    let rig = rig(|a| a.admin_token(TOKEN));
    send(
        &rig.app,
        "POST",
        "/force-open/redis?ttl=5s",
        Some(&bearer()),
    )
    .await;
    send(&rig.app, "POST", "/disable/redis", Some(&bearer())).await;
    send(&rig.app, "POST", "/reset/postgres", Some(&bearer())).await;
    send(&rig.app, "POST", "/reset", Some("Bearer wrong")).await;

    let text = logs.text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("breakerbox::admin"))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains(
            r#"action="force_open" breaker="redis" from="closed" to="forced_open" ttl_ms=5000"#
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(r#"action="disable" breaker="redis" from="forced_open" to="disabled""#)
    );
    assert!(lines[2].contains(r#"action="reset" breaker="postgres" from="open" to="closed""#));
    assert!(lines[3].contains("WARN") && lines[3].contains("refused"));
    assert!(!text.contains(TOKEN) && !text.contains("wrong"));
}

/// The admin API over real HTTP, next to the guarded app.
#[tokio::test]
async fn admin_api_over_real_http() {
    let rig = rig(|a| a.admin_token(TOKEN));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, rig.app.clone()).into_future());
    let http = client();
    let url = |p: &str| format!("http://{addr}/api/circuit-breakers{p}");

    let res = http.post(url("/reset/postgres")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(url("/reset/postgres"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let health = get_json(&http, &url("/health")).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(
        CircuitBreaker::state(&rig.registry.get("postgres").unwrap()),
        State::Closed
    );
    server.abort();
}
