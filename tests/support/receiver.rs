//! A real HTTP receiver on 127.0.0.1 (axum) that records every request and answers as
//! scripted, and a TCP server that never answers (a hung dependency).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

use super::eventually::eventually;

/// How the HTTP receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// 200 to every request.
    Ok,
    /// 500 to the first `n` requests, then 200.
    FailFirst(u32),
    /// Never answers.
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered with (0 for a hung request).
    pub status: u16,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("body is not JSON")
    }
}

struct ReceiverState {
    answer: Answer,
    seen: AtomicU32,
    requests: Mutex<Vec<Received>>,
}

/// An HTTP server on 127.0.0.1 recording every request.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Serves on 127.0.0.1 and a port the system picks, answering as `answer` says.
    pub async fn start(answer: Answer) -> Receiver {
        let state = Arc::new(ReceiverState {
            answer,
            seen: AtomicU32::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, state, task }
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, hung ones included.
    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Waits until `n` requests were answered 2xx.
    pub async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Received> {
        eventually("accepted requests", within, || {
            let a = self.accepted();
            std::future::ready((a.len() >= n).then_some(a))
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = state.seen.fetch_add(1, Ordering::SeqCst);
    let status = match state.answer {
        Answer::Ok => StatusCode::OK,
        Answer::FailFirst(k) if n < k => StatusCode::INTERNAL_SERVER_ERROR,
        Answer::FailFirst(_) => StatusCode::OK,
        Answer::Hang => StatusCode::from_u16(599).unwrap(),
    };
    state.requests.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
        status: if matches!(state.answer, Answer::Hang) {
            0
        } else {
            status.as_u16()
        },
    });
    if matches!(state.answer, Answer::Hang) {
        std::future::pending::<()>().await;
    }
    status
}

/// A TCP server that accepts connections and never answers: a hung dependency.
pub async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}
