//! Real servers for the notifier tests, on 127.0.0.1 only: an HTTP receiver (axum) with
//! scripted answers, an SMTP server (Debian's aiosmtpd under `/usr/bin/python3`) and
//! `prometheus-alertmanager`. Each process is stopped by PID when its guard drops.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

/// A port free at the time of asking.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A port where nothing listens: connections are refused.
pub fn dead_port() -> u16 {
    free_port()
}

/// A child process stopped by PID (TERM, then KILL after 3 s) when dropped.
pub struct Process {
    child: Child,
    name: &'static str,
}

impl Process {
    /// Starts `cmd` with its output in `log` (or the test's stderr).
    pub fn spawn(name: &'static str, cmd: &mut Command, log: Option<&Path>) -> Process {
        let stderr = match log.map(std::fs::File::create) {
            Some(Ok(file)) => Stdio::from(file),
            _ => Stdio::inherit(),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (is it installed?)"));
        Process { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on TERM; killing", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, within: Duration) {
    let end = Instant::now() + within;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < end, "nothing listens on port {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `f` until it returns `Some`, or panics after `within` with `what`.
pub async fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
            (a.len() >= n).then_some(a)
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

/// An SMTP server (aiosmtpd) writing one JSON file per message: envelope, headers and the
/// decoded plain-text and HTML parts.
pub struct SmtpServer {
    pub port: u16,
    // Fields drop in order: the process stops before its directory goes.
    _process: Process,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server; with `auth`, it requires AUTH with that user and password.
    pub async fn start(auth: Option<(&str, &str)>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/notify_smtp.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .arg(dir.path());
        if let Some((user, password)) = auth {
            cmd.arg(format!("{user}:{password}"));
        }
        let process = Process::spawn("aiosmtpd", &mut cmd, None);
        wait_for_port(port, Duration::from_secs(10)).await;
        SmtpServer {
            port,
            dir,
            _process: process,
        }
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    pub async fn wait_messages(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        eventually("email messages", within, || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
        .await
    }
}

/// A real Alertmanager whose only receiver is a webhook to `webhook_url`, grouping by
/// `alertname` and `breaker` with a 100 ms group wait.
pub struct Alertmanager {
    pub port: u16,
    _process: Process,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub async fn start(webhook_url: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_by: [alertname, breaker]\n  \
                 group_wait: 100ms\n  group_interval: 200ms\n  repeat_interval: 1h\n\
                 receivers:\n  - name: hook\n    webhook_configs:\n      \
                 - url: {webhook_url}\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let process = Process::spawn(
            "prometheus-alertmanager",
            Command::new("prometheus-alertmanager")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
            Some(&dir.path().join("alertmanager.log")),
        );
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let ok = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
                && http_get_ok(&ready).await;
            if ok {
                break;
            }
            assert!(Instant::now() < end, "alertmanager did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Alertmanager {
            port,
            _dir: dir,
            _process: process,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn http_get_ok(url: &str) -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match reqwest::get(url).await {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    }
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
