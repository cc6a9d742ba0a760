//! The call-duration histogram in `prometheus::render`'s text: exact, monotonic, one
//! family, and gone with its breaker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{DURATION_BUCKETS, builder, render};
use crate::{CircuitBreaker, Config, ManualClock, Outcome, Registry};

/// The value of the sample line `series` (name and labels, exactly) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn series(suffix: &str, breaker: &str, outcome: &str, le: Option<&str>) -> String {
    let le = le.map(|le| format!(",le=\"{le}\"")).unwrap_or_default();
    format!(
        "breakerbox_call_duration_seconds_{suffix}{{breaker=\"{breaker}\",outcome=\"{outcome}\"{le}}}"
    )
}

/// A registry with a Prometheus recorder (the crate's buckets) and a manual clock.
fn service() -> (
    Registry,
    metrics_exporter_prometheus::PrometheusRecorder,
    ManualClock,
) {
    let clock = ManualClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    (registry, builder().build_recorder(), clock)
}

fn quiet() -> Config {
    Config::builder()
        .failure_threshold(u32::MAX)
        .min_calls(u32::MAX)
        .build()
        .unwrap()
}

#[test]
fn calls_from_many_threads_render_exact_buckets_count_and_sum() {
    let (registry, recorder, clock) = service();
    let handle = recorder.handle();
    let b = metrics::with_local_recorder(&recorder, || registry.breaker("db", quiet()).unwrap());
    // Timed calls on one thread: each advances the clock by its duration while it runs.
    let timed = [
        (Duration::from_micros(500), "0.0005"),
        (Duration::from_micros(501), "0.001"),
        (Duration::from_millis(3), "0.005"),
        (Duration::from_secs(2), "2"),
        (Duration::from_secs(90), "+Inf"),
    ];
    for (d, _) in timed {
        b.call_sync(|| {
            clock.advance(d);
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    // The first render switches the breaker to its own histogram mid-way.
    let first = render(&handle, &registry);
    assert_eq!(
        value(&first, &series("count", "db", "success", None)),
        Some(5.0)
    );
    // Untimed calls (the clock stands still) from 8 threads: every one in the first bucket.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let _ = if (i + t) % 2 == 0 {
                        b.call_sync(|| Ok::<_, ()>(()))
                    } else {
                        b.call_sync(|| Err::<(), _>(()))
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = render(&handle, &registry);
    let succ = |suffix, le| value(&text, &series(suffix, "db", "success", le));
    assert_eq!(succ("count", None), Some(8_000.0 + 5.0));
    assert_eq!(succ("bucket", Some("+Inf")), Some(8_005.0));
    assert_eq!(succ("bucket", Some("0.0005")), Some(8_001.0));
    assert_eq!(succ("bucket", Some("0.001")), Some(8_002.0));
    assert_eq!(succ("bucket", Some("0.0025")), Some(8_002.0));
    assert_eq!(succ("bucket", Some("0.005")), Some(8_003.0));
    assert_eq!(succ("bucket", Some("2")), Some(8_004.0));
    assert_eq!(succ("bucket", Some("60")), Some(8_004.0));
    assert_eq!(succ("sum", None), Some(92.004_001));
    let fail = |suffix, le| value(&text, &series(suffix, "db", "failure", le));
    assert_eq!(fail("count", None), Some(8_000.0));
    assert_eq!(fail("bucket", Some("0.0005")), Some(8_000.0));
    assert_eq!(fail("sum", None), Some(0.0));
    // Every bound, once per breaker and outcome: the exporter's lines are not repeated.
    for outcome in ["success", "failure", "ignored", "timeout"] {
        for le in DURATION_BUCKETS {
            let s = series("bucket", "db", outcome, Some(&le.to_string()));
            assert_eq!(text.lines().filter(|l| l.starts_with(&s)).count(), 1, "{s}");
        }
    }
    assert_eq!(
        text.matches("# TYPE breakerbox_call_duration_seconds histogram\n")
            .count(),
        1
    );
}

#[test]
fn a_removed_breakers_histogram_leaves_the_render() {
    let (registry, recorder, _clock) = service();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for name in ["kept", "gone"] {
            let b = registry.breaker(name, quiet()).unwrap();
            b.call_sync(|| Ok::<_, ()>(())).unwrap();
        }
    });
    let before = render(&handle, &registry);
    assert_eq!(
        value(&before, &series("count", "gone", "success", None)),
        Some(1.0)
    );
    registry.remove("gone");
    let after = render(&handle, &registry);
    assert!(!after.contains("breaker=\"gone\""), "{after}");
    assert_eq!(
        value(&after, &series("count", "kept", "success", None)),
        Some(1.0)
    );
}

#[test]
fn count_is_monotonic_and_equals_the_inf_bucket_in_every_scrape() {
    let (registry, recorder, _clock) = service();
    let handle = recorder.handle();
    let b = metrics::with_local_recorder(&recorder, || registry.breaker("db", quiet()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let (b, stop) = (b.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    b.call_sync(|| Ok::<_, ()>(())).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut last = 0.0;
    for _ in 0..200 {
        let text = render(&handle, &registry);
        let count = value(&text, &series("count", "db", "success", None)).unwrap();
        let inf = value(&text, &series("bucket", "db", "success", Some("+Inf"))).unwrap();
        assert_eq!(count, inf);
        assert!(count >= last, "{count} after {last}");
        last = count;
    }
    stop.store(true, Ordering::Relaxed);
    let calls: u64 = callers.into_iter().map(|t| t.join().unwrap()).sum();
    let text = render(&handle, &registry);
    assert_eq!(
        value(&text, &series("count", "db", "success", None)),
        Some(calls as f64)
    );
}

#[test]
fn breakers_without_a_recorder_or_a_histogram_render_none() {
    let (registry, recorder, _clock) = service();
    let handle = recorder.handle();
    // Built with no recorder in force: nothing recorded, nothing kept.
    let bare = registry.breaker("bare", quiet()).unwrap();
    bare.call_sync(|| Ok::<_, ()>(())).unwrap();
    metrics::with_local_recorder(&recorder, || {
        let off = CircuitBreaker::builder("off")
            .duration_histogram(crate::DurationHistogram::Off)
            .build()
            .unwrap();
        let _ = off.call_sync_with(|_| Outcome::Success, || Ok::<_, ()>(()));
        registry.breaker("on", quiet()).unwrap();
    });
    let text = render(&handle, &registry);
    assert!(!text.contains("breakerbox_call_duration_seconds_count{breaker=\"bare\""));
    assert!(!text.contains("breakerbox_call_duration_seconds_count{breaker=\"off\""));
    assert_eq!(
        value(&text, &series("count", "on", "success", None)),
        Some(0.0)
    );
}

#[test]
fn once_rendered_calls_no_longer_record_into_the_recorders_histogram() {
    let (registry, recorder, _clock) = service();
    let handle = recorder.handle();
    let b = metrics::with_local_recorder(&recorder, || registry.breaker("db", quiet()).unwrap());
    b.call_sync(|| Ok::<_, ()>(())).unwrap();
    // Before any render, the recorder's own histogram takes each call (other exporters).
    let count = series("count", "db", "success", None);
    assert_eq!(value(&handle.render(), &count), Some(1.0));
    render(&handle, &registry);
    for _ in 0..10 {
        b.call_sync(|| Ok::<_, ()>(())).unwrap();
    }
    assert_eq!(value(&handle.render(), &count), Some(1.0));
    assert_eq!(value(&render(&handle, &registry), &count), Some(11.0));
}

/// The sample lines of `breakerbox_transitions_total` for breaker `name`.
fn transitions<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("breakerbox_transitions_total{{breaker=\"{name}\",");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[test]
fn transition_series_are_rendered_at_0_until_they_move_and_registered_when_they_do() {
    let (registry, recorder, _clock) = service();
    let handle = recorder.handle();
    let b = super::with_local_recorder(&recorder, || registry.breaker("db", quiet()).unwrap());
    // Not in the recorder: the render writes them.
    assert!(transitions(&handle.render(), "db").is_empty());
    let text = render(&handle, &registry);
    let zeros = transitions(&text, "db");
    assert_eq!(zeros.len(), 13 + super::super::transitions::FLEET.len());
    assert!(zeros.iter().all(|l| l.ends_with(" 0")));
    let trip = "breakerbox_transitions_total{breaker=\"db\",from=\"closed\",to=\"forced_open\",reason=\"forced\"}";
    assert_eq!(value(&text, trip), Some(0.0));
    super::with_local_recorder(&recorder, || b.force_open());
    let text = render(&handle, &registry);
    assert_eq!(value(&text, trip), Some(1.0));
    assert_eq!(text.lines().filter(|l| l.starts_with(trip)).count(), 1);
    // Entering forced_open owes its operator transitions, at 0.
    let out = "breakerbox_transitions_total{breaker=\"db\",from=\"forced_open\",to=\"closed\",reason=\"manual\"}";
    assert_eq!(value(&text, out), Some(0.0));
    assert_eq!(
        transitions(&text, "db").len(),
        17 + super::super::transitions::FLEET.len()
    );
    assert_eq!(
        text.matches("# TYPE breakerbox_transitions_total counter\n")
            .count(),
        1
    );
    registry.remove("db");
    assert!(transitions(&render(&handle, &registry), "db").is_empty());
}

#[test]
fn breakers_served_by_render_only_register_no_histogram_with_the_recorder() {
    let (registry, recorder, _clock) = service();
    let handle = recorder.handle();
    let b = super::with_local_recorder(&recorder, || registry.breaker("db", quiet()).unwrap());
    for _ in 0..3 {
        b.call_sync(|| Ok::<_, ()>(())).unwrap();
    }
    assert!(!handle.render().contains("breakerbox_call_duration_seconds"));
    // Nor does a timer register the transition series owed at 0.
    b.observer().publish_counters(&b.outcome_totals());
    assert!(transitions(&handle.render(), "db").is_empty());
    let text = render(&handle, &registry);
    assert_eq!(
        value(&text, &series("count", "db", "success", None)),
        Some(3.0)
    );
    assert_eq!(
        value(&text, &series("bucket", "db", "success", Some("0.0005"))),
        Some(3.0)
    );
    assert_eq!(
        transitions(&text, "db").len(),
        13 + super::super::transitions::FLEET.len()
    );
}

#[test]
fn the_exporters_global_labels_lead_breakerboxs_own_lines_too() {
    let recorder = builder().add_global_label("env", "prod").build_recorder();
    let handle = recorder.handle();
    let registry = Registry::new();
    let b = super::with_local_recorder(&recorder, || registry.breaker("db", quiet()).unwrap());
    b.call_sync(|| Ok::<_, ()>(())).unwrap();
    let text = render(&handle, &registry);
    assert!(
        text.contains("breakerbox_state{env=\"prod\",breaker=\"db\",state=\"closed\"} 1\n"),
        "{text}"
    );
    assert!(text.contains(
        "breakerbox_call_duration_seconds_count{env=\"prod\",breaker=\"db\",outcome=\"success\"} 1\n"
    ), "{text}");
    assert!(text.contains(
        "breakerbox_transitions_total{env=\"prod\",breaker=\"db\",from=\"closed\",to=\"open\",reason=\"failure_rate\"} 0\n"
    ));
}

/// What `render` writes for breakers built outside a registry: the exporter's text with
/// each breaker's own histograms in place of the exporter's lines for it.
fn render_breakers(handle: &super::PrometheusHandle, breakers: &[&CircuitBreaker]) -> String {
    let mut own = super::super::exposition::Own::default();
    for b in breakers {
        let metrics = b.observer().metrics();
        own.durations(metrics.name(), metrics.render_durations().unwrap());
    }
    super::super::exposition::merge(&handle.render(), &own, |_| false)
}

/// The `le` values of the bucket lines of `breaker` and `outcome`, in order.
fn les(text: &str, breaker: &str, outcome: &str) -> Vec<String> {
    let prefix = format!(
        "{},le=\"",
        series("bucket", breaker, outcome, None).trim_end_matches('}')
    );
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_breaker_with_coarse_buckets_renders_exactly_its_bounds_and_a_default_one_all_17() {
    let recorder = builder().build_recorder();
    let handle = recorder.handle();
    let clock = ManualClock::new();
    let (coarse, standard) = metrics::with_local_recorder(&recorder, || {
        let build = |name, buckets| {
            CircuitBreaker::builder(name)
                .config(quiet())
                .clock(clock.clone())
                .duration_buckets(buckets)
                .build()
                .unwrap()
        };
        (
            build("tenant", crate::DurationBuckets::Coarse),
            build("db", crate::DurationBuckets::default()),
        )
    });
    let timed = |b: &CircuitBreaker, d: Duration, ok: bool| {
        let _ = b.call_sync(|| {
            clock.advance(d);
            if ok { Ok(()) } else { Err(()) }
        });
    };
    for b in [&coarse, &standard] {
        for ms in [1, 5, 30, 2_000, 11_000] {
            timed(b, Duration::from_millis(ms), true);
        }
        timed(b, Duration::from_millis(600), false);
    }
    // Before its first render, the coarse breaker records through the facade: the
    // exporter's bounds for the metric name, all 17.
    assert_eq!(les(&handle.render(), "tenant", "success").len(), 18);

    let text = render_breakers(&handle, &[&coarse, &standard]);
    let coarse_les = ["0.005", "0.025", "0.1", "0.5", "2", "5", "10", "+Inf"];
    for outcome in ["success", "failure", "ignored", "timeout"] {
        assert_eq!(les(&text, "tenant", outcome), coarse_les, "{outcome}");
        let mut all: Vec<String> = DURATION_BUCKETS.iter().map(f64::to_string).collect();
        all.push("+Inf".into());
        assert_eq!(les(&text, "db", outcome), all, "{outcome}");
    }
    let succ = |le: &str| value(&text, &series("bucket", "tenant", "success", Some(le)));
    let cumulative = [2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0];
    for (le, want) in coarse_les.iter().zip(cumulative) {
        assert_eq!(succ(le), Some(want), "le={le}");
    }
    let tenant = |suffix, outcome| value(&text, &series(suffix, "tenant", outcome, None));
    assert_eq!(tenant("count", "success"), Some(5.0));
    assert_eq!(tenant("sum", "success"), Some(13.036));
    let fail = |le: &str| value(&text, &series("bucket", "tenant", "failure", Some(le)));
    assert_eq!(fail("0.5"), Some(0.0));
    assert_eq!(fail("2"), Some(1.0));
    assert_eq!(tenant("count", "failure"), Some(1.0));
    assert_eq!(tenant("sum", "failure"), Some(0.6));
    assert_eq!(tenant("count", "timeout"), Some(0.0));
    // The standard breaker, same calls: its own 17 bounds.
    let db = |le: &str| value(&text, &series("bucket", "db", "success", Some(le)));
    assert_eq!(db("0.001"), Some(1.0));
    assert_eq!(db("0.025"), Some(2.0));
    assert_eq!(db("10"), Some(4.0));
    assert_eq!(db("60"), Some(5.0));
    assert_eq!(
        value(&text, &series("count", "db", "success", None)),
        Some(5.0)
    );
    // One family: 10 lines per coarse histogram, 20 per standard one.
    assert_eq!(
        text.matches("# TYPE breakerbox_call_duration_seconds ")
            .count(),
        1
    );
    let lines = |breaker: &str| {
        let needle = format!("{{breaker=\"{breaker}\",outcome=");
        text.lines()
            .filter(|l| l.starts_with("breakerbox_call_duration_seconds_") && l.contains(&needle))
            .count()
    };
    assert_eq!(lines("tenant"), 4 * 10);
    assert_eq!(lines("db"), 4 * 20);
}

#[test]
fn bad_custom_buckets_are_a_typed_build_error() {
    use crate::{BuildError, ConfigError, DurationBuckets};
    let build = |bounds: Vec<f64>| {
        CircuitBreaker::builder("x")
            .duration_buckets(DurationBuckets::Custom(bounds))
            .build()
    };
    for bad in [
        vec![],
        vec![0.1; 18],
        vec![0.1, f64::NAN],
        vec![0.0],
        vec![-1.0],
        vec![f64::INFINITY],
        vec![0.5, 0.25],
        vec![0.5, 0.5],
    ] {
        let e = build(bad.clone()).unwrap_err();
        assert!(matches!(e, BuildError::Config(_)), "{bad:?}: {e:?}");
        assert_eq!(e.field(), "duration_buckets", "{bad:?}");
    }
    assert!(matches!(
        build(vec![0.1; 18]).unwrap_err(),
        BuildError::Config(ConfigError::TooLarge {
            value: 18,
            max: 17,
            ..
        })
    ));
    assert!(build(vec![0.01, 0.1, 1.0]).is_ok());
}

#[test]
fn a_registry_set_to_coarse_buckets_renders_its_new_breakers_with_the_coarse_bounds() {
    use crate::observe::{COARSE_DURATION_BUCKETS, DurationBuckets};
    let (registry, recorder, clock) = service();
    let handle = recorder.handle();
    let before =
        metrics::with_local_recorder(&recorder, || registry.breaker("before", quiet()).unwrap());
    // Bad bounds are refused and leave the registry's choice as it was.
    let bad = DurationBuckets::Custom(vec![0.5, 0.1]);
    assert!(registry.set_duration_buckets(bad).is_err());
    assert_eq!(registry.duration_buckets(), DurationBuckets::Standard);
    registry
        .set_duration_buckets(DurationBuckets::Coarse)
        .unwrap();
    let after =
        metrics::with_local_recorder(&recorder, || registry.breaker("after", quiet()).unwrap());
    for b in [&before, &after] {
        b.call_sync(|| {
            clock.advance(Duration::from_millis(3));
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    let text = render(&handle, &registry);
    let les = |breaker: &str| -> Vec<String> {
        let prefix = format!(
            "breakerbox_call_duration_seconds_bucket{{breaker=\"{breaker}\",outcome=\"success\",le=\""
        );
        text.lines()
            .filter_map(|l| Some(l.strip_prefix(&prefix)?.split('"').next()?.to_owned()))
            .collect()
    };
    let coarse: Vec<f64> = les("after")
        .iter()
        .filter(|le| *le != "+Inf")
        .map(|le| le.parse().unwrap())
        .collect();
    assert_eq!(coarse, COARSE_DURATION_BUCKETS.to_vec(), "{text}");
    assert_eq!(les("before").len(), DURATION_BUCKETS.len() + 1);
    // The 3 ms call lands in the coarse 5 ms bucket.
    let five_ms = series("bucket", "after", "success", Some("0.005"));
    assert_eq!(value(&text, &five_ms), Some(1.0));
}
