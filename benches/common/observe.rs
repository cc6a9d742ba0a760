//! Observation environments a breaker is built and called in.

use std::fmt;

use breakerbox::{CircuitBreaker, Config, DurationHistogram, Registry, SpanPolicy};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Span, SpanData, SpanProcessor};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Buckets of the duration histogram (seconds), as an application would configure them.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What is installed while a breaker is built and called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obs {
    /// No metrics recorder, no tracing subscriber: the facades' no-op paths.
    None,
    /// A Prometheus recorder for the counters; the breakers keep no duration histogram
    /// (`DurationHistogram::Off`), and the recorder hands out no-op histogram handles.
    Counters,
    /// A Prometheus recorder with buckets for the duration histogram.
    Histogram,
    /// A tracing subscriber with an OpenTelemetry layer, a span for every call
    /// (`SpanPolicy::all`), every span sampled.
    OtelSampled,
    /// The same, no span sampled by the OpenTelemetry sampler: the span is still created.
    OtelNotSampled,
    /// The OpenTelemetry layer with the default span policy: one ordinary call in 100 gets
    /// a span, sampled.
    OtelDefaultPolicy,
    /// The OpenTelemetry layer, and a span policy that chooses no ordinary call
    /// (`SpanPolicy::only_what_matters`): the cost of an unsampled ordinary success.
    OtelUnchosen,
}

impl Obs {
    /// The suffix of the benchmark id.
    pub fn id(self) -> &'static str {
        match self {
            Obs::None => "breakerbox",
            Obs::Counters => "breakerbox_counters",
            Obs::Histogram => "breakerbox_histogram",
            Obs::OtelSampled => "breakerbox_otel_sampled",
            Obs::OtelNotSampled => "breakerbox_otel_not_sampled",
            Obs::OtelDefaultPolicy => "breakerbox_otel_default_policy",
            Obs::OtelUnchosen => "breakerbox_otel_unchosen",
        }
    }

    /// The span policy of the breakers built in this environment.
    pub fn span_policy(self) -> SpanPolicy {
        match self {
            Obs::OtelSampled | Obs::OtelNotSampled => SpanPolicy::all(),
            Obs::OtelUnchosen => SpanPolicy::only_what_matters(),
            _ => SpanPolicy::default(),
        }
    }
}

/// A span processor that drops every span: the cost measured is the instrumentation's,
/// not an export pipeline's.
#[derive(Debug)]
struct DropSpans;

impl SpanProcessor for DropSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        std::hint::black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// A Prometheus recorder that takes counters and gauges but hands out no-op histograms:
/// "counters only", to show what the duration histogram adds.
#[derive(Debug)]
struct CountersOnly(PrometheusRecorder);

impl Recorder for CountersOnly {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(key, metadata)
    }
    fn register_histogram(&self, _key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// An installed environment. Breakers must be built and called inside [`Env::scope`].
pub struct Env {
    pub obs: Obs,
    recorder: Option<Box<dyn Recorder + Send + Sync>>,
    handle: Option<PrometheusHandle>,
    /// The breakers built in this environment: what a scrape renders.
    registry: Registry,
    dispatch: Option<Dispatch>,
    provider: Option<SdkTracerProvider>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env").field("obs", &self.obs).finish()
    }
}

impl Env {
    pub fn new(obs: Obs) -> Env {
        let mut env = Env {
            obs,
            recorder: None,
            handle: None,
            registry: Registry::new(),
            dispatch: None,
            provider: None,
        };
        match obs {
            Obs::None => {}
            Obs::Counters | Obs::Histogram => {
                let mut builder = PrometheusBuilder::new();
                if obs == Obs::Histogram {
                    builder = builder.set_buckets(&BUCKETS).expect("buckets");
                }
                let recorder = builder.build_recorder();
                env.handle = Some(recorder.handle());
                env.recorder = Some(if obs == Obs::Counters {
                    Box::new(CountersOnly(recorder))
                } else {
                    Box::new(recorder)
                });
            }
            Obs::OtelSampled | Obs::OtelNotSampled | Obs::OtelDefaultPolicy | Obs::OtelUnchosen => {
                let sampler = if obs == Obs::OtelNotSampled {
                    Sampler::AlwaysOff
                } else {
                    Sampler::AlwaysOn
                };
                let provider = SdkTracerProvider::builder()
                    .with_sampler(sampler)
                    .with_span_processor(DropSpans)
                    .build();
                let layer = breakerbox::observe::otel::layer(&provider);
                let subscriber = tracing_subscriber::registry().with(layer);
                env.dispatch = Some(Dispatch::new(subscriber));
                env.provider = Some(provider);
            }
        }
        env
    }

    /// Runs `f` with this environment's recorder and subscriber as the thread's defaults.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let f = || match &self.dispatch {
            Some(d) => tracing::dispatcher::with_default(d, f),
            None => f(),
        };
        match &self.recorder {
            Some(r) => metrics::with_local_recorder(r.as_ref(), f),
            None => f(),
        }
    }

    /// Builds a breaker inside the environment, so its metric handles bind to the
    /// recorder (handles are registered once, when the breaker is built), in the
    /// environment's registry, so a scrape renders it.
    pub fn breaker(&self, name: &str, config: Config) -> CircuitBreaker {
        self.scope(|| {
            self.registry.set_span_policy(self.obs.span_policy());
            if self.obs == Obs::Counters {
                self.registry.set_duration_histogram(DurationHistogram::Off);
            }
            self.registry.breaker(name, config).expect("valid breaker")
        })
    }

    /// A Prometheus scrape (`breakerbox::observe::prometheus::render`): drains what the
    /// recorder accumulated (histogram samples are buffered until rendered) and publishes
    /// the breakers' lifetime counters, as a server scraped every few seconds does; called
    /// between samples, outside the timed loop.
    pub fn drain(&self) {
        if let Some(h) = &self.handle {
            std::hint::black_box(breakerbox::observe::prometheus::render(h, &self.registry));
        }
    }

    /// The recorder's exposition text (to check that the bench recorded something).
    pub fn render(&self) -> String {
        self.handle.as_ref().map(|h| h.render()).unwrap_or_default()
    }
}
