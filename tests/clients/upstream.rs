//! A real upstream: an axum server on loopback whose answer the test switches at will,
//! counting the requests it receives.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use breakerbox::reqwest::CircuitBreakerMiddleware;
use breakerbox::{Config, ManualClock, Registry};

use crate::support::http::{Served, client};

/// How the upstream answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 "ok".
    Ok,
    /// This status, with `Retry-After: secs` when set.
    Status(u16, Option<u64>),
    /// Never answers.
    Hang,
}

#[derive(Clone)]
struct Shared {
    mode: Arc<Mutex<Mode>>,
    hits: Arc<AtomicU64>,
}

/// A running upstream.
pub struct Upstream {
    served: Served,
    shared: Shared,
}

impl Upstream {
    /// Starts an upstream answering 200.
    pub async fn start() -> Upstream {
        let shared = Shared {
            mode: Arc::new(Mutex::new(Mode::Ok)),
            hits: Arc::default(),
        };
        let app = Router::new()
            .fallback(any(answer))
            .with_state(shared.clone());
        Upstream {
            served: Served::start(app).await,
            shared,
        }
    }

    /// Answers `mode` from now on.
    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// The requests received so far.
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// The origin, as the middleware keys it.
    pub fn origin(&self) -> String {
        self.served.url("")
    }
}

async fn answer(State(shared): State<Shared>) -> (StatusCode, HeaderMap, &'static str) {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *shared.mode.lock().unwrap();
    match mode {
        Mode::Ok => (StatusCode::OK, HeaderMap::new(), "ok"),
        Mode::Status(code, retry) => {
            let mut headers = HeaderMap::new();
            if let Some(secs) = retry {
                headers.insert("retry-after", secs.into());
            }
            (
                StatusCode::from_u16(code).unwrap(),
                headers,
                "upstream says no",
            )
        }
        Mode::Hang => std::future::pending().await,
    }
}

/// A loopback address on which nothing listens: the port of a listener just closed.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

/// A registry on a manual clock.
pub fn registry() -> (Registry, ManualClock) {
    let clock = ManualClock::new();
    (Registry::builder().clock(clock.clone()).build(), clock)
}

/// Trips after `n` consecutive failures, waits 10 s open, closes after one success.
pub fn trips_after(n: u32) -> Config {
    Config::external_api()
        .into_builder()
        .failure_threshold(n)
        .reset_timeout(std::time::Duration::from_secs(10))
        .max_reset_timeout(std::time::Duration::from_secs(60))
        .success_threshold(1)
        .build()
        .unwrap()
}

/// A client with `mw` and nothing else.
pub fn client_with(mw: CircuitBreakerMiddleware) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(client())
        .with(mw)
        .build()
}
