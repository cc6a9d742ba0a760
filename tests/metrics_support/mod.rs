//! Shared by the metrics tests: a local Prometheus recorder, a parser for its text output
//! and a script that drives a breaker through every state and transition reason.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use breakerbox::observe::names::{self, METRICS, MetricKind};
use breakerbox::observe::prometheus::{self, PrometheusHandle, PrometheusRecorder};
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, Reason, State};

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// One sample line of the text format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once("=\"").expect("label");
                (k.to_owned(), v.trim_end_matches('"').to_owned())
            })
            .collect();
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            v => v.parse().expect("number"),
        };
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    out
}

/// The value of the one series of `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().map(|s| s.value)
}

/// The states whose `breakerbox_state` series is 1, and the number of series of the breaker.
pub fn hot_states(samples: &[Sample], breaker: &str) -> (Vec<String>, usize) {
    let series: Vec<_> = samples
        .iter()
        .filter(|s| s.name == names::STATE && s.labels["breaker"] == breaker)
        .collect();
    for s in &series {
        assert!(
            s.value == 0.0 || s.value == 1.0,
            "state gauge not 0/1: {s:?}"
        );
    }
    let hot = series
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| s.labels["state"].clone())
        .collect();
    (hot, series.len())
}

pub fn recorder() -> (PrometheusRecorder, PrometheusHandle) {
    let recorder = prometheus::builder().build_recorder();
    let handle = recorder.handle();
    (recorder, handle)
}

pub fn config() -> Config {
    Config::builder()
        .failure_threshold(3)
        .success_threshold(2)
        .half_open_max_calls(2)
        .min_calls(4)
        .slow_call_duration(secs(1))
        .reset_timeout(secs(10))
        .half_open_timeout(secs(60))
        .build()
        .unwrap()
}

/// Drives `b` through every state and transition reason. Returns nothing: the listeners
/// and the caller check what they need.
pub fn drive_through_every_state(b: &CircuitBreaker, clock: &ManualClock) {
    let ok = || b.call_sync(|| Ok::<_, ()>(()));
    let fail = || b.call_sync(|| Err::<(), _>(()));
    // Closed: successes, a slow success, an ignored call.
    for _ in 0..2 {
        ok().unwrap();
    }
    b.call_sync(|| {
        clock.advance(secs(2));
        Ok::<_, ()>(())
    })
    .unwrap();
    let _ = b.call_sync_with(|_| Outcome::Ignore, || Err::<(), _>(()));
    // Closed -> Open (consecutive_failures); two rejections.
    for _ in 0..3 {
        let _ = fail();
    }
    assert_eq!(b.state(), State::Open);
    assert!(ok().is_err() && ok().is_err());
    // Open -> HalfOpen (timeout_elapsed) -> Open (half_open_failure).
    clock.advance(secs(10));
    let _ = fail();
    assert_eq!(b.state(), State::Open);
    // Open -> HalfOpen -> Open (half_open_slow_call).
    clock.advance(secs(10));
    let _ = b.call_sync(|| {
        clock.advance(secs(2));
        Ok::<_, ()>(())
    });
    assert_eq!(b.state(), State::Open);
    // Open -> HalfOpen (eagerly, by poll) -> Open (timeout_elapsed: hung trials).
    clock.advance(secs(10));
    b.poll_timeouts();
    assert_eq!(b.state(), State::HalfOpen);
    let hung = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
    clock.advance(secs(61));
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), State::Open);
    drop(hung);
    // Open -> HalfOpen -> Closed (half_open_success).
    clock.advance(secs(10));
    ok().unwrap();
    ok().unwrap();
    assert_eq!(b.state(), State::Closed);
    // Closed -> Open (failure_rate): 2 successes then failures interleaved.
    for _ in 0..2 {
        ok().unwrap();
    }
    let _ = fail();
    ok().unwrap();
    let _ = fail();
    let _ = fail();
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.snapshot().last_transition.unwrap().reason,
        Reason::FailureRate
    );
    // Open -> Closed (manual reset), then a reconfiguration that keeps the state.
    b.reset();
    b.set_config(
        Config::builder()
            .failure_threshold(100)
            .min_calls(4)
            .slow_call_duration(secs(1))
            .slow_call_rate_threshold(0.5)
            .build()
            .unwrap(),
    );
    // Closed -> Open (slow_call_rate).
    for _ in 0..4 {
        b.call_sync(|| {
            clock.advance(secs(2));
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        b.snapshot().last_transition.unwrap().reason,
        Reason::SlowCallRate
    );
    b.set_config(config());
    // Operator states.
    b.force_open(); // Open -> ForcedOpen (forced)
    assert!(ok().is_err());
    b.reset(); // ForcedOpen -> Closed (manual)
    b.reset(); // Closed -> Closed: no transition
    b.disable(); // Closed -> Disabled (manual)
    for _ in 0..5 {
        let _ = fail();
    }
    assert_eq!(b.state(), State::Disabled);
    b.metrics_only(); // Disabled -> MetricsOnly (manual)
    for _ in 0..3 {
        let _ = fail(); // a dry-run trip (consecutive_failures)
    }
    assert_eq!(b.state(), State::MetricsOnly);
    b.force_open_for(secs(5)); // MetricsOnly -> ForcedOpen (forced)
    clock.advance(secs(5));
    b.poll_timeouts(); // ForcedOpen -> HalfOpen (timeout_elapsed)
    assert_eq!(b.state(), State::HalfOpen);
    b.reset(); // HalfOpen -> Closed (manual)
    assert_eq!(b.state(), State::Closed);
}

/// `breakerbox_*` names in a text, with histogram suffixes stripped.
pub fn metric_names(text: &str) -> BTreeSet<String> {
    let histograms: BTreeSet<&str> = METRICS
        .iter()
        .filter(|m| m.kind == MetricKind::Histogram)
        .map(|m| m.name)
        .collect();
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("breakerbox_") {
        let before = &rest[..i];
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let mut name = &tail[..end];
        if !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix)
                    && histograms.contains(base)
                {
                    name = base;
                }
            }
            out.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    out
}

pub fn metrics_md() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/METRICS.md"))
        .expect("docs/METRICS.md")
}
