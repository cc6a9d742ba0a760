//! Span policies: which calls get a `breakerbox.call` span, decided before the span is
//! created. Every call that matters (failure, timeout, slow call, rejection, half-open trial,
//! transition) is traced whatever the policy; ordinary successes are sampled at the source.
#![cfg(all(feature = "otel", feature = "test-util"))]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use breakerbox::observe::names::*;
use breakerbox::{CircuitBreaker, Config, ManualClock, Registry, SpanPolicy, State};
use opentelemetry::Value;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SdkTracerProvider, ShouldSample, SpanData,
};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, SubscriberExt};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Counts `breakerbox.call` spans as `tracing` creates them: what the policy decides is
/// whether a span is created at all, not whether the exporter drops it.
#[derive(Clone, Default)]
struct Created(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Created {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _cx: Context<'_, S>) {
        if attrs.metadata().name() == SPAN_CALL {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Created {
    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `f` under an OpenTelemetry layer with `sampler`; returns the number of call spans
/// created and the exported spans.
fn capture_sampled<T>(
    sampler: impl ShouldSample + 'static,
    f: impl FnOnce() -> T,
) -> (T, usize, Vec<SpanData>) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_simple_exporter(exporter.clone())
        .build();
    let created = Created::default();
    let subscriber = tracing_subscriber::registry()
        .with(breakerbox::observe::otel::layer(&provider))
        .with(created.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    provider.force_flush().unwrap();
    (out, created.get(), exporter.get_finished_spans().unwrap())
}

fn capture<T>(f: impl FnOnce() -> T) -> (T, usize, Vec<SpanData>) {
    capture_sampled(Sampler::AlwaysOn, f)
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::from(v.to_owned()))
}

fn calls(spans: &[SpanData]) -> Vec<&SpanData> {
    spans.iter().filter(|sp| sp.name == SPAN_CALL).collect()
}

fn config(threshold: u32) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .slow_call_duration(secs(1))
        .reset_timeout(secs(10))
        .success_threshold(2)
        .half_open_max_calls(2)
        .build()
        .unwrap()
}

fn breaker(clock: &ManualClock, threshold: u32, policy: Option<SpanPolicy>) -> CircuitBreaker {
    let mut b = CircuitBreaker::builder("payments")
        .config(config(threshold))
        .clock(clock.clone());
    if let Some(p) = policy {
        b = b.span_policy(p);
    }
    b.build().unwrap()
}

#[test]
fn the_default_policy_traces_one_success_in_a_hundred() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5, None);
    assert_eq!(b.span_policy(), SpanPolicy::default());
    let (_, created, spans) = capture(|| {
        for _ in 0..1000 {
            b.call_sync(|| Ok::<_, ()>(1)).unwrap();
        }
    });
    assert_eq!(created, 10, "decided before the span is created");
    let calls = calls(&spans);
    assert_eq!(calls.len(), 10);
    for sp in calls {
        assert_eq!(attr(sp, ATTR_OUTCOME), s("success"));
        assert_eq!(attr(sp, ATTR_AFTER_THE_FACT), None);
    }
    assert_eq!(b.snapshot().totals.successes, 1000);
}

#[test]
fn the_async_path_samples_the_same_way() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5, None);
    let (_, created, _) = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..300 {
                b.call(async { Ok::<_, ()>(1) }).await.unwrap();
            }
        });
    });
    assert_eq!(created, 3);
}

#[test]
fn every_failure_and_rejection_has_a_span_under_the_default_policy() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1_000, None);
    let (_, _, spans) = capture(|| {
        // 500 calls, one in five a failure: none of the failures is lost to sampling.
        for i in 0..500 {
            let _ = b.call_sync(|| if i % 5 == 4 { Err(()) } else { Ok(i) });
        }
        b.force_open();
        for _ in 0..50 {
            assert!(b.call_sync(|| Ok::<_, ()>(0)).unwrap_err().is_rejected());
        }
    });
    let by = |o: &str| -> Vec<&SpanData> {
        calls(&spans)
            .into_iter()
            .filter(|sp| attr(sp, ATTR_OUTCOME) == s(o))
            .collect()
    };
    let failures = by("failure");
    assert_eq!(failures.len(), 100);
    for sp in &failures {
        assert!(matches!(sp.status, Status::Error { .. }), "{:?}", sp.status);
        assert_eq!(attr(sp, ATTR_STATE), s("closed"));
        assert_eq!(attr(sp, ATTR_SLOW), Some(Value::Bool(false)));
    }
    // The first call (a success) and every hundredth after it were chosen up front; all
    // failures came after the fact.
    assert_eq!(by("success").len(), 5);
    assert!(
        failures
            .iter()
            .all(|sp| attr(sp, ATTR_AFTER_THE_FACT) == Some(Value::Bool(true)))
    );
    assert_eq!(by("rejected").len(), 50);
}

#[test]
fn a_call_not_chosen_that_is_slow_gets_a_span_with_its_start_and_duration() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5, Some(SpanPolicy::only_what_matters()));
    let started = breakerbox::Clock::system_time(&clock, breakerbox::Clock::now(&clock));
    let (_, created, spans) = capture(|| {
        b.call_sync(|| Ok::<_, ()>(1)).unwrap(); // fast: no span
        b.call_sync(|| {
            clock.advance(Duration::from_millis(1_500));
            Ok::<_, ()>(2)
        })
        .unwrap();
    });
    assert_eq!(created, 1, "{spans:#?}");
    let sp = calls(&spans)[0];
    assert_eq!(attr(sp, ATTR_OUTCOME), s("success"));
    assert_eq!(attr(sp, ATTR_SLOW), Some(Value::Bool(true)));
    assert_eq!(attr(sp, ATTR_AFTER_THE_FACT), Some(Value::Bool(true)));
    assert_eq!(attr(sp, ATTR_DURATION_MS), Some(Value::F64(1_500.0)));
    let unix = started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    assert_eq!(
        attr(sp, ATTR_START_UNIX_NANOS),
        Some(Value::I64(i64::try_from(unix).unwrap()))
    );
    assert_eq!(sp.status, Status::Unset);
}

#[test]
fn a_trip_by_a_call_not_chosen_is_an_event_of_its_late_span() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, Some(SpanPolicy::only_what_matters()));
    let (_, _, spans) = capture(|| {
        let _ = b.call_sync(|| Err::<(), _>("e1"));
        let _ = b.call_sync(|| Err::<(), _>("e2")); // trips
    });
    assert_eq!(b.state(), State::Open);
    let calls = calls(&spans);
    assert_eq!(calls.len(), 2);
    let trip = &calls[1].events;
    assert_eq!(trip.len(), 1, "{trip:#?}");
    assert_eq!(trip[0].name, EVENT_TRANSITION);
}

#[test]
fn half_open_trials_are_always_traced() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1, Some(SpanPolicy::only_what_matters()));
    let _ = b.call_sync(|| Err::<(), _>(()));
    clock.advance(secs(10));
    let (_, created, spans) = capture(|| {
        b.call_sync(|| Ok::<_, ()>(1)).unwrap();
        b.call_sync(|| Ok::<_, ()>(2)).unwrap(); // closes
        b.call_sync(|| Ok::<_, ()>(3)).unwrap(); // ordinary: no span
    });
    assert_eq!(b.state(), State::Closed);
    assert_eq!(created, 2);
    for sp in calls(&spans) {
        assert_eq!(attr(sp, ATTR_STATE), s("half_open"));
        assert_eq!(attr(sp, ATTR_OUTCOME), s("success"));
    }
}

#[test]
fn only_what_matters_creates_no_span_for_fast_successes() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5, Some(SpanPolicy::only_what_matters()));
    let (_, created, spans) = capture(|| {
        for _ in 0..1000 {
            b.call_sync(|| Ok::<_, ()>(1)).unwrap();
        }
    });
    assert_eq!(created, 0);
    assert!(spans.is_empty());
}

/// Samples every span except one named `unsampled` and its children.
#[derive(Debug, Clone)]
struct DropNamed;

impl ShouldSample for DropNamed {
    fn should_sample(
        &self,
        parent: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        use opentelemetry::trace::TraceContextExt;
        use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult};
        let parent_dropped = parent.is_some_and(|p| {
            let sc = p.span().span_context().clone();
            sc.is_valid() && !sc.is_sampled()
        });
        if name == "unsampled" || parent_dropped {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        Sampler::AlwaysOn.should_sample(parent, trace_id, name, kind, attributes, links)
    }
}

#[test]
fn follow_parent_traces_a_call_only_inside_a_sampled_span() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5, Some(SpanPolicy::follow_parent()));
    let (_, created, spans) = capture_sampled(DropNamed, || {
        b.call_sync(|| Ok::<_, ()>(0)).unwrap(); // no parent
        {
            let _req = tracing::info_span!("unsampled").entered();
            b.call_sync(|| Ok::<_, ()>(1)).unwrap();
        }
        let _req = tracing::info_span!("sampled").entered();
        b.call_sync(|| Ok::<_, ()>(2)).unwrap();
    });
    assert_eq!(created, 1, "only the call inside the sampled span");
    let calls = calls(&spans);
    assert_eq!(calls.len(), 1);
    let parent = spans.iter().find(|sp| sp.name == "sampled").unwrap();
    assert_eq!(calls[0].parent_span_id, parent.span_context.span_id());
}

#[test]
fn a_registry_gives_its_policy_to_the_breakers_it_creates() {
    let registry = Registry::builder().clock(ManualClock::new()).build();
    let before = registry.breaker("before", Config::default()).unwrap();
    let every_7 = SpanPolicy::sample_every(NonZeroU32::new(7).unwrap());
    registry.set_span_policy(every_7);
    assert_eq!(registry.span_policy(), every_7);
    let after = registry.breaker("after", Config::default()).unwrap();
    assert_eq!(before.span_policy(), SpanPolicy::default());
    assert_eq!(after.span_policy(), every_7);
    let (_, created, _) = capture(|| {
        for _ in 0..70 {
            after.call_sync(|| Ok::<_, ()>(1)).unwrap();
        }
    });
    assert_eq!(created, 10);
    after.set_span_policy(SpanPolicy::all());
    let (_, created, _) = capture(|| {
        for _ in 0..7 {
            after.call_sync(|| Ok::<_, ()>(1)).unwrap();
        }
    });
    assert_eq!(created, 7);
}

#[test]
fn a_timeout_not_chosen_is_an_error_span_after_the_fact() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("payments")
        .config(crate::slow_after_10s_timeout_after_2s())
        .span_policy(SpanPolicy::only_what_matters())
        .clock(clock.clone())
        .build()
        .unwrap();
    let (_, created, spans) = capture(|| {
        let r = b.call_sync(|| {
            clock.advance(secs(3));
            Ok::<_, ()>(1)
        });
        assert_eq!(r, Ok(1));
    });
    assert_eq!(created, 1);
    let sp = calls(&spans)[0];
    assert_eq!(attr(sp, ATTR_OUTCOME), s("timeout"));
    assert_eq!(attr(sp, ATTR_SLOW), Some(Value::Bool(true)));
    assert_eq!(attr(sp, ATTR_DURATION_MS), Some(Value::F64(3_000.0)));
    assert!(matches!(sp.status, Status::Error { .. }));
}
