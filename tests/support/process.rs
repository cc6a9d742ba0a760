//! Server processes for the tests: started on 127.0.0.1 and a port the test picks, with a
//! temporary directory for their data and log, and stopped by PID (TERM, then KILL after
//! three seconds) when their guard drops, also when the test panics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A port where nothing listens: connections are refused.
pub fn dead_port() -> u16 {
    free_port()
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

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A running server process; stopped when dropped, before its directory is removed.
pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `cmd` (already given its arguments) with its output in `dir/NAME.log`.
    ///
    /// # Panics
    /// When the program cannot be started (not installed).
    pub fn spawn(name: &'static str, port: u16, dir: tempfile::TempDir, cmd: Command) -> Server {
        Server::try_spawn(name, port, dir, cmd)
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (is it installed?)"))
    }

    /// [`Server::spawn`], with the error instead of a panic.
    pub fn try_spawn(
        name: &'static str,
        port: u16,
        dir: tempfile::TempDir,
        mut cmd: Command,
    ) -> std::io::Result<Server> {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Server {
            name,
            port,
            child,
            dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What it wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`-KILL`, `-STOP`, `-CONT`, ...) to the process by PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {}", self.name);
    }

    /// Whether it accepts connections on its port now.
    pub fn accepts(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    /// Waits, blocking, until it accepts connections: `false` after `within` (or when it
    /// exited).
    pub fn wait_accepting(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.accepts() {
            if Instant::now() > deadline || self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Kills it at once (SIGKILL, no goodbye) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        eprintln!("{} did not stop on TERM; killing", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
