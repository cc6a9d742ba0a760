//! OpenTelemetry helper for applications (feature `otel`): a `tracing` layer that exports
//! breakerbox's spans (and the application's own) through a tracer provider of your
//! choice, e.g. an OTLP exporter. breakerbox never installs a tracer provider itself.
//!
//! ```
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let provider = SdkTracerProvider::builder().build(); // add your exporter here
//! let subscriber = tracing_subscriber::registry()
//!     .with(breakerbox::observe::otel::layer(&provider));
//! tracing::subscriber::with_default(subscriber, || {
//!     let breaker = breakerbox::CircuitBreaker::new("api");
//!     let _ = breaker.call_sync(|| Ok::<_, ()>(()));
//! });
//! ```
//!
//! Spans are at target `breakerbox`, level `INFO`; filter them like any other
//! (`RUST_LOG=breakerbox=warn` drops the per-call spans and keeps trips to open).

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{Tracer, TracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// The instrumentation scope name of the tracer [`layer`] builds.
pub const SCOPE: &str = "breakerbox";

/// A `tracing-opentelemetry` layer exporting spans through a tracer of `provider`, with the
/// instrumentation scope `breakerbox` and the crate's version.
///
/// Busy/idle time tracking (`busy_ns`, `idle_ns`) is off: it reads the clock on every
/// enter and exit of every span and adds nothing a call span's duration does not say.
pub fn layer<S, P>(provider: &P) -> OpenTelemetryLayer<S, P::Tracer>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    P: TracerProvider,
    P::Tracer: Tracer + 'static,
    <P::Tracer as Tracer>::Span: Send + Sync,
{
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    tracing_opentelemetry::layer()
        .with_tracked_inactivity(false)
        .with_tracer(provider.tracer_with_scope(scope))
}
