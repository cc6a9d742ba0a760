//! `promtool check metrics` accepts the exporter's output for breakers driven through every
//! state. Needs `promtool` on PATH (Debian package `prometheus`); without it the test is
//! skipped with a message, except under CI (`CI` set), where a missing promtool fails.
//! Set `BREAKERBOX_PRINT_METRICS=1` to print the rendered output.
#![cfg(all(feature = "prometheus", feature = "test-util"))]

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::drive::*;
use crate::support::prom_text::*;
use breakerbox::observe::prometheus;
use breakerbox::{Config, ManualClock, Registry, State};

pub(crate) fn promtool_available() -> bool {
    match Command::new("promtool").arg("--version").output() {
        Ok(out) => out.status.success(),
        Err(_) => false,
    }
}

/// Runs `promtool check metrics` on `text`; returns its exit success and its output.
pub(crate) fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), msg)
}

#[test]
fn promtool_accepts_the_exporter_output_for_every_state() {
    if !promtool_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required under CI (Debian package `prometheus`)"
        );
        eprintln!(
            "SKIPPED promtool_accepts_the_exporter_output_for_every_state: `promtool` not found \
             on PATH (install Debian's `prometheus` package)"
        );
        return;
    }
    let (rec, handle) = recorder();
    let clock = ManualClock::new();
    let registry = metrics::with_local_recorder(&rec, || {
        let registry = Registry::builder().clock(clock.clone()).build();
        // One breaker driven through every state and reason, plus one resting in each
        // state, so every label value appears in one output.
        let driven = registry.breaker("driven", config()).unwrap();
        drive_through_every_state(&driven, &clock);
        for name in ["open", "half-open", "forced", "disabled", "dry-run"] {
            registry
                .breaker(
                    name,
                    Config::builder().failure_threshold(1).build().unwrap(),
                )
                .unwrap();
        }
        registry
    });
    let get = |n: &str| registry.get(n).unwrap();
    let _ = get("open").call_sync(|| Err::<(), _>(()));
    let _ = get("half-open").call_sync(|| Err::<(), _>(()));
    get("forced").force_open();
    get("disabled").disable();
    get("dry-run").metrics_only();
    let _ = get("dry-run").call_sync(|| Err::<(), _>(()));
    clock.advance(secs(29));
    registry.poll_timeouts();
    assert_eq!(get("open").state(), State::Open);
    let _ = get("half-open").try_acquire(); // keeps Open: 29 s < 30 s
    clock.advance(secs(1));
    get("half-open").poll_timeouts();
    assert_eq!(get("half-open").state(), State::HalfOpen);
    // `open` stays open: it tripped at the same time, but is polled before the deadline.
    let text = prometheus::render(&handle, &Registry::new());
    if std::env::var_os("BREAKERBOX_PRINT_METRICS").is_some() {
        println!("{text}");
    }
    let samples = parse(&text);
    for name in [
        "driven",
        "open",
        "half-open",
        "forced",
        "disabled",
        "dry-run",
    ] {
        let (hot, n) = hot_states(&samples, name);
        assert_eq!((hot.len(), n), (1, 6), "{name}: {hot:?}");
    }
    let (ok, msg) = promtool_check(&text);
    assert!(
        ok,
        "promtool check metrics failed:\n{msg}\n--- output ---\n{text}"
    );
    assert!(
        msg.trim().is_empty(),
        "promtool reported lint problems:\n{msg}"
    );
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    if !promtool_available() {
        eprintln!("SKIPPED promtool_rejects_a_broken_exposition: `promtool` not found on PATH");
        return;
    }
    // The check is real: a counter without HELP and with a bad value fails.
    let (ok, _) =
        promtool_check("# TYPE breakerbox_x_total counter\nbreakerbox_x_total{a=\"b\"} nope\n");
    assert!(!ok);
}
