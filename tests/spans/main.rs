//! Spans as OpenTelemetry receives them, and the span policies that decide which calls get
//! a span. One test binary for both.

#[path = "../support/mod.rs"]
mod support;

mod span_policy;
mod spans;
