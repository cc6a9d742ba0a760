//! What a Prometheus scrape sees: the one-hot state gauge under scrapes racing operator
//! actions and breakers being built and removed, the series of a breaker removed from its registry, and the listener that
//! `observe::prometheus::install` serves.
#![cfg(all(feature = "prometheus", feature = "test-util"))]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use crate::support::drive::*;
use crate::support::prom_text::*;
use breakerbox::observe::prometheus;
use breakerbox::{CircuitBreaker, Config, Registry};

/// Every breakerbox sample of `breaker` in `text`.
fn series_of(text: &str, breaker: &str) -> Vec<String> {
    let label = format!("breaker=\"{breaker}\"");
    text.lines()
        .filter(|l| l.starts_with("breakerbox_") && l.contains(&label))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_scrape_never_sees_zero_or_two_states_while_operators_act() {
    let (rec, handle) = recorder();
    // `race-a` is in the registry rendered, so each render publishes its state gauges;
    // `race-b` is not, so its transitions write them (under the scrape lock).
    let (registry, b) = metrics::with_local_recorder(&rec, || {
        let registry = Registry::new();
        registry.breaker("race-a", Config::default()).unwrap();
        (registry, CircuitBreaker::new("race-b"))
    });
    let stop = Arc::new(AtomicBool::new(false));
    let operators: Vec<_> = [registry.get("race-a").unwrap(), b]
        .into_iter()
        .map(|b| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut actions = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    b.force_open();
                    b.reset();
                    b.disable();
                    actions += 3;
                    // Lets the scraper take the lock now and then (std's mutex is not fair).
                    thread::yield_now();
                }
                actions
            })
        })
        .collect();
    let mut violations = Vec::new();
    let mut states_seen =
        std::collections::BTreeMap::<&str, std::collections::BTreeSet<String>>::new();
    for scrape in 0..10_000 {
        let text = prometheus::render(&handle, &registry);
        // Only the state series matter here (parsing all of them 10,000 times is slow).
        let state: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("breakerbox_state"))
            .collect();
        let samples = parse(&state.join("\n"));
        for name in ["race-a", "race-b"] {
            let (hot, n) = hot_states(&samples, name);
            if hot.len() != 1 || n != 6 {
                violations.push((scrape, name, hot.clone(), n));
            }
            states_seen.entry(name).or_default().extend(hot);
            let since = value(
                &samples,
                "breakerbox_state_since_timestamp_seconds",
                &[("breaker", name)],
            );
            assert!(
                since.is_some_and(|s| s > 0.0),
                "scrape {scrape}: since {since:?}"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let actions: u64 = operators.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(actions > 0);
    assert_eq!(
        violations.len(),
        0,
        "first violations: {:?}",
        &violations[..violations.len().min(5)]
    );
    // The scrapes did race the operators: they saw more than one state.
    assert!(
        states_seen.len() > 1,
        "{states_seen:?} after {actions} actions"
    );
}

/// Breakers built (under new names, whose series the recorder has never held) and removed
/// while a scraper renders: no scrape shows a breaker whose six state series are all 0,
/// or two at 1, or a since-timestamp of 0. 10,000 scrapes, in blocks of 5 with a new
/// recorder each so the exporter's text stays small; each scrape races the build of one
/// breaker and the removal of another.
#[test]
fn a_scrape_never_sees_zero_or_two_states_while_breakers_are_built_and_removed() {
    const BLOCKS: usize = 2_000;
    const SCRAPES: usize = 5;
    let mut violations = Vec::new();
    let mut seen = 0;
    for block in 0..BLOCKS {
        let (rec, handle) = recorder();
        let registry = Registry::new();
        // Scrape `i` starts the build of breaker `i`, and waits for it before scrape `i + 1`.
        let (started, made) = (AtomicUsize::new(0), AtomicUsize::new(0));
        thread::scope(|s| {
            s.spawn(|| {
                prometheus::with_local_recorder(&rec, || {
                    for n in 0..SCRAPES {
                        while started.load(Ordering::Acquire) <= n {
                            thread::yield_now();
                        }
                        registry
                            .breaker(&format!("built-{n}"), Config::default())
                            .unwrap();
                        if n >= 2 {
                            registry.remove(&format!("built-{}", n - 2)).unwrap();
                        }
                        made.store(n + 1, Ordering::Release);
                    }
                });
            });
            for scrape in 0..SCRAPES {
                started.store(scrape + 1, Ordering::Release);
                let text = prometheus::render(&handle, &registry);
                let state: Vec<&str> = text
                    .lines()
                    .filter(|l| l.starts_with("breakerbox_state"))
                    .collect();
                let samples = parse(&state.join("\n"));
                let names: BTreeSet<&String> =
                    samples.iter().map(|s| &s.labels["breaker"]).collect();
                seen += names.len();
                for name in names {
                    let (hot, n) = hot_states(&samples, name);
                    let since = value(
                        &samples,
                        "breakerbox_state_since_timestamp_seconds",
                        &[("breaker", name)],
                    );
                    if hot.len() != 1 || n != 6 || !since.is_some_and(|s| s > 0.0) {
                        violations.push((block, scrape, name.clone(), hot, n, since));
                    }
                }
                while made.load(Ordering::Acquire) <= scrape {
                    thread::yield_now();
                }
            }
        });
    }
    // Each scrape but a block's first sees one or two breakers.
    assert!(seen >= BLOCKS * (SCRAPES - 1), "{seen} breakers seen");
    assert_eq!(
        violations.len(),
        0,
        "first violations: {:?}",
        &violations[..violations.len().min(5)]
    );
}

#[test]
fn a_removed_breaker_leaves_the_render_until_built_again() {
    let (rec, handle) = recorder();
    let registry = metrics::with_local_recorder(&rec, || {
        let registry = Registry::new();
        registry.breaker("removed-open", Config::default()).unwrap();
        registry.breaker("kept", Config::default()).unwrap();
        registry
    });
    let gone = registry.get("removed-open").unwrap();
    gone.force_open();
    let before = prometheus::render(&handle, &registry);
    assert!(
        before.contains("breakerbox_state{breaker=\"removed-open\",state=\"forced_open\"} 1"),
        "{before}"
    );

    registry.remove("removed-open").unwrap();
    let after = prometheus::render(&handle, &registry);
    assert_eq!(series_of(&after, "removed-open"), Vec::<String>::new());
    assert_eq!(
        hot_states(&parse(&after), "kept"),
        (vec!["closed".to_owned()], 6)
    );
    // The removed handle keeps working, and its series stay out of the render.
    gone.reset();
    gone.call_sync(|| Ok::<_, ()>(())).unwrap();
    let later = prometheus::render(&handle, &registry);
    assert_eq!(series_of(&later, "removed-open"), Vec::<String>::new());

    // Built again under the same name: its series are back, one-hot, and the old handle
    // no longer moves the new breaker's state gauges.
    let again = metrics::with_local_recorder(&rec, || {
        registry.breaker("removed-open", Config::default()).unwrap()
    });
    gone.force_open();
    let back = parse(&prometheus::render(&handle, &registry));
    assert_eq!(
        hot_states(&back, "removed-open"),
        (vec!["closed".to_owned()], 6)
    );
    again.force_open();
    let back = parse(&prometheus::render(&handle, &registry));
    assert_eq!(
        hot_states(&back, "removed-open"),
        (vec!["forced_open".to_owned()], 6)
    );
}

/// Two registries with a breaker named `twin`: removing one registry's leaves the other's
/// in its scrape, whether each registry has its own recorder or both share one (then the
/// series are the live twin's); the series leave once no twin is live.
#[test]
fn removing_a_name_from_one_registry_keeps_the_other_registrys_breaker_in_its_scrape() {
    let twin_in = |registry: &Registry, handle: &prometheus::PrometheusHandle| {
        let text = prometheus::render(handle, registry);
        (
            hot_states(&parse(&text), "twin"),
            series_of(&text, "twin").len(),
        )
    };
    let forced = (vec!["forced_open".to_owned()], 6);

    // Each registry with its own recorder.
    let ((rec_a, handle_a), (rec_b, handle_b)) = (recorder(), recorder());
    let (a, b) = (Registry::new(), Registry::new());
    metrics::with_local_recorder(&rec_a, || a.breaker("twin", Config::default()).unwrap());
    metrics::with_local_recorder(&rec_b, || b.breaker("twin", Config::default()))
        .unwrap()
        .force_open();
    a.remove("twin").unwrap();
    assert_eq!(twin_in(&b, &handle_b).0, forced, "B's own twin");
    assert_eq!(twin_in(&a, &handle_a), ((vec![], 0), 0), "A's removed twin");

    // Both registries with one recorder: one set of `twin` series, the live one's.
    let (rec, handle) = recorder();
    let (a, b) = (Registry::new(), Registry::new());
    metrics::with_local_recorder(&rec, || {
        a.breaker("twin", Config::default()).unwrap();
        b.breaker("twin", Config::default()).unwrap().force_open();
    });
    a.remove("twin").unwrap();
    assert_eq!(twin_in(&b, &handle).0, forced);
    assert_eq!(twin_in(&a, &handle).0, forced, "the same series, B's");
    b.remove("twin").unwrap();
    assert_eq!(twin_in(&b, &handle), ((vec![], 0), 0));
    assert_eq!(twin_in(&a, &handle), ((vec![], 0), 0));
}

/// One GET of `/metrics` from the listener at `port`: the status line and the body.
fn scrape(port: u16) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn the_installed_listener_serves_the_consistent_render() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    prometheus::install(([127, 0, 0, 1], port)).unwrap();
    // Built after the install: the handles bind to the global recorder.
    let registry = Registry::new();
    let b = registry
        .breaker("listener-open", Config::default())
        .unwrap();
    registry
        .breaker("listener-removed", Config::default())
        .unwrap();
    b.force_open();
    registry.remove("listener-removed").unwrap();

    let (status, body) = scrape(port);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let samples = parse(&body);
    assert_eq!(
        hot_states(&samples, "listener-open"),
        (vec!["forced_open".to_owned()], 6)
    );
    assert_eq!(series_of(&body, "listener-removed"), Vec::<String>::new());
    // The listener keeps serving.
    assert_eq!(scrape(port).0, "HTTP/1.1 200 OK");
}
