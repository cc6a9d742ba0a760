//! A real SMTP server: Debian's aiosmtpd (under `/usr/bin/python3`, package
//! `python3-aiosmtpd`) running `smtp.py`, which writes one JSON file per message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::eventually::{eventually, wait_for_port};
use super::process::{Server, free_port};

/// An SMTP server (aiosmtpd) writing one JSON file per message: envelope, headers and the
/// decoded plain-text and HTML parts. Stopped by PID when dropped.
pub struct SmtpServer {
    pub port: u16,
    server: Server,
}

impl SmtpServer {
    /// Starts the server; with `auth`, it requires AUTH with that user and password.
    pub async fn start(auth: Option<(&str, &str)>) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .arg(dir.path());
        if let Some((user, password)) = auth {
            cmd.arg(format!("{user}:{password}"));
        }
        let server = Server::spawn("aiosmtpd", port, dir, cmd);
        wait_for_port(port, Duration::from_secs(10)).await;
        SmtpServer { port, server }
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.server.dir.path())
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

    /// Waits until at least `n` messages arrived; returns them all.
    pub async fn wait_messages(&self, n: usize, within: Duration) -> Vec<serde_json::Value> {
        eventually("email messages", within, || {
            let m = self.messages();
            std::future::ready((m.len() >= n).then_some(m))
        })
        .await
    }
}
