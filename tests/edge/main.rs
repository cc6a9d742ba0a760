//! The HTTP edge over real HTTP: an axum server on 127.0.0.1:0 and a reqwest client.
//! Rejections keep keep-alive clients healthy, can hide breaker names, route breakers
//! exist before the first request, readiness can ignore optional dependencies.
#![cfg(all(feature = "axum", feature = "test-util"))]

mod keepalive;
#[cfg(feature = "limit")]
mod limits;
mod public;
mod routes;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;

/// An axum server on a free loopback port, stopped when dropped.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Served {
    pub(crate) async fn start(app: Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Served { addr, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: install ring (once per process).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
