//! A registry with a file store, restarted in-process on one `ManualClock`: the second
//! registry is the restarted process, and the clock's advance is the time it was down.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breakerbox::store::{Changes, FileStore, Record, Records, StateStore, StoreError};
use breakerbox::{Config, ManualClock, Reason, Registry, State};

use crate::support::eventually::eventually_blocking;
use crate::support::logs::Logs;

pub(crate) fn registry(clock: &ManualClock, path: &Path) -> Registry {
    Registry::builder()
        .clock(clock.clone())
        .state_store(FileStore::new(path))
        .build()
}

pub(crate) fn config() -> Config {
    Config::builder()
        .failure_threshold(1)
        .reset_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub(crate) fn state_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("breakers.json");
    (dir, path)
}

pub(crate) fn saved(path: &Path) -> Records {
    FileStore::new(path).load().unwrap()
}

/// A first run of the process: `postgres` forced open for `ttl`, saved, and the process
/// gone (its registry dropped).
pub(crate) fn first_run_forced_open_for(clock: &ManualClock, path: &Path, ttl: Duration) {
    let before = registry(clock, path);
    before
        .breaker("postgres", config())
        .unwrap()
        .force_open_for(ttl);
    before.persist_now().unwrap();
    drop(before);
}

#[test]
fn a_forced_open_ttl_survives_a_restart_with_the_remaining_time() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    let before = registry(&clock, &path);
    let db = before.breaker("postgres", config()).unwrap();
    db.force_open_for(Duration::from_secs(60));
    before.persist_now().unwrap();
    drop((before, db));

    clock.advance(Duration::from_secs(20)); // down for 20 s
    let after = registry(&clock, &path);
    let db = after.breaker("postgres", config()).unwrap();
    assert_eq!(db.state(), State::ForcedOpen);
    let left = db.snapshot().retry_after.unwrap();
    assert!(
        left > Duration::from_secs(39) && left <= Duration::from_secs(40),
        "{left:?}"
    );
    assert!(db.call_sync(|| Ok::<_, ()>(())).unwrap_err().is_rejected());
    // Its TTL then expires as `force_open_for`'s would: into HalfOpen, to probe.
    clock.advance(Duration::from_secs(40));
    db.poll_timeouts();
    assert_eq!(db.state(), State::HalfOpen);
}

#[test]
fn a_ttl_that_expired_while_down_starts_half_open() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    first_run_forced_open_for(&clock, &path, Duration::from_secs(60));

    clock.advance(Duration::from_secs(3600));
    let after = registry(&clock, &path);
    let db = after.breaker("postgres", config()).unwrap();
    assert_eq!(db.state(), State::HalfOpen);
    let t = db.snapshot().last_transition.unwrap();
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::ForcedOpen, State::HalfOpen, Reason::TimeoutElapsed)
    );
    // HalfOpen has no record: once saved, the next start is Closed.
    after.persist_now().unwrap();
    assert_eq!(saved(&path), Records::new());
}

#[test]
fn an_open_breaker_keeps_its_deadline_across_a_restart() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    let before = registry(&clock, &path);
    let api = before.breaker("pricing-api", config()).unwrap();
    let _ = api.call_sync(|| Err::<(), _>("down"));
    assert_eq!(api.state(), State::Open);
    before.persist_now().unwrap();
    drop((before, api));

    clock.advance(Duration::from_secs(10));
    let after = registry(&clock, &path);
    let api = after.breaker("pricing-api", config()).unwrap();
    assert_eq!(api.state(), State::Open);
    let left = api.snapshot().retry_after.unwrap();
    assert!(
        left > Duration::from_secs(19) && left <= Duration::from_secs(20),
        "{left:?}"
    );
    clock.advance(Duration::from_secs(20));
    assert!(api.call_sync(|| Ok::<_, ()>(())).is_ok()); // the first trial
    assert_eq!(api.state(), State::HalfOpen);
}

#[test]
fn forced_open_without_ttl_disabled_and_metrics_only_survive_and_reset_clears() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    let before = registry(&clock, &path);
    before.breaker("a", config()).unwrap().force_open();
    before.breaker("b", config()).unwrap().disable();
    before.breaker("c", config()).unwrap().metrics_only();
    let d = before.breaker("d", config()).unwrap();
    d.force_open();
    d.reset();
    before.persist_now().unwrap();
    drop((before, d));

    clock.advance(Duration::from_secs(86_400));
    let after = registry(&clock, &path);
    let state = |name| after.breaker(name, config()).unwrap().state();
    assert_eq!(state("a"), State::ForcedOpen);
    assert_eq!(after.get("a").unwrap().snapshot().retry_after, None);
    assert_eq!(state("b"), State::Disabled);
    assert_eq!(state("c"), State::MetricsOnly);
    assert_eq!(state("d"), State::Closed);
}

#[test]
fn a_corrupt_file_starts_closed_with_a_warning_and_is_replaced_by_the_next_save() {
    let (_dir, path) = state_file();
    std::fs::write(&path, "{\"version\":1,\"breakers\":{\"postgres\":{\"sta").unwrap();
    let logs = Logs::default();
    let registry = tracing::subscriber::with_default(logs.subscriber(), || {
        registry(&ManualClock::new(), &path)
    });
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("every breaker starts closed"),
        "{text}"
    );
    assert!(text.contains("breakers.json"), "{text}");
    let db = registry.breaker("postgres", config()).unwrap();
    assert_eq!(db.state(), State::Closed);
    db.disable();
    registry.persist_now().unwrap();
    let records = saved(&path);
    assert_eq!(records.len(), 1);
    assert_eq!(records["postgres"].state, State::Disabled);
}

#[test]
fn a_missing_file_starts_closed_with_a_warning() {
    let (_dir, path) = state_file();
    let logs = Logs::default();
    let registry = tracing::subscriber::with_default(logs.subscriber(), || {
        registry(&ManualClock::new(), &path)
    });
    assert!(
        logs.text().contains("no breaker state file yet"),
        "{}",
        logs.text()
    );
    assert_eq!(
        registry.breaker("postgres", config()).unwrap().state(),
        State::Closed
    );
}

#[test]
fn records_of_unknown_breakers_are_kept_untouched() {
    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    let ghost = Record::open(
        State::ForcedOpen,
        std::time::SystemTime::now(),
        Duration::from_secs(60),
    );
    FileStore::new(&path)
        .save(&Changes::from([("ghost".to_owned(), Some(ghost.clone()))]))
        .unwrap();
    let registry = registry(&clock, &path);
    let db = registry.breaker("postgres", config()).unwrap();
    assert_eq!(db.state(), State::Closed);
    db.disable();
    registry.persist_now().unwrap();
    let records = saved(&path);
    assert_eq!(records.get("ghost"), Some(&ghost));
    assert_eq!(records["postgres"].state, State::Disabled);
}

#[test]
fn a_failed_write_is_counted_and_retried_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("not-yet");
    let path = sub.join("breakers.json");
    let registry = registry(&ManualClock::new(), &path);
    let db = registry.breaker("postgres", config()).unwrap();
    db.force_open();
    let logs = Logs::default();
    let saved_now = tracing::subscriber::with_default(logs.subscriber(), || registry.persist_now());
    assert!(matches!(saved_now, Err(StoreError::Io { op: "write", .. })));
    // The warning says why, not only what: the I/O error's own message is in it.
    let text = logs.text();
    assert!(text.contains("cannot save breaker state"), "{text}");
    assert!(text.contains("os error"), "{text}");
    let stats = registry.state_store_stats().unwrap();
    assert!(stats.failures >= 1, "{stats:?}");
    assert_eq!(db.state(), State::ForcedOpen); // the breaker does not care
    std::fs::create_dir(&sub).unwrap();
    registry.persist_now().unwrap();
    let record = &saved(&path)["postgres"];
    assert_eq!(
        (record.state, record.until_unix_ms),
        (State::ForcedOpen, None)
    );
    assert_eq!(registry.state_store_stats().unwrap().pending, 0);
}

#[test]
fn the_writer_thread_saves_transitions_without_being_asked() {
    let (_dir, path) = state_file();
    let registry = registry(&ManualClock::new(), &path);
    registry
        .breaker("postgres", config())
        .unwrap()
        .force_open_for(Duration::from_secs(600));
    eventually_blocking(
        "the writer to save the force-open",
        Duration::from_secs(30),
        || {
            let records = FileStore::new(&path).load().unwrap_or_default();
            records
                .get("postgres")
                .is_some_and(|r| r.state == State::ForcedOpen)
                .then_some(())
        },
    );
}

/// A store whose saves block until the test lets them through.
#[derive(Debug)]
struct Gated {
    gate: Mutex<mpsc::Receiver<()>>,
    saved: Mutex<Vec<Changes>>,
}

impl StateStore for Gated {
    fn load(&self) -> Result<Records, StoreError> {
        Ok(Records::new())
    }
    fn save(&self, changes: &Changes) -> Result<(), StoreError> {
        let _ = self.gate.lock().unwrap().recv();
        self.saved.lock().unwrap().push(changes.clone());
        Ok(())
    }
}

/// A registry saving into a [`Gated`] store, the store, and the gate: each message lets
/// one save through; once the sender is dropped, every save goes through.
fn gated_registry() -> (mpsc::Sender<()>, Arc<Gated>, Registry) {
    let (open_gate, gate) = mpsc::channel();
    let store = Arc::new(Gated {
        gate: Mutex::new(gate),
        saved: Mutex::default(),
    });
    let registry = Registry::builder()
        .clock(ManualClock::new())
        .shared_state_store(store.clone())
        .build();
    (open_gate, store, registry)
}

/// While the store is stuck in a save, calls, trips and operator actions go on: nothing
/// on the call path waits for the store.
#[test]
fn a_stuck_store_never_holds_up_calls_or_transitions() {
    let (open_gate, store, registry) = gated_registry();
    let db = registry.breaker("postgres", config()).unwrap();
    let (done, finished) = mpsc::channel();
    let worker = db.clone();
    std::thread::spawn(move || {
        for _ in 0..100 {
            let _ = worker.call_sync(|| Err::<(), _>("down")); // trips, then rejections
            worker.reset();
            worker.force_open_for(Duration::from_secs(1));
            worker.disable();
        }
        done.send(worker.state()).unwrap();
    });
    // A generous bound on a hang, not a timing assertion: the loop takes microseconds.
    let last = finished.recv_timeout(Duration::from_secs(60));
    assert_eq!(last, Ok(State::Disabled));
    drop(open_gate); // every save may now finish
    registry.persist_now().unwrap();
    let saved = store.saved.lock().unwrap();
    let latest = saved.iter().rev().find_map(|c| c.get("postgres")).unwrap();
    assert_eq!(latest.as_ref().map(|r| r.state), Some(State::Disabled));
}

/// Changes still pending when the registry's last handle is dropped are saved by the
/// writer before it stops.
#[test]
fn dropping_the_registry_saves_what_is_pending() {
    let (open_gate, store, registry) = gated_registry();
    let db = registry.breaker("postgres", config()).unwrap();
    db.force_open(); // the writer takes it and blocks in the store
    eventually_blocking(
        "the writer to take the change",
        Duration::from_secs(30),
        || (registry.state_store_stats().unwrap().pending == 0).then_some(()),
    );
    db.disable(); // pending while the first save is stuck
    drop(registry);
    open_gate.send(()).unwrap();
    open_gate.send(()).unwrap();
    eventually_blocking("the last change saved", Duration::from_secs(30), || {
        let last = store.saved.lock().unwrap().last().cloned();
        last.is_some_and(|c| {
            c.get("postgres")
                .is_some_and(|r| r.as_ref().map(|r| r.state) == Some(State::Disabled))
        })
        .then_some(())
    });
}

/// A restored breaker's gauges show its state and deadline from the start, and nothing is
/// counted as a transition (the restart changed nothing for the dependency).
#[cfg(feature = "metrics")]
#[test]
fn a_restored_state_sets_the_gauges_without_counting_a_transition() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let (_dir, path) = state_file();
    let clock = ManualClock::new();
    first_run_forced_open_for(&clock, &path, Duration::from_secs(60));
    clock.advance(Duration::from_secs(20));

    let rec = DebuggingRecorder::new();
    let after = registry(&clock, &path);
    let db = metrics::with_local_recorder(&rec, || after.breaker("postgres", config()).unwrap());
    assert_eq!(db.state(), State::ForcedOpen);
    let mut gauges = std::collections::HashMap::new();
    let mut transitions = 0;
    for (ck, _, _, value) in rec.snapshotter().snapshot().into_vec() {
        let key = ck.key();
        let state = key
            .labels()
            .find(|l| l.key() == "state")
            .map(|l| l.value().to_owned());
        match value {
            DebugValue::Gauge(v) => {
                gauges.insert((key.name().to_owned(), state), v.into_inner());
            }
            DebugValue::Counter(n) if key.name() == "breakerbox_transitions_total" => {
                transitions += n;
            }
            _ => {}
        }
    }
    let gauge =
        |name: &str, state: Option<&str>| gauges[&(name.to_owned(), state.map(str::to_owned))];
    assert_eq!(gauge("breakerbox_state", Some("forced_open")), 1.0);
    assert_eq!(gauge("breakerbox_state", Some("closed")), 0.0);
    let until = gauge("breakerbox_open_until_timestamp_seconds", None);
    let since = gauge("breakerbox_state_since_timestamp_seconds", None);
    assert!((until - since - 40.0).abs() < 0.01, "{until} - {since}");
    assert_eq!(transitions, 0);
}

/// The store's series: saves by result from 0, and the breakers not saved yet,
/// through a failing store and its recovery (rendered by a real Prometheus exporter).
#[cfg(feature = "prometheus")]
#[test]
fn saves_and_unsaved_changes_are_metrics_from_zero() {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use crate::support::prom_text::{parse, value};

    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("not-yet");
    let path = sub.join("breakers.json");
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let registry = metrics::with_local_recorder(&recorder, || registry(&ManualClock::new(), &path));
    let saves = |result: &str| {
        let samples = parse(&handle.render());
        value(
            &samples,
            "breakerbox_state_store_saves_total",
            &[("result", result)],
        )
    };
    let unsaved = || {
        value(
            &parse(&handle.render()),
            "breakerbox_state_store_unsaved",
            &[],
        )
    };
    // Born at 0, so `increase()` sees the first failure.
    assert_eq!((saves("saved"), saves("failed")), (Some(0.0), Some(0.0)));
    assert_eq!(unsaved(), Some(0.0));

    let db = registry.breaker("postgres", config()).unwrap();
    db.force_open();
    assert!(registry.persist_now().is_err());
    assert!(saves("failed").unwrap() >= 1.0);
    assert_eq!(saves("saved"), Some(0.0));
    // Unsaved, and counted once, whether it waits for a retry or the writer thread's
    // retry is writing it.
    assert_eq!(unsaved(), Some(1.0));

    std::fs::create_dir(&sub).unwrap();
    registry.persist_now().unwrap();
    assert!(saves("saved").unwrap() >= 1.0);
    assert_eq!(unsaved(), Some(0.0));
    assert_eq!(
        saves("failed").unwrap() as u64,
        registry.state_store_stats().unwrap().failures,
        "the metric and the stats count the same failures"
    );
}
