//! End to end against a real Redis: an axum handler reads and writes Redis through a
//! breaker with the `cache` preset; Redis is killed, the breaker opens and the endpoint
//! answers 503 at once; Redis comes back, the breaker probes (half-open) and closes.
//!
//! Needs `redis-server` on the PATH (Debian package `redis-server`). It runs on 127.0.0.1,
//! a free port and a temporary directory without persistence, and is stopped by PID, also
//! when the test panics. Set `BREAKERBOX_SKIP_E2E=1` to skip where it is not installed.
#![cfg(feature = "axum")]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use breakerbox::http::BreakerApi;
use breakerbox::{CallError, CircuitBreaker, Config, Registry};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::eventually::eventually;
use crate::support::http::{client, get_json};
use crate::support::process::free_port;
use crate::support::redis;

/// Connect and per-operation timeouts of the Redis client: short, so that a hung Redis
/// costs little even before the breaker opens.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The breaker's reset timeout in this test (the preset's is 10 s).
const RESET: Duration = Duration::from_secs(1);

/// A Redis failure as the handler sees it.
#[derive(Debug)]
enum RedisError {
    Io(std::io::Error),
    Timeout,
    Protocol(String),
}

impl From<std::io::Error> for RedisError {
    fn from(e: std::io::Error) -> Self {
        RedisError::Io(e)
    }
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisError::Io(e) => write!(f, "redis: {e}"),
            RedisError::Timeout => f.write_str("redis: timed out"),
            RedisError::Protocol(m) => write!(f, "redis: {m}"),
        }
    }
}

impl IntoResponse for RedisError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_GATEWAY, self.to_string()).into_response()
    }
}

/// Just enough RESP for PING, GET and SET: one command, one reply, on a fresh connection.
struct Conn(BufReader<TcpStream>);

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, RedisError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| RedisError::Timeout)??;
        Ok(Conn(BufReader::new(stream)))
    }

    /// Sends a command; returns a bulk or simple string reply (`None` for nil).
    async fn cmd(&mut self, args: &[&str]) -> Result<Option<String>, RedisError> {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.0.get_mut().write_all(out.as_bytes()).await?;
        let mut line = String::new();
        if self.0.read_line(&mut line).await? == 0 {
            return Err(RedisError::Protocol("connection closed".into()));
        }
        let line = line.trim_end();
        match line.split_at(1) {
            ("+", s) => Ok(Some(s.to_owned())),
            ("-", e) => Err(RedisError::Protocol(e.to_owned())),
            ("$", "-1") => Ok(None),
            ("$", n) => {
                let n: usize = n.parse().map_err(|_| RedisError::Protocol(line.into()))?;
                let mut buf = vec![0; n + 2];
                self.0.read_exact(&mut buf).await?;
                buf.truncate(n);
                String::from_utf8(buf)
                    .map(Some)
                    .map_err(|e| RedisError::Protocol(e.to_string()))
            }
            _ => Err(RedisError::Protocol(line.into())),
        }
    }
}

/// SET then GET `key` (two round trips), within `OP_TIMEOUT`.
async fn set_get(addr: SocketAddr, key: &str) -> Result<String, RedisError> {
    let op = async {
        let mut conn = Conn::open(addr).await?;
        conn.cmd(&["SET", key, "fresh"]).await?;
        conn.cmd(&["GET", key])
            .await?
            .ok_or(RedisError::Protocol("nil".into()))
    };
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .map_err(|_| RedisError::Timeout)?
}

async fn ping(addr: SocketAddr) -> bool {
    let op = async { Conn::open(addr).await?.cmd(&["PING"]).await };
    matches!(
        tokio::time::timeout(OP_TIMEOUT, op).await,
        Ok(Ok(Some(p))) if p == "PONG"
    )
}

#[derive(Clone)]
struct App {
    cache: CircuitBreaker,
    redis: SocketAddr,
}

async fn kv(
    State(app): State<App>,
    UrlPath(key): UrlPath<String>,
) -> Result<String, CallError<RedisError>> {
    app.cache.call(set_get(app.redis, &key)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_opens_the_breaker_and_recovery_closes_it() {
    if std::env::var_os("BREAKERBOX_SKIP_E2E").is_some() {
        eprintln!("BREAKERBOX_SKIP_E2E set: skipping the Redis end-to-end test");
        return;
    }
    let port = free_port();
    let mut redis = redis::start(port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eventually("redis to answer PING", Duration::from_secs(10), || async {
        ping(addr).await.then_some(())
    })
    .await;

    let registry = Registry::new();
    let preset = Config::cache()
        .into_builder()
        .reset_timeout(RESET)
        .build()
        .unwrap();
    let cache = registry.breaker("redis", preset.clone()).unwrap();
    let app = Router::new()
        .route("/kv/{key}", get(kv))
        .with_state(App {
            cache: cache.clone(),
            redis: addr,
        })
        .nest("/api/circuit-breakers", BreakerApi::new(&registry).router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, app).into_future());
    let http = client();
    let get_kv = || http.get(format!("{base}/kv/greeting")).send();
    let health_url = format!("{base}/api/circuit-breakers/health");
    let health_state = || async {
        let h = get_json(&http, &health_url).await;
        h["breakers"][0]["state"].as_str().unwrap().to_owned()
    };

    // Healthy: the handler round-trips through Redis.
    let res = get_kv().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "fresh");

    // Redis dies: calls fail (502) until the preset's 5 consecutive failures trip it.
    redis.kill();
    for i in 0..preset.failure_threshold() {
        let res = get_kv().await.unwrap();
        assert_eq!(res.status(), 502, "failure {i}");
    }
    assert_eq!(health_state().await, "open");
    let why = cache.snapshot().last_transition.unwrap();
    assert_eq!(why.reason.as_str(), "consecutive_failures");

    // Open: answered at once with 503 + Retry-After, Redis is not even tried.
    for _ in 0..5 {
        let res = get_kv().await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "1");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["type"], "CircuitBreakerOpen");
        assert_eq!(body["breaker"], "redis");
    }
    // Nothing waits on Redis: the five rejected requests never ran a Redis call (the
    // breaker's counts say so), so no client timeout could pile up.
    let totals = cache.snapshot().totals;
    assert_eq!((totals.failures, totals.rejected), (5, 5));

    // Redis comes back; after the reset timeout the breaker admits trial calls.
    let mut redis = redis::start(port);
    eventually(
        "redis to answer PING again",
        Duration::from_secs(10),
        || async { ping(addr).await.then_some(()) },
    )
    .await;
    eventually(
        "the breaker to go half-open",
        Duration::from_secs(10),
        || async { (health_state().await == "half_open").then_some(()) },
    )
    .await;
    for trial in 1..=Config::cache().success_threshold() {
        let res = get_kv().await.unwrap();
        assert_eq!(res.status(), 200, "trial {trial}");
        let closed = trial == Config::cache().success_threshold();
        let expected = if closed { "closed" } else { "half_open" };
        assert_eq!(health_state().await, expected, "after trial {trial}");
    }
    let why = cache.snapshot().last_transition.unwrap();
    assert_eq!(why.reason.as_str(), "half_open_success");

    server.abort();
    redis.kill();
}
