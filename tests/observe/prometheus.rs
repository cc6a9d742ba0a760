//! Metrics as Prometheus renders them: a local Prometheus recorder (never the global one),
//! breakers built inside `metrics::with_local_recorder` so their handles bind to it, and
//! the text output parsed back. Checks the one-hot state gauge at every transition, exact
//! counts under contention, the rate and config gauges, and that docs/METRICS.md lists
//! exactly the names the code emits.
#![cfg(all(feature = "prometheus", feature = "test-util"))]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::support::drive::*;
use crate::support::metric_names::*;
use crate::support::prom_text::*;
use breakerbox::observe::names::{self, METRICS};
use breakerbox::{CircuitBreaker, Config, Event, ManualClock, Reason, State};

use crate::support::contention::{contention_config, random_calls};

#[test]
fn state_gauge_is_one_hot_at_every_transition_and_after_every_step() {
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let checked = Arc::new(Mutex::new(Vec::<(State, State, Reason)>::new()));
    let (h, log) = (handle.clone(), checked.clone());
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("onehot")
            .config(config())
            .clock(clock.clone())
            .listener(move |e: &Event<'_>| {
                if let Event::Transition(t) = e {
                    // The observer runs before listeners: the gauges already show `t.to`.
                    let (hot, n) = hot_states(&parse(&h.render()), "onehot");
                    assert_eq!(n, 6, "six state series");
                    assert_eq!(hot, [t.to.as_str()], "after {t:?}");
                    log.lock().unwrap().push((t.from, t.to, t.reason));
                }
            })
            .build()
            .unwrap()
    });
    let (hot, n) = hot_states(&parse(&handle.render()), "onehot");
    assert_eq!(
        (hot, n),
        (vec!["closed".to_owned()], 6),
        "one-hot from the start"
    );

    // Inside the recorder: entering a state registers the transition series out of it.
    metrics::with_local_recorder(&rec, || drive_through_every_state(&b, &clock));

    let samples = parse(&handle.render());
    let (hot, _) = hot_states(&samples, "onehot");
    assert_eq!(hot, [b.state().as_str()]);
    // Every transition observed is counted once under its own from/to/reason.
    let seen = checked.lock().unwrap().clone();
    let mut expected = BTreeMap::<(String, String, String), f64>::new();
    for (f, t, r) in &seen {
        *expected
            .entry((f.as_str().into(), t.as_str().into(), r.as_str().into()))
            .or_default() += 1.0;
    }
    for ((f, t, r), n) in &expected {
        let got = value(
            &samples,
            names::TRANSITIONS_TOTAL,
            &[("breaker", "onehot"), ("from", f), ("to", t), ("reason", r)],
        );
        assert_eq!(got, Some(*n), "{f} -> {t} ({r})");
    }
    let total: f64 = samples
        .iter()
        .filter(|s| s.name == names::TRANSITIONS_TOTAL)
        .map(|s| s.value)
        .sum();
    assert_eq!(total, seen.len() as f64);
    // Every reason appeared, but `fleet`: it needs a fleet of replicas (tests/fleet.rs).
    let reasons: BTreeSet<_> = seen.iter().map(|t| t.2).collect();
    let local: BTreeSet<_> = Reason::ALL
        .into_iter()
        .filter(|r| *r != Reason::Fleet)
        .collect();
    assert_eq!(reasons, local, "reasons seen");
    // The dry-run trip.
    assert_eq!(
        value(
            &samples,
            names::DRY_RUN_TRIPS_TOTAL,
            &[("breaker", "onehot"), ("reason", "consecutive_failures")]
        ),
        Some(1.0)
    );
}

#[test]
fn state_gauge_starts_one_hot_in_an_operator_state() {
    let (rec, handle) = recorder();
    for (name, state) in [
        ("fo", State::ForcedOpen),
        ("mo", State::MetricsOnly),
        ("di", State::Disabled),
    ] {
        metrics::with_local_recorder(&rec, || {
            CircuitBreaker::builder(name)
                .initial_state(state)
                .build()
                .unwrap()
        });
        let (hot, n) = hot_states(&parse(&handle.render()), name);
        assert_eq!((hot, n), (vec![state.as_str().to_owned()], 6));
    }
}

#[test]
fn counts_are_exact_under_contention() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 50_000;
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("stress")
            .config(contention_config())
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    random_calls(&b, &clock, THREADS, CALLS, false);
    let samples = parse(&handle.render());
    let calls = |o: &str| {
        value(
            &samples,
            names::CALLS_TOTAL,
            &[("breaker", "stress"), ("outcome", o)],
        )
        .unwrap()
    };
    let totals = b.snapshot().totals;
    assert_eq!(calls("success"), totals.successes as f64);
    assert_eq!(calls("failure"), totals.failures as f64);
    assert_eq!(calls("ignored"), totals.ignored as f64);
    assert_eq!(calls("rejected"), totals.rejected as f64);
    let sum: f64 = ["success", "failure", "ignored", "rejected"]
        .iter()
        .map(|o| calls(o))
        .sum();
    assert_eq!(
        sum,
        (THREADS * CALLS) as f64,
        "every call counted exactly once"
    );
    assert!(
        calls("rejected") > 0.0,
        "the breaker tripped under the workload"
    );
    // The histogram counted every call that ran, once.
    let ran: f64 = ["success", "failure", "ignored"]
        .iter()
        .map(|o| {
            value(
                &samples,
                "breakerbox_call_duration_seconds_count",
                &[("breaker", "stress"), ("outcome", o)],
            )
            .unwrap()
        })
        .sum();
    assert_eq!(
        ran,
        (totals.successes + totals.failures + totals.ignored) as f64
    );
    let (hot, _) = hot_states(&samples, "stress");
    assert_eq!(
        hot,
        [b.state().as_str()],
        "one-hot after racing transitions"
    );
}

#[test]
fn rates_are_nan_below_min_calls_and_refreshed_by_poll() {
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("rates")
            .config(
                Config::builder()
                    .min_calls(4)
                    .failure_threshold(100)
                    .failure_rate_threshold(0.9)
                    .build()
                    .unwrap(),
            )
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    let rate = |name: &str| value(&parse(&handle.render()), name, &[("breaker", "rates")]).unwrap();
    assert!(
        rate(names::FAILURE_RATE).is_nan(),
        "NaN below min_calls, never a sentinel"
    );
    assert!(rate(names::SLOW_CALL_RATE).is_nan());
    assert_eq!(rate(names::WINDOW_CALLS), 0.0);
    for i in 0..4 {
        let _ = b.call_sync(|| if i == 0 { Err(()) } else { Ok(()) });
    }
    b.poll_timeouts();
    assert_eq!(rate(names::FAILURE_RATE), 0.25);
    assert_eq!(rate(names::SLOW_CALL_RATE), 0.0);
    assert_eq!(rate(names::WINDOW_CALLS), 4.0);
    // The window slides out: after a minute the rates are NaN again.
    clock.advance(secs(61));
    b.poll_timeouts();
    assert!(rate(names::FAILURE_RATE).is_nan());
    assert_eq!(rate(names::WINDOW_CALLS), 0.0);
}

#[test]
fn config_gauges_follow_set_config() {
    let (rec, handle) = recorder();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("cfg")
            .config(Config::database())
            .build()
            .unwrap()
    });
    let get = |name: &str| value(&parse(&handle.render()), name, &[("breaker", "cfg")]).unwrap();
    let check = |c: &Config| {
        assert_eq!(
            get(names::CONFIG_FAILURE_THRESHOLD),
            f64::from(c.failure_threshold())
        );
        assert_eq!(
            get(names::CONFIG_FAILURE_RATE_THRESHOLD),
            c.failure_rate_threshold()
        );
        assert_eq!(
            get(names::CONFIG_SLOW_CALL_RATE_THRESHOLD),
            c.slow_call_rate_threshold()
        );
        assert_eq!(
            get(names::CONFIG_SLOW_CALL_DURATION_SECONDS),
            c.slow_call_duration().as_secs_f64()
        );
        assert_eq!(get(names::CONFIG_MIN_CALLS), f64::from(c.min_calls()));
        assert_eq!(
            get(names::CONFIG_RESET_TIMEOUT_SECONDS),
            c.reset_timeout().as_secs_f64()
        );
        assert_eq!(
            get(names::CONFIG_HALF_OPEN_MAX_CALLS),
            f64::from(c.half_open_max_calls())
        );
    };
    check(&Config::database());
    b.force_open();
    b.set_config(Config::cache());
    check(&Config::cache());
    let (hot, _) = hot_states(&parse(&handle.render()), "cfg");
    assert_eq!(hot, ["forced_open"], "reconfiguration keeps the state");
}

#[test]
fn state_since_is_the_transition_time() {
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("since")
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    let since = || {
        value(
            &parse(&handle.render()),
            names::STATE_SINCE_TIMESTAMP_SECONDS,
            &[("breaker", "since")],
        )
        .unwrap()
    };
    let origin = since();
    clock.advance(secs(42));
    b.force_open();
    assert_eq!(since() - origin, 42.0);
    let at = b
        .snapshot()
        .since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((since() - at).abs() < 1e-6);
}

#[test]
fn metrics_md_lists_exactly_the_names_the_code_emits() {
    let documented = metric_names(&metrics_md());
    let defined: BTreeSet<String> = METRICS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(documented, defined, "docs/METRICS.md vs names::METRICS");

    // Every `pub const` metric name in names.rs is in METRICS.
    let src = include_str!("../../src/observe/names.rs");
    let consts: BTreeSet<String> = src
        .lines()
        .filter(|l| l.trim_start().starts_with("pub const") && l.contains("\"breakerbox_"))
        .flat_map(metric_names)
        .collect();
    assert_eq!(consts, defined, "names.rs constants vs names::METRICS");

    // The exporter's output for a breaker driven through every state has exactly these
    // names (notifications come from the notifier, not from a breaker), with HELP and TYPE.
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let b = metrics::with_local_recorder(&rec, || {
        CircuitBreaker::builder("doc")
            .config(config())
            .clock(clock.clone())
            .build()
            .unwrap()
    });
    // Inside the recorder: series registered on entering a state bind to it.
    metrics::with_local_recorder(&rec, || drive_through_every_state(&b, &clock));
    // The limits' metrics come from a bulkhead and a rate limit (feature `limit`).
    #[cfg(feature = "limit")]
    let _limits = metrics::with_local_recorder(&rec, || {
        (
            breakerbox::limit::Bulkhead::new("doc", 1).unwrap(),
            breakerbox::limit::RateLimit::per_second("doc", 1, 1).unwrap(),
        )
    });
    // The state store's series come from a registry with a store (feature `persist`).
    #[cfg(feature = "persist")]
    let (_dir, _registry) =
        metrics::with_local_recorder(&rec, crate::debugging::registry_with_a_store);
    let text = handle.render();
    // The fleet series come from a fleet (tests/redis).
    let mut not_emitted = vec![
        names::NOTIFICATIONS_TOTAL,
        names::NOTIFICATION_TLS_ERRORS_TOTAL,
        names::FLEET_CONNECTED,
        names::FLEET_KEY_ERRORS_TOTAL,
    ];
    if cfg!(not(feature = "persist")) {
        not_emitted.extend([names::STATE_STORE_SAVES_TOTAL, names::STATE_STORE_UNSAVED]);
    }
    if cfg!(not(feature = "limit")) {
        not_emitted.extend([
            names::LIMIT_REJECTIONS_TOTAL,
            names::BULKHEAD_IN_USE,
            names::BULKHEAD_MAX_CONCURRENT,
            names::RATE_LIMIT_PER_SECOND,
        ]);
    }
    let mut emitted = metric_names(&text);
    emitted.extend(not_emitted.iter().map(|n| n.to_string()));
    assert_eq!(emitted, defined, "rendered output vs names::METRICS");
    for m in METRICS.iter().filter(|m| !not_emitted.contains(&m.name)) {
        assert!(
            text.contains(&format!("# HELP {} {}\n", m.name, m.help)),
            "HELP of {}",
            m.name
        );
        assert!(
            text.contains(&format!("# TYPE {} {}\n", m.name, m.kind.as_str())),
            "TYPE of {}",
            m.name
        );
        // Every series carries exactly the documented labels.
        for s in parse(&text)
            .iter()
            .filter(|s| metric_names(&s.name).contains(m.name))
        {
            let mut got: Vec<&str> = s
                .labels
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "le")
                .collect();
            let mut want = m.labels.to_vec();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "labels of {s:?}");
        }
    }
}

#[test]
fn metrics_md_table_rows_match_kinds_and_labels() {
    let doc = metrics_md();
    let mut rows = 0;
    for line in doc.lines().filter(|l| l.starts_with("| `breakerbox_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`');
        let m = METRICS
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("unknown {name}"));
        assert_eq!(cells[2], m.kind.as_str(), "type of {name}");
        let labels: Vec<&str> = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`'))
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(labels, m.labels, "labels of {name}");
        rows += 1;
    }
    assert_eq!(rows, METRICS.len(), "one table row per metric");
    for name in [
        names::SPAN_CALL,
        names::ATTR_NAME,
        names::ATTR_STATE,
        names::ATTR_OUTCOME,
        names::ATTR_SLOW,
        names::ATTR_AFTER_THE_FACT,
        names::ATTR_START_UNIX_NANOS,
        names::ATTR_DURATION_MS,
        names::ATTR_ERROR_TYPE,
        names::ERROR_TYPE_CIRCUIT_OPEN,
        names::EVENT_TRANSITION,
        names::EVENT_WOULD_OPEN,
        names::ATTR_FROM,
        names::ATTR_TO,
        names::ATTR_REASON,
        names::ATTR_WINDOW_CALLS,
        names::ATTR_WINDOW_FAILURES,
        names::ATTR_WINDOW_SLOW_CALLS,
        names::ATTR_FAILURE_RATE,
        names::ATTR_SLOW_CALL_RATE,
        names::ATTR_CONSECUTIVE_FAILURES,
        names::ATTR_THRESHOLD,
        names::ATTR_OPEN_FOR_SECONDS,
    ] {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/METRICS.md documents `{name}`"
        );
    }
    for r in Reason::ALL {
        assert!(
            doc.contains(&format!("`{}`", r.as_str())),
            "reason {r} documented"
        );
    }
}
