//! Prometheus and Alertmanager as real processes (Debian packages `prometheus` and
//! `prometheus-alertmanager`), on 127.0.0.1 and a free port, with a temporary directory.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::eventually::eventually;
use super::http::client;
use super::process::{Server, free_port, write};

/// Starts Alertmanager routing every alert to `webhook_url`, grouped by alert name and
/// breaker, delivered after 100 ms (then every 200 ms while the group changes), resolved
/// notifications on. Start it before Prometheus; wait for it with [`ready`].
pub fn alertmanager(webhook_url: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        r#"route:
  receiver: test
  group_by: [alertname, breaker]
  group_wait: 100ms
  group_interval: 200ms
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

/// The scrape and rule-evaluation interval of [`prometheus`].
pub const INTERVAL: &str = "1s";

/// Starts Prometheus scraping `targets` and evaluating `rule_files` every [`INTERVAL`], and
/// sending alerts to `alertmanager` (host:port) if given. Wait for it with [`ready`].
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
        "global:\n  scrape_interval: {INTERVAL}\n  evaluation_interval: {INTERVAL}\nrule_files:\n{rules}{alerting}scrape_configs:\n  - job_name: breakerbox\n    static_configs:\n      - targets: [{targets}]\n"
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

/// Waits until `server` (Prometheus or Alertmanager) answers `/-/ready` with a success.
pub async fn ready(server: &Server) {
    let http = client();
    let url = format!("{}/-/ready", server.url());
    let what = format!("{} ready", server.name);
    eventually(&what, Duration::from_secs(20), || async {
        let r = http.get(&url).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await
}
