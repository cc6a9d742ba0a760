//! Exact metric values after scripted call sequences, read from `metrics-util`'s
//! `DebuggingRecorder`. The breaker is built inside `metrics::with_local_recorder`, so its
//! handles bind to that recorder; the calls can then run anywhere. A transition into a
//! state the breaker was never in registers that state's outgoing operator transitions
//! with the recorder in force then, so scripts with transitions run inside the recorder.
#![cfg(all(feature = "metrics", feature = "test-util"))]

use std::collections::HashMap;
use std::time::Duration;

use breakerbox::observe::names::{self, METRICS};
use breakerbox::{CircuitBreaker, Config, ManualClock, Outcome, State};
use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// The `fleet` transition series registered at build with the feature `fleet-redis`.
const FLEET: usize = if cfg!(feature = "fleet-redis") { 3 } else { 0 };

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
    metrics::with_local_recorder(&rec, || script(&b, &clock));
    exact_after_script(&rec);
}

fn script(b: &CircuitBreaker, clock: &ManualClock) {
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
}

fn exact_after_script(rec: &DebuggingRecorder) {
    let s = Snap::take(rec);
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
    // transition out of a state the breaker has been in (registered up front or when it
    // entered that state).
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
    assert_eq!(
        got.len(),
        9 + FLEET + 4 * 5,
        "the automatic transitions and the operator ones out of closed, open, half_open, \
         forced_open and metrics_only (never disabled)"
    );

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

/// A registry saving to a file store in a temporary directory (kept alive with it).
#[cfg(feature = "persist")]
pub(crate) fn registry_with_a_store() -> (tempfile::TempDir, breakerbox::Registry) {
    let dir = tempfile::tempdir().unwrap();
    let store = breakerbox::store::FileStore::new(dir.path().join("breakers.json"));
    let registry = breakerbox::Registry::builder().state_store(store).build();
    (dir, registry)
}

#[test]
fn every_metric_is_described_with_its_help_text_and_unit() {
    let (rec, b, _clock) = scripted();
    // The dry-run counters exist once the breaker has been in metrics_only.
    metrics::with_local_recorder(&rec, || b.metrics_only());
    // The limits' metrics are registered by a bulkhead and a rate limit (feature `limit`).
    #[cfg(feature = "limit")]
    let _limits = metrics::with_local_recorder(&rec, || {
        (
            breakerbox::limit::Bulkhead::new("db", 1).unwrap(),
            breakerbox::limit::RateLimit::per_second("db", 1, 1).unwrap(),
        )
    });
    // The state store's series are registered by a registry with a store (feature
    // `persist`).
    #[cfg(feature = "persist")]
    let (_dir, _registry) = metrics::with_local_recorder(&rec, registry_with_a_store);
    // The fleet series are set by a fleet (tests/redis), not at build.
    let mut not_registered = vec![
        names::NOTIFICATIONS_TOTAL,
        names::NOTIFICATION_TLS_ERRORS_TOTAL,
        names::FLEET_CONNECTED,
        names::FLEET_KEY_ERRORS_TOTAL,
    ];
    if cfg!(not(feature = "persist")) {
        not_registered.extend([names::STATE_STORE_SAVES_TOTAL, names::STATE_STORE_UNSAVED]);
    }
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
    // Handles bind at build time; only the transition series out of a state entered for
    // the first time are registered then, with the recorder in force at that moment.
    let late: Vec<_> = s.values.keys().filter(|k| k.contains("orphan")).collect();
    assert!(
        late.iter()
            .all(|k| k.starts_with(names::TRANSITIONS_TOTAL) && k.contains("from=forced_open")),
        "handles bind at build time: {late:?}"
    );
    assert_eq!(late.len(), 4, "{late:?}");
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
    metrics::with_local_recorder(&rec, || {
        b.reset(); // a Closed breaker: closed -> closed
        b.force_open();
        b.force_open_for(secs(5)); // forced_open -> forced_open, a new TTL
        b.disable();
        b.disable();
        b.metrics_only();
        b.metrics_only();
    });
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
    assert_eq!(
        s.counters_of(names::TRANSITIONS_TOTAL).len(),
        9 + FLEET + 4 * 4
    );
}

fn transition_series(rec: &DebuggingRecorder) -> HashMap<String, u64> {
    Snap::take(rec)
        .counters_of(names::TRANSITIONS_TOTAL)
        .into_iter()
        .map(|(id, n)| {
            let labels = id.split_once("from=").unwrap().1.trim_end_matches('}');
            (labels.to_owned(), n)
        })
        .collect()
}

#[test]
fn a_breaker_that_never_left_closed_exports_13_transition_series_at_zero() {
    let (rec, b, _clock) = scripted();
    for _ in 0..100 {
        b.call_sync(|| Ok::<_, ()>(())).unwrap();
    }
    let got = transition_series(&rec);
    assert_eq!(got.len(), 13 + FLEET, "{got:?}");
    assert!(got.values().all(|n| *n == 0));
    for auto in [
        "closed,to=open,reason=consecutive_failures",
        "closed,to=open,reason=failure_rate",
        "closed,to=open,reason=slow_call_rate",
        "open,to=half_open,reason=timeout_elapsed",
        "forced_open,to=half_open,reason=timeout_elapsed",
        "half_open,to=open,reason=half_open_failure",
        "half_open,to=open,reason=half_open_slow_call",
        "half_open,to=open,reason=timeout_elapsed",
        "half_open,to=closed,reason=half_open_success",
        "closed,to=closed,reason=manual",
        "closed,to=disabled,reason=manual",
        "closed,to=metrics_only,reason=manual",
        "closed,to=forced_open,reason=forced",
    ] {
        assert_eq!(got.get(auto), Some(&0), "{auto} pre-registered");
    }
}

#[test]
fn dry_run_counters_exist_at_zero_from_the_first_entry_into_metrics_only() {
    let (rec, b, _clock) = scripted();
    let dry = |rec: &DebuggingRecorder| Snap::take(rec).counters_of(names::DRY_RUN_TRIPS_TOTAL);
    assert!(dry(&rec).is_empty(), "a breaker never in metrics_only");
    metrics::with_local_recorder(&rec, || b.metrics_only());
    let got = dry(&rec);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.values().all(|n| *n == 0));
    // Built in metrics_only: at 0 from the start.
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("dry")
            .initial_state(State::MetricsOnly)
            .build()
            .unwrap()
    });
    let _ = b;
    let got = dry(&rec);
    assert_eq!(got.len(), 6, "{got:?}");
}

#[test]
fn transitions_out_of_a_state_exist_at_zero_while_the_breaker_is_in_it() {
    let (rec, b, _clock) = scripted();
    let out_of_forced = [
        "forced_open,to=closed,reason=manual",
        "forced_open,to=disabled,reason=manual",
        "forced_open,to=metrics_only,reason=manual",
        "forced_open,to=forced_open,reason=forced",
    ];
    let got = transition_series(&rec);
    assert!(out_of_forced.iter().all(|k| !got.contains_key(*k)));
    metrics::with_local_recorder(&rec, || b.force_open());
    // What a scrape while the breaker is forced open sees: every way out, at 0.
    let got = transition_series(&rec);
    for k in out_of_forced {
        assert_eq!(got.get(k), Some(&0), "{k}");
    }
    assert_eq!(got["closed,to=forced_open,reason=forced"], 1);
    // The way out the operator takes then moves from 0 to 1: increase() sees it. The
    // handle was bound when the breaker entered the state, so this may run anywhere.
    b.reset();
    let got = transition_series(&rec);
    assert_eq!(got["forced_open,to=closed,reason=manual"], 1);
    assert_eq!(got.len(), 13 + FLEET + 4);
}

#[test]
fn a_breaker_can_keep_fewer_duration_histograms_and_still_counts_every_call() {
    use breakerbox::{DurationHistogram, Registry};
    let rec = DebuggingRecorder::new();
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    assert_eq!(registry.duration_histogram(), DurationHistogram::ByOutcome);
    let build = |name: &str, h: DurationHistogram| {
        registry.set_duration_histogram(h);
        metrics::with_local_recorder(&rec, || {
            registry
                .breaker(
                    name,
                    Config::builder().call_timeout(secs(1)).build().unwrap(),
                )
                .unwrap()
        })
    };
    let all = build("all", DurationHistogram::ByOutcome);
    let two = build("two", DurationHistogram::SuccessAndFailure);
    let off = build("off", DurationHistogram::Off);
    for b in [&all, &two, &off] {
        b.call_sync(|| Ok::<_, ()>(())).unwrap();
        let _ = b.call_sync(|| Err::<(), _>(()));
        let _ = b.call_sync_with(|_| Outcome::Ignore, || Err::<(), _>(()));
        let _ = b.call_sync(|| {
            clock.advance(secs(2));
            Ok::<_, ()>(())
        }); // past the call timeout: outcome timeout
    }
    let s = Snap::take(&rec);
    let histograms = |breaker: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .values
            .keys()
            .filter(|k| {
                k.starts_with(&format!(
                    "{}{{breaker={breaker},",
                    names::CALL_DURATION_SECONDS
                ))
            })
            .map(|k| {
                k.rsplit_once("outcome=")
                    .unwrap()
                    .1
                    .trim_end_matches('}')
                    .to_owned()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        histograms("all"),
        ["failure", "ignored", "success", "timeout"]
    );
    assert_eq!(histograms("two"), ["failure", "success"]);
    assert!(histograms("off").is_empty());
    for b in ["all", "two", "off"] {
        for o in ["success", "failure", "ignored", "timeout"] {
            let id = format!("breakerbox_calls_total{{breaker={b},outcome={o}}}");
            assert_eq!(s.counter(&id), 1, "{id}");
        }
    }
}
