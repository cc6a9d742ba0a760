//! Metrics: exact values from a debugging recorder, the Prometheus rendering (counters at
//! scrape, the one-hot state gauge, scrapes racing operator actions, the eager timer), and
//! `promtool check metrics` on the exporter's output. One test binary for all of them.

#[path = "../support/mod.rs"]
mod support;

mod counters_at_scrape;
mod debugging;
mod prometheus;
mod promtool;
mod scrape;
mod timer;
