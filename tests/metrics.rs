//! Exact metric values after scripted call sequences, read from `metrics-util`'s
//! `DebuggingRecorder`. The breaker is built inside `metrics::with_local_recorder`, so its
//! handles bind to that recorder; the calls can then run anywhere.
#![cfg(all(feature = "metrics", feature = "test-util"))]

use std::collections::HashMap;
use std::time::Duration;

use breakerbox::observe::names::{self, METRICS};
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, State};
use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A snapshot keyed by `name{k=v,...}` (labels in registration order).
struct Snap {
    values: HashMap<String, DebugValue>,
    described: HashMap<String, (Option<Unit>, String)>,
}

impl Snap {
    fn take(rec: &DebuggingRecorder) -> Snap {
        let mut values = HashMap::new();
        let mut described = HashMap::new();
        for (ck, unit, help, value) in rec.snapshotter().snapshot().into_vec() {
            let key = ck.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let id = format!("{}{{{}}}", key.name(), labels.join(","));
            assert!(values.insert(id, value).is_none());
            if let Some(help) = help {
                described.insert(key.name().to_owned(), (unit, help.to_string()));
            }
        }
        Snap { values, described }
    }

    fn counter(&self, id: &str) -> u64 {
        match self.values.get(id) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{id}: {other:?}"),
        }
    }

    fn gauge(&self, id: &str) -> f64 {
        match self.values.get(id) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("{id}: {other:?}"),
        }
    }

    fn histogram(&self, id: &str) -> Vec<f64> {
        match self.values.get(id) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect(),
            other => panic!("{id}: {other:?}"),
        }
    }

    /// Every counter of `name`, with its labels.
    fn counters_of(&self, name: &str) -> HashMap<String, u64> {
        self.values
            .iter()
            .filter(|(id, _)| id.starts_with(&format!("{name}{{")))
            .map(|(id, v)| match v {
                DebugValue::Counter(n) => (id.clone(), *n),
                other => panic!("{id}: {other:?}"),
            })
            .collect()
    }
}

fn scripted() -> (DebuggingRecorder, CircuitBreaker, ManualClock) {
    let rec = DebuggingRecorder::new();
    let clock = ManualClock::new();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("db")
            .config(
                Config::builder()
                    .failure_threshold(2)
                    .success_threshold(1)
                    .half_open_max_calls(1)
                    .min_calls(100)
                    .slow_call_duration(secs(1))
                    .reset_timeout(secs(10))
                    .build()
                    .unwrap(),
            )
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    (rec, b, clock)
}

#[test]
fn counters_are_exact_after_a_scripted_sequence() {
    let (rec, b, clock) = scripted();
    let ok = || b.call_sync(|| Ok::<_, ()>(()));
    let fail = || b.call_sync(|| Err::<(), _>(()));

    ok().unwrap();
    ok().unwrap();
    b.call_sync(|| {
        clock.advance(secs(2)); // slow: 2 s > 1 s
        Ok::<_, ()>(())
    })
    .unwrap();
    let _ = b.call_sync_with(|_| Outcome::Ignore, || Err::<(), _>("404"));
    let _ = fail();
    let _ = fail(); // Closed -> Open (consecutive_failures)
    assert_eq!(b.state(), State::Open);
    for _ in 0..3 {
        assert!(ok().unwrap_err().is_rejected());
    }
    clock.advance(secs(10));
    let _ = fail(); // Open -> HalfOpen (timeout_elapsed) -> Open (half_open_failure)
    assert!(ok().unwrap_err().is_rejected());
    clock.advance(secs(10));
    ok().unwrap(); // Open -> HalfOpen -> Closed (half_open_success)
    assert_eq!(b.state(), State::Closed);
    drop(b.try_acquire().unwrap()); // a dropped permit: ignored
    b.force_open(); // Closed -> ForcedOpen (forced)
    assert!(ok().is_err() && ok().is_err());
    b.reset(); // ForcedOpen -> Closed (manual)
    b.metrics_only(); // Closed -> MetricsOnly (manual)
    let _ = fail();
    let _ = fail(); // a dry-run trip (consecutive_failures)
    assert_eq!(b.state(), State::MetricsOnly);

    let s = Snap::take(&rec);
    let calls = |o: &str| s.counter(&format!("breakerbox_calls_total{{breaker=db,outcome={o}}}"));
    assert_eq!(calls("success"), 4);
    assert_eq!(calls("failure"), 5);
    assert_eq!(calls("ignored"), 2);
    assert_eq!(calls("rejected"), 6);
    let slow = |o: &str| {
        s.counter(&format!(
            "breakerbox_slow_calls_total{{breaker=db,outcome={o}}}"
        ))
    };
    assert_eq!(
        (slow("success"), slow("failure"), slow("ignored")),
        (1, 0, 0)
    );

    let durations = |o: &str| {
        s.histogram(&format!(
            "breakerbox_call_duration_seconds{{breaker=db,outcome={o}}}"
        ))
    };
    let success = durations("success");
    assert_eq!(success.len(), 4);
    assert_eq!(
        success.iter().filter(|d| **d == 2.0).count(),
        1,
        "{success:?}"
    );
    assert_eq!(durations("failure").len(), 5);
    assert_eq!(durations("ignored").len(), 2);

    // Transitions, by from/to/reason: the ones that happened, and zeros for every other
    // transition the breaker could make (registered up front).
    let mut expected: HashMap<String, u64> = [
        ("closed", "open", "consecutive_failures", 1),
        ("open", "half_open", "timeout_elapsed", 2),
        ("half_open", "open", "half_open_failure", 1),
        ("half_open", "closed", "half_open_success", 1),
        ("closed", "forced_open", "forced", 1),
        ("forced_open", "closed", "manual", 1),
        ("closed", "metrics_only", "manual", 1),
    ]
    .into_iter()
    .map(|(f, t, r, n)| {
        (
            format!("breakerbox_transitions_total{{breaker=db,from={f},to={t},reason={r}}}"),
            n,
        )
    })
    .collect();
    let got = s.counters_of(names::TRANSITIONS_TOTAL);
    for (id, n) in &got {
        let want = expected.remove(id).unwrap_or(0);
        assert_eq!(*n, want, "{id}");
    }
    assert!(expected.is_empty(), "transitions not emitted: {expected:?}");
    assert_eq!(got.len(), 36, "every possible transition has a series");

    let dry = s.counters_of(names::DRY_RUN_TRIPS_TOTAL);
    assert_eq!(
        dry["breakerbox_dry_run_trips_total{breaker=db,reason=consecutive_failures}"],
        1
    );
    assert_eq!(dry.values().sum::<u64>(), 1);

    // One-hot state, after a single snapshot (the debugging recorder zeroes on snapshot).
    for st in State::ALL {
        let v = s.gauge(&format!(
            "breakerbox_state{{breaker=db,state={}}}",
            st.as_str()
        ));
        assert_eq!(v, if st == State::MetricsOnly { 1.0 } else { 0.0 }, "{st}");
    }
}

#[test]
fn every_metric_is_described_with_its_help_text_and_unit() {
    let (rec, _b, _clock) = scripted();
    // The limits' metrics are registered by a bulkhead and a rate limit (feature `limit`).
    #[cfg(feature = "limit")]
    let _limits = metrics::with_local_recorder(&rec, || {
        (
            breakerbox::limit::Bulkhead::new("db", 1).unwrap(),
            breakerbox::limit::RateLimit::per_second("db", 1, 1).unwrap(),
        )
    });
    // The fleet gauge is set by a fleet's task (tests/fleet.rs), not at build.
    let mut not_registered = vec![names::NOTIFICATIONS_TOTAL, names::FLEET_CONNECTED];
    if cfg!(not(feature = "limit")) {
        not_registered.extend([
            names::LIMIT_REJECTIONS_TOTAL,
            names::BULKHEAD_IN_USE,
            names::BULKHEAD_MAX_CONCURRENT,
            names::RATE_LIMIT_PER_SECOND,
        ]);
    }
    let s = Snap::take(&rec);
    for m in METRICS.iter().filter(|m| !not_registered.contains(&m.name)) {
        let (unit, help) = s
            .described
            .get(m.name)
            .unwrap_or_else(|| panic!("{} not described", m.name));
        assert_eq!(help, m.help);
        assert!(!help.is_empty());
        let want = m.name.ends_with("_seconds").then_some(Unit::Seconds);
        assert_eq!(*unit, want, "unit of {}", m.name);
    }
}

#[test]
fn the_reason_label_names_the_first_trigger_that_fired() {
    // On the third failure both the consecutive-failure count (3) and the failure rate
    // (3/6 = 0.5) reach their thresholds: the reason is consecutive_failures.
    let rec = DebuggingRecorder::new();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("both")
            .config(
                Config::builder()
                    .failure_threshold(3)
                    .min_calls(4)
                    .build()
                    .unwrap(),
            )
            .clock(ManualClock::new())
            .build()
            .unwrap()
    });
    for _ in 0..3 {
        b.call_sync(|| Ok::<_, ()>(())).unwrap();
    }
    for _ in 0..3 {
        let _ = b.call_sync(|| Err::<(), _>(()));
    }
    let opened: Vec<_> = Snap::take(&rec)
        .counters_of(names::TRANSITIONS_TOTAL)
        .into_iter()
        .filter(|(id, n)| *n > 0 && id.contains("to=open,"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        opened,
        [
            "breakerbox_transitions_total{breaker=both,from=closed,to=open,reason=consecutive_failures}"
        ]
    );
}

#[test]
fn rejections_by_a_full_half_open_are_counted() {
    let (rec, b, clock) = scripted();
    let _ = b.call_sync(|| Err::<(), _>(()));
    let _ = b.call_sync(|| Err::<(), _>(()));
    clock.advance(secs(10));
    let trial = b.try_acquire().unwrap(); // the one half-open slot
    assert_eq!(b.try_acquire().unwrap_err().state(), State::HalfOpen);
    trial.success();
    let s = Snap::take(&rec);
    assert_eq!(
        s.counter("breakerbox_calls_total{breaker=db,outcome=rejected}"),
        1
    );
}

#[test]
fn breakers_built_without_a_recorder_record_nothing_and_work() {
    let rec = DebuggingRecorder::new();
    let b = CircuitBreaker::new("orphan"); // no recorder in force: no-op handles
    metrics::with_local_recorder(&rec, || {
        b.call_sync(|| Ok::<_, ()>(())).unwrap();
        b.force_open();
    });
    let s = Snap::take(&rec);
    assert!(
        s.values.keys().all(|k| !k.contains("orphan")),
        "handles bind at build time: {:?}",
        s.values.keys().collect::<Vec<_>>()
    );
}

#[test]
fn same_state_operator_actions_are_counted_as_transitions() {
    let (rec, b, _clock) = scripted();
    let series = |from: &str, to: &str, reason: &str| {
        format!("breakerbox_transitions_total{{breaker=db,from={from},to={to},reason={reason}}}")
    };
    let s = Snap::take(&rec);
    assert_eq!(
        s.counter(&series("closed", "closed", "manual")),
        0,
        "born at 0"
    );
    b.reset(); // a Closed breaker: closed -> closed
    b.force_open();
    b.force_open_for(secs(5)); // forced_open -> forced_open, a new TTL
    b.disable();
    b.disable();
    b.metrics_only();
    b.metrics_only();
    let s = Snap::take(&rec);
    assert_eq!(s.counter(&series("closed", "closed", "manual")), 1);
    assert_eq!(
        s.counter(&series("forced_open", "forced_open", "forced")),
        1
    );
    assert_eq!(s.counter(&series("disabled", "disabled", "manual")), 1);
    assert_eq!(
        s.counter(&series("metrics_only", "metrics_only", "manual")),
        1
    );
    assert_eq!(s.counters_of(names::TRANSITIONS_TOTAL).len(), 36);
}
