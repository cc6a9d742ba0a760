//! Spans as OpenTelemetry receives them: `tracing` -> `tracing-opentelemetry` (through
//! `breakerbox::observe::otel::layer`) -> the SDK's `InMemorySpanExporter`.
#![cfg(all(feature = "otel", feature = "test-util"))]

use std::time::Duration;

use breakerbox::observe::names::*;
use breakerbox::{CallError, CircuitBreaker, Config, ManualClock, Outcome, SpanPolicy, State};
use opentelemetry::Value;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;

use crate::support::logs::Logs;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs `f` with a subscriber that exports every span (filtered by `targets`, if given)
/// and returns the finished spans.
fn capture_with<T>(targets: Option<Targets>, f: impl FnOnce() -> T) -> (T, Vec<SpanData>) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = breakerbox::observe::otel::layer(&provider);
    let out = match targets {
        Some(t) => {
            let subscriber = tracing_subscriber::registry().with(layer).with(t);
            tracing::subscriber::with_default(subscriber, f)
        }
        None => {
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, f)
        }
    };
    provider.force_flush().unwrap();
    (out, exporter.get_finished_spans().unwrap())
}

fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<SpanData>) {
    capture_with(None, f)
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn event_attr(event: &opentelemetry::trace::Event, key: &str) -> Option<Value> {
    event
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::from(v.to_owned()))
}

/// A breaker that traces every call: the tests of a span's shape.
fn breaker(clock: &ManualClock, threshold: u32) -> CircuitBreaker {
    CircuitBreaker::builder("payments")
        .span_policy(SpanPolicy::all())
        .config(
            Config::builder()
                .failure_threshold(threshold)
                .slow_call_duration(secs(1))
                .reset_timeout(secs(10))
                .success_threshold(1)
                .build()
                .unwrap(),
        )
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn a_call_is_one_span_with_name_state_outcome_and_slow() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let (_, spans) = capture(|| {
        b.call_sync(|| Ok::<_, ()>(1)).unwrap();
        b.call_sync(|| {
            clock.advance(secs(2));
            Ok::<_, ()>(2)
        })
        .unwrap();
    });
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for sp in &spans {
        assert_eq!(sp.name, SPAN_CALL);
        assert_eq!(sp.instrumentation_scope.name(), "breakerbox");
        assert_eq!(attr(sp, ATTR_NAME), s("payments"));
        assert_eq!(attr(sp, ATTR_STATE), s("closed"));
        assert_eq!(attr(sp, ATTR_OUTCOME), s("success"));
        assert_eq!(sp.status, Status::Unset);
    }
    assert_eq!(attr(&spans[0], ATTR_SLOW), Some(Value::Bool(false)));
    assert_eq!(attr(&spans[1], ATTR_SLOW), Some(Value::Bool(true)));
}

#[test]
fn a_call_past_its_timeout_is_a_slow_error_span_with_outcome_timeout() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("payments")
        .config(crate::slow_after_10s_timeout_after_2s())
        .clock(clock.clone())
        .build()
        .unwrap();
    let (_, spans) = capture(|| {
        let r = b.call_sync(|| {
            clock.advance(secs(3));
            Ok::<_, ()>(1)
        });
        assert_eq!(r, Ok(1));
    });
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(attr(&spans[0], ATTR_OUTCOME), s("timeout"));
    assert_eq!(attr(&spans[0], ATTR_SLOW), Some(Value::Bool(true)));
    assert!(matches!(spans[0].status, Status::Error { .. }));
}

#[test]
fn an_async_call_span_covers_the_future_and_its_child_spans() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let (_, spans) = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let r: Result<u8, CallError<&str>> = b
                .call(async {
                    let _inner = tracing::info_span!("query").entered();
                    Err("timeout")
                })
                .await;
            assert!(matches!(r, Err(CallError::Inner("timeout"))));
            let r = b
                .call_with(|_: &Result<(), &str>| Outcome::Ignore, async { Err("404") })
                .await;
            assert!(r.is_err());
        });
    });
    let call = spans
        .iter()
        .find(|sp| sp.name == SPAN_CALL && attr(sp, ATTR_OUTCOME) == s("failure"))
        .expect("failure span");
    assert!(
        matches!(call.status, Status::Error { .. }),
        "a failed call has error status"
    );
    assert_eq!(attr(call, ATTR_SLOW), Some(Value::Bool(false)));
    let query = spans.iter().find(|sp| sp.name == "query").unwrap();
    assert_eq!(
        query.parent_span_id,
        call.span_context.span_id(),
        "the future runs inside the call span"
    );
    let ignored = spans
        .iter()
        .find(|sp| attr(sp, ATTR_OUTCOME) == s("ignored"))
        .expect("ignored span");
    assert_eq!(ignored.status, Status::Unset);
}

#[test]
fn a_cancelled_call_span_says_ignored() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let (_, spans) = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let slow = b.call(async {
                tokio::time::sleep(secs(60)).await;
                Ok::<_, ()>(())
            });
            assert!(tokio::time::timeout(secs(1), slow).await.is_err());
        });
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(attr(&spans[0], ATTR_OUTCOME), s("ignored"));
    assert_eq!(b.snapshot().totals.ignored, 1);
}

#[test]
fn a_rejection_is_a_short_error_span_with_error_type_circuit_open() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let _ = b.call_sync(|| Err::<(), _>(()));
    assert_eq!(b.state(), State::Open);
    let (_, spans) = capture(|| {
        let _request = tracing::info_span!("request").entered();
        assert!(b.call_sync(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
        // Permits are covered too: every rejection is a span.
        assert!(b.try_acquire().is_err());
    });
    let rejected: Vec<_> = spans.iter().filter(|sp| sp.name == SPAN_CALL).collect();
    assert_eq!(rejected.len(), 2, "{spans:#?}");
    let request = spans.iter().find(|sp| sp.name == "request").unwrap();
    for sp in rejected {
        assert_eq!(attr(sp, ATTR_OUTCOME), s("rejected"));
        assert_eq!(attr(sp, ATTR_ERROR_TYPE), s(ERROR_TYPE_CIRCUIT_OPEN));
        assert_eq!(attr(sp, ATTR_STATE), s("open"));
        assert_eq!(attr(sp, ATTR_NAME), s("payments"));
        assert!(matches!(sp.status, Status::Error { .. }), "{:?}", sp.status);
        assert_eq!(sp.parent_span_id, request.span_context.span_id());
        assert!(
            attr(sp, OTEL_STATUS_CODE).is_none(),
            "consumed by the layer, not an attribute"
        );
    }
}

#[test]
fn a_transition_is_an_event_of_the_call_that_caused_it() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    let (_, spans) = capture(|| {
        let _ = b.call_sync(|| Err::<(), _>("e1"));
        let _ = b.call_sync(|| Err::<(), _>("e2")); // trips
        clock.advance(secs(10));
        let _request = tracing::info_span!("request").entered();
        b.call_sync(|| Ok::<_, ()>(())).unwrap(); // Open -> HalfOpen -> Closed
    });
    let calls: Vec<_> = spans.iter().filter(|sp| sp.name == SPAN_CALL).collect();
    assert_eq!(calls.len(), 3);
    assert!(calls[0].events.is_empty());
    let trip = &calls[1].events;
    assert_eq!(trip.len(), 1, "{trip:#?}");
    let e = &trip[0];
    assert_eq!(e.name, EVENT_TRANSITION);
    assert_eq!(event_attr(e, ATTR_NAME), s("payments"));
    assert_eq!(event_attr(e, ATTR_FROM), s("closed"));
    assert_eq!(event_attr(e, ATTR_TO), s("open"));
    assert_eq!(event_attr(e, ATTR_REASON), s("consecutive_failures"));
    assert_eq!(event_attr(e, ATTR_WINDOW_CALLS), Some(Value::I64(2)));
    assert_eq!(event_attr(e, ATTR_WINDOW_FAILURES), Some(Value::I64(2)));
    assert_eq!(event_attr(e, ATTR_WINDOW_SLOW_CALLS), Some(Value::I64(0)));
    assert_eq!(
        event_attr(e, ATTR_CONSECUTIVE_FAILURES),
        Some(Value::I64(2))
    );
    assert_eq!(event_attr(e, ATTR_THRESHOLD), Some(Value::F64(2.0)));
    assert_eq!(event_attr(e, ATTR_OPEN_FOR_SECONDS), Some(Value::F64(10.0)));
    assert_eq!(
        event_attr(e, ATTR_FAILURE_RATE),
        None,
        "below min_calls: absent"
    );
    assert_eq!(event_attr(e, "level"), s("WARN"));
    // The probe: Open -> HalfOpen happens while admitting it, before its span exists, so
    // that event belongs to the caller's span; HalfOpen -> Closed to the probe's span.
    let events = |sp: &SpanData| -> Vec<_> {
        sp.events
            .iter()
            .map(|e| (event_attr(e, ATTR_TO), event_attr(e, ATTR_REASON)))
            .collect()
    };
    let request = spans.iter().find(|sp| sp.name == "request").unwrap();
    assert_eq!(events(request), [(s("half_open"), s("timeout_elapsed"))]);
    assert_eq!(events(calls[2]), [(s("closed"), s("half_open_success"))]);
    assert_eq!(
        attr(calls[2], ATTR_STATE),
        s("half_open"),
        "admitted as a trial"
    );
    assert_eq!(calls[2].parent_span_id, request.span_context.span_id());
}

#[test]
fn an_operator_transition_is_an_event_of_the_current_span() {
    let b = CircuitBreaker::new("admin");
    let (_, spans) = capture(|| {
        let _req = tracing::info_span!("POST /admin/breakers/admin/force-open").entered();
        b.force_open();
        b.metrics_only();
    });
    let req = &spans[0];
    let got: Vec<_> = req
        .events
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                event_attr(e, ATTR_TO),
                event_attr(e, ATTR_REASON),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (EVENT_TRANSITION.to_owned(), s("forced_open"), s("forced")),
            (EVENT_TRANSITION.to_owned(), s("metrics_only"), s("manual")),
        ]
    );
}

#[test]
fn a_transition_outside_any_span_is_a_span_of_its_own() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let _ = b.call_sync(|| Err::<(), _>(()));
    assert_eq!(b.state(), State::Open);
    clock.advance(secs(10));
    // The eager timer and a scrape's poll run outside any span.
    let (_, spans) = capture(|| b.poll_timeouts());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    assert_eq!(span.name, SPAN_TRANSITION);
    assert_eq!(attr(span, ATTR_NAME), s("payments"));
    assert_eq!(attr(span, ATTR_FROM), s("open"));
    assert_eq!(attr(span, ATTR_TO), s("half_open"));
    assert_eq!(attr(span, ATTR_REASON), s("timeout_elapsed"));
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, EVENT_TRANSITION);
    assert_eq!(event_attr(&span.events[0], ATTR_TO), s("half_open"));
    // An operator action from a bare thread too; inside a span it stays an event of it.
    let (_, spans) = capture(|| b.reset());
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, SPAN_TRANSITION);
    assert_eq!(attr(&spans[0], ATTR_REASON), s("manual"));
}

#[test]
fn a_dry_run_trip_is_a_would_open_event() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    b.metrics_only();
    let (_, spans) = capture(|| {
        let _ = b.call_sync(|| Err::<(), _>(()));
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(attr(&spans[0], ATTR_STATE), s("metrics_only"));
    let e = &spans[0].events[0];
    assert_eq!(e.name, EVENT_WOULD_OPEN);
    assert_eq!(event_attr(e, ATTR_FROM), s("metrics_only"));
    assert_eq!(event_attr(e, ATTR_TO), s("open"));
    assert_eq!(event_attr(e, ATTR_REASON), s("consecutive_failures"));
    assert_eq!(b.state(), State::MetricsOnly);
}

#[test]
fn spans_are_not_created_when_the_target_is_filtered_out() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target(TARGET, LevelFilter::OFF);
    let (_, spans) = capture_with(Some(filter), || {
        let _app = tracing::info_span!("app").entered();
        assert!(!tracing::enabled!(target: "breakerbox", tracing::Level::INFO));
        let _ = b.call_sync(|| Err::<(), _>(()));
        let _ = b.call_sync(|| Ok::<_, ()>(()));
    });
    let names: Vec<_> = spans.iter().map(|sp| sp.name.to_string()).collect();
    assert_eq!(names, ["app"]);
    assert!(spans[0].events.is_empty());
    // Filtered by level: `breakerbox=warn` keeps the trips to open, drops the call spans.
    let filter = Targets::new()
        .with_target(TARGET, LevelFilter::WARN)
        .with_default(LevelFilter::INFO);
    let b = breaker(&clock, 1);
    let (_, spans) = capture_with(Some(filter), || {
        let _app = tracing::info_span!("app").entered();
        let _ = b.call_sync(|| Err::<(), _>(()));
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].events[0].name, EVENT_TRANSITION);
}

#[cfg(feature = "limit")]
#[test]
fn a_call_refused_by_a_limit_is_a_short_error_span_with_the_reason() {
    let slots = breakerbox::limit::Bulkhead::new("rpc", 1).unwrap();
    let (_, spans) = capture(|| {
        let _held = slots.try_acquire().unwrap();
        assert!(slots.try_acquire().is_err());
    });
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].name, SPAN_CALL);
    assert_eq!(attr(&spans[0], ATTR_NAME), s("rpc"));
    assert_eq!(attr(&spans[0], ATTR_OUTCOME), s("bulkhead_full"));
    assert_eq!(attr(&spans[0], ATTR_ERROR_TYPE), s("bulkhead_full"));
    assert!(matches!(spans[0].status, Status::Error { .. }));
}

#[test]
fn transitions_are_logged_under_their_own_target_without_call_spans() {
    use tracing_subscriber::layer::SubscriberExt;
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let logs = Logs::default();
    let filter = Targets::new()
        .with_target(TARGET, LevelFilter::OFF)
        .with_target(TRANSITION_TARGET, LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .with_ansi(false),
        )
        .with(filter);
    tracing::subscriber::with_default(subscriber, || {
        assert!(!tracing::enabled!(target: "breakerbox", tracing::Level::INFO));
        let _ = b.call_sync(|| Err::<(), _>(()));
        clock.advance(secs(10));
        let _ = b.call_sync(|| Ok::<_, ()>(()));
    });
    let log = logs.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "closed->open, open->half_open, half_open->closed:\n{log}"
    );
    assert!(lines[0].contains("WARN") && lines[0].contains("breakerbox::transition"));
    assert!(lines[0].contains("consecutive_failures"), "{log}");
    assert!(
        lines[2].contains("INFO") && lines[2].contains("half_open_success"),
        "{log}"
    );
}

#[test]
fn a_transition_is_a_structured_log_line_with_reason_and_window_numbers() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    let logs = Logs::default();
    tracing::subscriber::with_default(logs.subscriber(), || {
        let _ = b.call_sync(|| Err::<(), _>(()));
        let _ = b.call_sync(|| Err::<(), _>(()));
    });
    let out = logs.text();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let line = lines[0];
    for part in [
        " WARN ",
        "breakerbox:",
        "breakerbox.name=\"payments\"",
        "breakerbox.from=\"closed\"",
        "breakerbox.to=\"open\"",
        "breakerbox.reason=\"consecutive_failures\"",
        "breakerbox.window.calls=2",
        "breakerbox.window.failures=2",
        "breakerbox.consecutive_failures=2",
        "breakerbox.threshold=2",
        "breakerbox.open_for_seconds=10",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
}
