//! Logs on stderr, always: the state store, fleet, notifier and admin messages an operator
//! reads ("check the replica's log"), filtered like `RUST_LOG` (`target=level` pairs, a
//! bare level for everything else: `RUST_LOG=debug`, `RUST_LOG=warn,breakerbox::admin=info`).
//! Spans also go to an OpenTelemetry collector over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the
//! standard variables; `OTEL_SERVICE_NAME` names the service.

use breakerbox::observe::otel;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

/// The filter without `RUST_LOG`: warnings from everything, and the breakerbox messages an
/// operator reads at info. State changes are printed on stdout already unless `quiet`, so
/// their log lines (`breakerbox::transition`) are off then.
pub fn default_filter(quiet: bool) -> String {
    let transitions = if quiet { "info" } else { "off" };
    format!(
        "warn,breakerbox::store=info,breakerbox::fleet=info,breakerbox::admin=info,\
         breakerbox::transition={transitions}"
    )
}

/// Installs the global `tracing` subscriber: readable lines on stderr filtered by
/// `RUST_LOG` (or [`default_filter`]), plus OTLP export when its endpoint is set. Returns
/// the OTLP provider to shut down (flush) at exit.
///
/// # Errors
/// When `RUST_LOG` is not a valid filter, the OTLP endpoint is not a valid URL, or a
/// subscriber is already installed.
pub fn install(
    quiet: bool,
) -> Result<Option<SdkTracerProvider>, Box<dyn std::error::Error + Send + Sync>> {
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default_filter(quiet));
    let filter: Targets = spec.parse().map_err(|e| {
        format!("RUST_LOG={spec:?} is not a filter such as `warn,breakerbox::admin=info`: {e}")
    })?;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter);
    let provider = otlp_provider()?;
    let otlp = provider.as_ref().map(otel::layer);
    let subscriber = tracing_subscriber::registry().with(stderr).with(otlp);
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(provider)
}

fn otlp_provider() -> Result<Option<SdkTracerProvider>, Box<dyn std::error::Error + Send + Sync>> {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    // The exporter's HTTP client uses rustls without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = SpanExporter::builder().with_http().build()?;
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build(),
    ))
}
