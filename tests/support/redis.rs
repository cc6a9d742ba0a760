//! `redis-server` on 127.0.0.1 and a port the caller picks: a temporary directory, no
//! persistence, stopped by PID when its guard drops. Debian package `redis-server`.

use std::process::Command;
use std::time::Duration;

use super::process::Server;

/// How long a starting redis-server may take to accept connections (it takes about 40 ms).
const START: Duration = Duration::from_secs(10);

/// `redis://127.0.0.1:PORT`.
pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// Starts redis-server on `port` and waits until it accepts connections; `None` when it is
/// not installed or never accepts.
pub fn try_start(port: u16) -> Option<Server> {
    let dir = tempfile::tempdir().ok()?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir.path())
        .args(["--save", "", "--appendonly", "no"]);
    let mut server = Server::try_spawn("redis", port, dir, cmd).ok()?;
    server.wait_accepting(START).then_some(server)
}

/// [`try_start`], or a panic that says what is missing.
pub fn start(port: u16) -> Server {
    try_start(port)
        .expect("redis-server on the PATH (Debian package `redis-server`) accepting connections")
}
