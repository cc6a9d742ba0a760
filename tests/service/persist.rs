//! State that survives a restart: a second registry (a restarted process) over the same
//! file starts with the first one's forced-open breaker and its remaining TTL; a corrupt
//! or missing file starts Closed, never a crash.

use std::sync::Arc;
use std::time::Duration;

use breakerbox::persist::{FileStore, Persistence, SavedState, StateStore, restore};
use breakerbox::{Config, ManualClock, Registry, State};

use crate::servers;

fn registry(clock: &ManualClock) -> Registry {
    let registry = Registry::with_clock(Arc::new(clock.clone()));
    registry.breaker("postgres", Config::database()).unwrap();
    registry.breaker("redis", Config::cache()).unwrap();
    registry.breaker("rpc", Config::rpc()).unwrap();
    registry
}

#[tokio::test]
async fn forced_open_disabled_and_open_survive_a_restart_with_their_remaining_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("breakers.json");
    let clock = ManualClock::new();

    // The first process: an operator forces postgres open for a minute, disables rpc, and
    // redis trips on its own.
    let first = registry(&clock);
    let persistence = Persistence::start(&first, FileStore::new(&path));
    first
        .get("postgres")
        .unwrap()
        .force_open_for(Duration::from_secs(60));
    first.get("rpc").unwrap().disable();
    let redis = first.get("redis").unwrap();
    for _ in 0..Config::cache().failure_threshold() {
        let _ = redis.call_sync(|| Err::<(), _>("down"));
    }
    assert_eq!(redis.state(), State::Open);
    let store = FileStore::new(&path);
    servers::eventually(
        "the saves after the transitions",
        Duration::from_secs(10),
        || {
            let saved = store.load().unwrap_or_default();
            async move { (saved.len() == 3).then_some(()) }
        },
    )
    .await;
    persistence.shutdown().await;

    // 5 s later, a new process over the same file.
    clock.advance(Duration::from_secs(5));
    let second = registry(&clock);
    assert_eq!(restore(&second, &FileStore::new(&path)), 3);
    let pg = second.get("postgres").unwrap();
    assert_eq!(pg.state(), State::ForcedOpen);
    assert_eq!(pg.snapshot().retry_after, Some(Duration::from_secs(55)));
    assert_eq!(second.get("rpc").unwrap().state(), State::Disabled);
    let redis = second.get("redis").unwrap();
    assert_eq!(
        redis.state(),
        State::ForcedOpen,
        "open for the rest of its reset timeout"
    );
    let reset = Config::cache().reset_timeout();
    assert_eq!(
        redis.snapshot().retry_after,
        Some(reset - Duration::from_secs(5))
    );
    // Past the cache's reset timeout a saved Open is not restored: it would be probing.
    clock.advance(reset);
    assert_eq!(restore(&registry(&clock), &FileStore::new(&path)), 2);
    // Expired: postgres probes in half-open, as it would have without the restart.
    clock.advance(Duration::from_secs(45));
    let _ = pg.call_sync(|| Ok::<_, ()>(()));
    assert_eq!(pg.state(), State::HalfOpen);
}

#[test]
fn a_corrupt_or_missing_file_starts_every_breaker_closed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let missing = FileStore::new(dir.path().join("none.json"));
    assert_eq!(restore(&registry(&clock), &missing), 0);
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, b"{\"breaker\": [not json").unwrap();
    let r = registry(&clock);
    assert_eq!(restore(&r, &FileStore::new(&corrupt)), 0);
    assert!(r.all().iter().all(|b| b.state() == State::Closed));
    // An entry for a breaker this process does not have is skipped.
    let store = FileStore::new(dir.path().join("other.json"));
    store
        .save(&[SavedState {
            breaker: "gone".into(),
            state: State::ForcedOpen,
            until_unix_ms: None,
        }])
        .unwrap();
    assert_eq!(restore(&r, &store), 0);
}

/// The child process of the restart test: `write` forces postgres open for an hour and
/// exits; `check` (a new process) finds it forced open with the rest of the hour. Runs only
/// when started by `the_state_survives_a_real_process_restart`.
#[tokio::test]
#[ignore = "a child process of the_state_survives_a_real_process_restart"]
async fn restart_child() {
    let (Some(phase), Some(path)) = (
        std::env::var_os("BREAKERBOX_PERSIST_PHASE"),
        std::env::var_os("BREAKERBOX_PERSIST_FILE"),
    ) else {
        return;
    };
    let registry = Registry::new(); // the real clock: a real restart
    let pg = registry.breaker("postgres", Config::database()).unwrap();
    let persistence = Persistence::start(&registry, FileStore::new(path));
    match phase.to_str() {
        Some("write") => pg.force_open_for(Duration::from_secs(3600)),
        Some("check") => {
            assert_eq!(pg.state(), State::ForcedOpen);
            let left = pg.snapshot().retry_after.expect("a TTL");
            assert!(
                left > Duration::ZERO && left <= Duration::from_secs(3600),
                "{left:?}"
            );
        }
        other => panic!("unknown phase {other:?}"),
    }
    persistence.shutdown().await;
}

#[test]
fn the_state_survives_a_real_process_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("breakers.json");
    let exe = std::env::current_exe().unwrap();
    for phase in ["write", "check"] {
        let out = std::process::Command::new(&exe)
            .args([
                "persist::restart_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("BREAKERBOX_PERSIST_PHASE", phase)
            .env("BREAKERBOX_PERSIST_FILE", &path)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{phase}: {log}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(log.contains("1 passed"), "{phase} did not run: {log}");
    }
    let saved = FileStore::new(&path).load().unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].state, State::ForcedOpen);
}
