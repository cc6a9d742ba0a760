//! Real servers for end-to-end tests: started on loopback ports the test picks, with a
//! temporary data directory, and stopped by PID (TERM, then KILL) when the guard drops,
//! also when the test panics.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Whether `bin` is on the PATH.
pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running server process; stopped when dropped.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `cmd` (already given its arguments) with its output in `dir/NAME.log`.
    pub fn spawn(
        name: &'static str,
        port: u16,
        dir: tempfile::TempDir,
        mut cmd: Command,
    ) -> Server {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Server {
            name,
            port,
            child,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server: TERM, then KILL after three seconds.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts Alertmanager routing every alert to `webhook_url`, grouped by alert name and
/// breaker, delivered after 100 ms, resolved notifications on.
pub fn alertmanager(webhook_url: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        r#"route:
  receiver: test
  group_by: [alertname, breaker]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: "{webhook_url}"
        send_resolved: true
"#
    );
    let cfg = write(dir.path(), "alertmanager.yml", &config);
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    Server::spawn("alertmanager", port, dir, cmd)
}

/// Starts Prometheus scraping `targets` every second, evaluating `rule_files` every second
/// and sending alerts to `alertmanager` (host:port) if given.
pub fn prometheus(targets: &[String], rules: &[PathBuf], alertmanager: Option<String>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let targets = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let rules = rules
        .iter()
        .map(|r| format!("  - '{}'\n", r.display()))
        .collect::<String>();
    let alerting = alertmanager
        .map(|am| {
            format!(
                "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n"
            )
        })
        .unwrap_or_default();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{rules}{alerting}scrape_configs:\n  - job_name: breakerbox\n    static_configs:\n      - targets: [{targets}]\n"
    );
    let cfg = write(dir.path(), "prometheus.yml", &config);
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-lifecycle")
        .arg("--rules.alert.resend-delay=1s");
    Server::spawn("prometheus", port, dir, cmd)
}
