//! Against a real redis-server: fleet mode (breakers that agree across replicas through
//! Redis) and an axum handler whose Redis dies and comes back. One test binary for both.
//!
//! Needs `redis-server` on the PATH (Debian package `redis-server`); each test starts its
//! own on 127.0.0.1 and a free port, stopped by PID, also when the test panics.

#[path = "../support/mod.rs"]
mod support;

mod fleet;
mod redis_breaker;
