//! The breaker itself: every transition, config validation and presets, a reference model
//! (property test), robustness against extreme inputs, exact counts under contention, the
//! metric-name contract, and `Send + Sync` of the public types. One test binary (one link)
//! for all of them.

#[path = "../support/mod.rs"]
mod support;

mod config;
mod contract;
mod model;
mod robustness;
mod send_sync;
mod stress;
mod transitions;
