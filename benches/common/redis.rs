//! A redis-server for the fleet bench: the test suite's launcher (127.0.0.1, a free port, a
//! temporary directory, no persistence; stopped by PID when dropped).

#[path = "../../tests/support/process.rs"]
mod process;
#[path = "../../tests/support/redis.rs"]
mod server;

/// A running redis-server.
pub struct Redis(process::Server);

impl Redis {
    /// Starts one and waits until it accepts connections; `None` without `redis-server`.
    pub fn start() -> Option<Redis> {
        server::try_start(process::free_port()).map(Redis)
    }

    pub fn url(&self) -> String {
        server::url(self.0.port)
    }
}
