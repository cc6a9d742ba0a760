//! Span export over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the standard OpenTelemetry variables:
//! every `breakerbox.call` span, rejection and transition goes to a collector (Jaeger,
//! Tempo, the OpenTelemetry Collector). `OTEL_SERVICE_NAME` names the service.

use breakerbox::observe::otel;
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

/// Installs a global `tracing` subscriber exporting spans through OTLP when the endpoint
/// variable is set; returns the provider to shut down (flush) at exit, `None` otherwise.
///
/// # Errors
/// When the endpoint is not a valid URL or a subscriber is already installed.
pub fn install() -> Result<Option<SdkTracerProvider>, Box<dyn std::error::Error + Send + Sync>> {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    // The exporter's HTTP client uses rustls without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = SpanExporter::builder().with_http().build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let subscriber = tracing_subscriber::registry().with(otel::layer(&provider));
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(Some(provider))
}
