//! Observation at the edges: metric and span names, and the per-breaker observer that
//! the engine calls on every call, rejection and transition.

pub mod names;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::event::{Outcome, Transition};
use crate::state::State;
use crate::window::WindowCounts;

/// Per-breaker observation hooks, built once when the breaker is built.
#[derive(Debug)]
pub(crate) struct Observer {
    #[allow(dead_code)]
    name: Arc<str>,
}

impl Observer {
    pub(crate) fn new(name: &Arc<str>, _config: &Config, _state: State, _since_unix: f64) -> Self {
        Observer { name: name.clone() }
    }

    #[inline]
    pub(crate) fn call(&self, _state: State, _outcome: Outcome, _duration: Duration, _slow: bool) {}

    #[inline]
    pub(crate) fn rejected(&self, _state: State) {}

    pub(crate) fn transition(&self, _t: &Transition, _since_unix: f64) {}

    pub(crate) fn would_open(&self, _t: &Transition) {}

    pub(crate) fn config(&self, _config: &Config) {}

    pub(crate) fn rates(&self, _counts: WindowCounts, _min_calls: u32) {}
}
