//! Real HTTP for the tests: an axum app served on a free loopback port, and a reqwest
//! client that needs no proxy and installs the crypto provider first.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;

/// An axum server on a free loopback port, stopped when dropped.
pub struct Served {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Served {
    /// Serves `app` on 127.0.0.1 and a port the system picks.
    pub async fn start(app: Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Served { addr, task }
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A reqwest client without proxy and with a 10 s request timeout (a bound on a hang, not
/// a timing assertion).
pub fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: install ring (once per process).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GETs `url` and decodes the JSON body; panics when the request or the body fails.
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    json(http.get(url)).await
}

/// Sends `request` and decodes the JSON body; panics when the request or the body fails.
pub async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    let url = response.url().clone();
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{url}: not JSON: {e}"))
}
