//! Support shared by every test binary: each helper exists once, here.
//!
//! - [`process`]: server processes stopped by PID when their guard drops, free ports;
//! - [`eventually`]: polling with a bounded deadline instead of sleeping;
//! - launchers of real servers on 127.0.0.1: [`servers`] (Prometheus, Alertmanager),
//!   [`redis`], [`smtp`], the HTTP [`receiver`], the [`demo`] example as a process;
//! - [`http`]: an app served on a free port and a client;
//! - [`logs`]: log lines captured from a `tracing` subscriber;
//! - [`prom_text`]: the Prometheus text-format parser; [`metric_names`]: the metric-name
//!   scanner; [`drive`]: a breaker driven through every state.
//!
//! A test binary declares it with `#[path = "../support/mod.rs"] mod support;` and uses
//! what it needs; the rest is dead code there.
#![allow(dead_code)]

pub mod demo;
#[cfg(feature = "test-util")]
pub mod drive;
pub mod eventually;
pub mod http;
#[cfg(feature = "tracing")]
pub mod logs;
pub mod metric_names;
pub mod process;
pub mod prom_text;
pub mod receiver;
pub mod redis;
pub mod servers;
pub mod smtp;
