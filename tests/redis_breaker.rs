//! End to end against a real Redis: an axum handler reads and writes Redis through a
//! breaker with the `cache` preset; Redis is killed, the breaker opens and the endpoint
//! answers 503 at once; Redis comes back, the breaker probes (half-open) and closes.
//!
//! Needs `redis-server` on the PATH (Debian package `redis-server`). It runs on 127.0.0.1,
//! a free port and a temporary directory without persistence, and is stopped by PID, also
//! when the test panics. Set `BREAKERBOX_SKIP_E2E=1` to skip where it is not installed.
#![cfg(feature = "axum")]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use breakerbox::http::BreakerApi;
use breakerbox::{CallError, CircuitBreaker, Config, Registry};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Connect and per-operation timeouts of the Redis client: short, so that a hung Redis
/// costs little even before the breaker opens.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// The breaker's reset timeout in this test (the preset's is 10 s).
const RESET: Duration = Duration::from_secs(1);

/// A `redis-server` child process, stopped by PID when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16, dir: &Path) -> Redis {
        let log = std::fs::File::create(dir.join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("redis-server on the PATH (Debian package `redis-server`)");
        Redis { child, port }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

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

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Polls `check` every 20 ms until it holds; panics after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_opens_the_breaker_and_recovery_closes_it() {
    if std::env::var_os("BREAKERBOX_SKIP_E2E").is_some() {
        eprintln!("BREAKERBOX_SKIP_E2E set: skipping the Redis end-to-end test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = Redis::start(port, dir.path());
    let addr = redis.addr();
    eventually("redis to answer PING", Duration::from_secs(10), || {
        ping(addr)
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
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let get_kv = || http.get(format!("{base}/kv/greeting")).send();
    let health_state = || async {
        let h: serde_json::Value = http
            .get(format!("{base}/api/circuit-breakers/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
    let mut redis = Redis::start(port, dir.path());
    eventually(
        "redis to answer PING again",
        Duration::from_secs(10),
        || ping(addr),
    )
    .await;
    eventually(
        "the breaker to go half-open",
        Duration::from_secs(10),
        || async { health_state().await == "half_open" },
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
