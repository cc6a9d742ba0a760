//! Support shared by every test binary: each helper exists once, here.
//!
//! - [`process`]: server processes stopped by PID when their guard drops, free ports;
//! - [`eventually`]: polling with a bounded deadline instead of sleeping;
//! - launchers of real servers on 127.0.0.1: [`servers`] (Prometheus, Alertmanager),
//!   [`redis`], [`smtp`], the HTTP [`receiver`], the [`demo`] example as a process;
//! - [`http`]: an app served on a free port and a client;
//! - [`logs`]: log lines captured from a `tracing` subscriber;
//! - [`prom_text`]: the Prometheus text-format parser; [`metric_names`]: the metric-name
//!   scanner; [`recorded`]: series of a debugging recorder; [`drive`]: a breaker driven
//!   through every state; [`contention`]: threads racing one breaker;
//! - [`notify`]: notifier channels for the notifier tests;
//! - `fleet_sim`: R simulated fleet replicas' rounds against a real Redis (also the bench's).
//!
//! A test binary declares it with `#[path = "../support/mod.rs"] mod support;` and uses
//! what it needs; the rest is dead code there.
#![allow(dead_code)]

#[cfg(feature = "test-util")]
pub mod contention;
pub mod demo;
#[cfg(feature = "test-util")]
pub mod drive;
pub mod eventually;
#[cfg(feature = "fleet-redis")]
pub mod fleet_sim;
pub mod http;
#[cfg(feature = "tracing")]
pub mod logs;
pub mod metric_names;
#[cfg(feature = "notify-email")]
pub mod notify;
pub mod process;
pub mod prom_text;
pub mod receiver;
pub mod recorded;
pub mod redis;
pub mod servers;
pub mod smtp;
