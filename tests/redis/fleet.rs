//! Fleet mode against a real redis-server: three registries with their own connections
//! and their own `Fleet` share one Redis. Failures on two replicas open the breaker on all
//! three; one replica's failures below the quorum open only that one; half-open across
//! the fleet admits at most `half_open_max_calls` trials, counted at a real TCP server;
//! Redis killed and restarted: calls keep working, the replicas fall back and rejoin.
//!
//! Needs `redis-server` on the PATH (Debian package `redis-server`); it runs on 127.0.0.1
//! and a free port, and is stopped by PID, also when a test panics.
#![cfg(all(feature = "fleet-redis", feature = "metrics", feature = "tracing"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::eventually::eventually;
use crate::support::process::{Server, free_port};
use crate::support::recorded::series;
use breakerbox::fleet::{Fleet, FleetConfig};
use breakerbox::{CircuitBreaker, Config, Reason, Registry, State};

pub(crate) const PERIOD: Duration = Duration::from_millis(200);
/// Bound of every "eventually": generous, the machine is shared.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

fn redis(port: u16) -> Server {
    crate::support::redis::start(port)
}

/// No local trip below 10 calls; consecutive failures never trip.
pub(crate) fn config() -> Config {
    Config::builder()
        .failure_threshold(10_000)
        .min_calls(10)
        .failure_rate_threshold(0.5)
        .failure_window(Duration::from_secs(30))
        .reset_timeout(Duration::from_millis(500))
        .half_open_max_calls(2)
        .success_threshold(1)
        .build()
        .unwrap()
}

/// Three replicas: a registry, its breaker `dep` and its fleet each.
fn replicas(port: u16) -> Vec<(Registry, CircuitBreaker, Fleet)> {
    (0..3)
        .map(|i| {
            let registry = Registry::new();
            let dep = registry.breaker("dep", config()).unwrap();
            let cfg = FleetConfig::new(format!("redis://127.0.0.1:{port}"), format!("r{i}"))
                .period(PERIOD)
                .quorum(2);
            let fleet = Fleet::start(&registry, cfg).unwrap();
            (registry, dep, fleet)
        })
        .collect()
}

pub(crate) fn fail(b: &CircuitBreaker, n: usize) {
    for _ in 0..n {
        let _ = b.call_sync(|| Err::<(), _>("boom"));
    }
}

/// A redis-server and three replicas, every one connected to it.
async fn connected_fleet() -> (Server, Vec<(Registry, CircuitBreaker, Fleet)>) {
    let server = redis(free_port());
    let fleet = replicas(server.port);
    all_connected(&fleet).await;
    (server, fleet)
}

async fn all_open(fleet: &[(Registry, CircuitBreaker, Fleet)]) {
    eventually("all three open", WAIT, || async {
        fleet
            .iter()
            .all(|(_, b, _)| b.state() == State::Open)
            .then_some(())
    })
    .await;
}

async fn all_connected(fleet: &[(Registry, CircuitBreaker, Fleet)]) {
    eventually("every replica connected", WAIT, || async {
        fleet.iter().all(|(.., f)| f.connected()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_on_two_replicas_open_the_breaker_on_all_three() {
    let (_server, fleet) = connected_fleet().await;
    // 6 failing calls each: below min_calls locally, 12 of 12 failing across the fleet.
    fail(&fleet[0].1, 6);
    fail(&fleet[1].1, 6);
    assert!(fleet.iter().all(|(_, b, _)| b.state() == State::Closed));
    all_open(&fleet).await;
    for (_, b, _) in &fleet {
        let t = b.snapshot().last_transition.expect("a transition");
        assert_eq!(
            (t.from, t.to, t.reason),
            (State::Closed, State::Open, Reason::Fleet)
        );
        // Why: the fleet's numbers, not this replica's window (6 calls or none, no rate).
        let f = t
            .fleet
            .expect("a fleet verdict carries the fleet's numbers");
        assert!((10..=12).contains(&f.calls), "{f:?}");
        assert_eq!(f.failures, f.calls, "every call failed: {f:?}");
        assert_eq!((f.failure_rate, f.replicas_failing, f.quorum), (1.0, 2, 2));
        assert_eq!((f.trigger, f.threshold), (Reason::FailureRate, 0.5));
        assert_eq!(
            t.threshold,
            Some(0.5),
            "the threshold the fleet's rate crossed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_below_quorum_opens_only_itself() {
    let (server, fleet) = connected_fleet().await;
    // 9 failures and 3 successes on r0 alone: the fleet's window meets min_calls and the
    // rate, but one replica is below the quorum of 2.
    fail(&fleet[0].1, 9);
    for _ in 0..3 {
        fleet[1].1.call_sync(|| Ok::<_, ()>(())).unwrap();
    }
    fail(&fleet[0].1, 1);
    assert_eq!(
        fleet[0].1.state(),
        State::Open,
        "r0 trips on its own window"
    );
    // Wait until r0's counts are in Redis, then a few more rounds.
    eventually("r0's failures published", WAIT, || async {
        (published_by(server.port, "r0").await > 0).then_some(())
    })
    .await;
    tokio::time::sleep(PERIOD * 5).await;
    assert_eq!(fleet[1].1.state(), State::Closed);
    assert_eq!(fleet[2].1.state(), State::Closed);
}

/// Whether `replica` still has a heartbeat in the window keys of `dep` at `port` (a
/// replica's heartbeat 3 periods old is removed, with its counts, by the first round of
/// another replica in the next period).
async fn has_heartbeat(port: u16, replica: &str) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg("breakerbox:v2:{dep}:hb")
        .arg(replica)
        .query_async(&mut conn)
        .await
        .unwrap();
    score.is_some()
}

/// The slots of `dep` in which `replica` published calls (its own ring in the window).
pub(crate) async fn published_by(port: u16, replica: &str) -> usize {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let w: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg("breakerbox:v2:{dep}:w")
        .query_async(&mut conn)
        .await
        .unwrap();
    let ring = format!("r:{replica}:");
    w.keys().filter(|k| k.starts_with(&ring)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_counts_leave_the_aggregate() {
    let server = redis(free_port());
    let mut fleet = replicas(server.port);
    all_connected(&fleet).await;
    fail(&fleet[0].1, 6);
    eventually("r0's failures published", WAIT, || async {
        (published_by(server.port, "r0").await > 0).then_some(())
    })
    .await;
    // r0 dies: its heartbeat is 3 periods old after 3 periods, and the next round of r1
    // or r2 takes its counts out of the fleet's totals.
    let (_r0_registry, _r0_breaker, r0_fleet) = fleet.remove(0);
    drop(r0_fleet);
    eventually("r0's heartbeat expired", WAIT, || async {
        (!has_heartbeat(server.port, "r0").await).then_some(())
    })
    .await;
    assert_eq!(
        published_by(server.port, "r0").await,
        0,
        "r0's slots removed"
    );
    // r1's 6 failures alone are below min_calls and below the quorum; with r0's they
    // would be 12 failing calls on two replicas.
    fail(&fleet[0].1, 6);
    eventually("r1's failures published", WAIT, || async {
        (published_by(server.port, "r1").await > 0).then_some(())
    })
    .await;
    tokio::time::sleep(PERIOD * 5).await;
    assert_eq!(fleet[0].1.state(), State::Closed, "r1");
    assert_eq!(fleet[1].1.state(), State::Closed, "r2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_shutdown_stops_the_fleet_task() {
    let (_server, fleet) = connected_fleet().await;
    let report = fleet[0].0.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.stopped, 1, "the fleet task");
    // r0 no longer publishes: its 6 failures and r1's 6 would be 12 failing calls on two
    // replicas, a fleet verdict, were it still in the fleet.
    fail(&fleet[0].1, 6);
    fail(&fleet[1].1, 6);
    tokio::time::sleep(PERIOD * 5).await;
    for (_, b, _) in &fleet {
        assert_eq!(b.state(), State::Closed, "{}", b.name());
    }
}

/// A TCP server that counts connections: the dependency the half-open trials probe.
async fn counting_server() -> (u16, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicU32::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_at_most_max_calls_trials_across_the_fleet() {
    let (_server, fleet) = connected_fleet().await;
    fail(&fleet[0].1, 6);
    fail(&fleet[1].1, 6);
    all_open(&fleet).await;
    // The dependency has recovered: every replica calls it as often as its breaker lets
    // it, until all three are closed. Each admitted call is a trial, counted by the server.
    let (port, trials) = counting_server().await;
    eventually("all three closed", WAIT, || async {
        for (_, b, _) in &fleet {
            if b.state() == State::Closed {
                continue;
            }
            if let Ok(permit) = b.try_acquire() {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                permit.success();
            }
        }
        fleet
            .iter()
            .all(|(_, b, _)| b.state() == State::Closed)
            .then_some(())
    })
    .await;
    let n = trials.load(Ordering::SeqCst);
    assert!((1..=2).contains(&n), "{n} trials across the fleet, limit 2");
}

pub(crate) fn gauge(
    snapshotter: &metrics_util::debugging::Snapshotter,
    breaker: &str,
) -> Option<f64> {
    use metrics_util::debugging::DebugValue;
    series(snapshotter, "breakerbox_fleet_connected")
        .into_iter()
        .find_map(|(labels, v)| match v {
            DebugValue::Gauge(g) if labels.get("breaker").map(String::as_str) == Some(breaker) => {
                Some(g.into_inner())
            }
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_local_decisions_and_replicas_rejoin_when_it_returns() {
    // Global: the fleet's task logs and records from the runtime's worker threads.
    let (snapshotter, logs) = crate::globals();
    let port = free_port();
    let mut server = redis(port);
    let registry_names = ["down-0", "down-1", "down-2"];
    let fleet: Vec<_> = registry_names
        .iter()
        .map(|name| {
            let registry = Registry::new();
            let dep = registry.breaker(name, config()).unwrap();
            let cfg = FleetConfig::new(format!("redis://127.0.0.1:{port}"), *name).period(PERIOD);
            let fleet = Fleet::start(&registry, cfg).unwrap();
            (registry, dep, fleet)
        })
        .collect();
    all_connected(&fleet).await;
    eventually("connected gauge 1", WAIT, || async {
        (gauge(snapshotter, "down-0") == Some(1.0)).then_some(())
    })
    .await;

    server.stop();
    eventually("every replica disconnected", WAIT, || async {
        fleet.iter().all(|(.., f)| !f.connected()).then_some(())
    })
    .await;
    eventually("connected gauge 0", WAIT, || async {
        (gauge(snapshotter, "down-0") == Some(0.0)).then_some(())
    })
    .await;
    eventually("the disconnect logged", WAIT, || async {
        logs.text()
            .lines()
            .any(|l| l.contains("fleet disconnected") && l.contains("replica=\"down-0\""))
            .then_some(())
    })
    .await;
    // Calls keep working, decided locally: r0 trips on its own window, r1 serves.
    fail(&fleet[0].1, 10);
    assert_eq!(fleet[0].1.state(), State::Open);
    assert_eq!(fleet[1].1.call_sync(|| Ok::<_, ()>(7)).unwrap(), 7);

    let _server = redis(port);
    all_connected(&fleet).await;
    eventually("connected gauge back to 1", WAIT, || async {
        (gauge(snapshotter, "down-0") == Some(1.0)).then_some(())
    })
    .await;
    // Connected at start and again after the restart.
    eventually("the rejoin logged", WAIT, || async {
        let text = logs.text();
        let lines = text
            .lines()
            .filter(|l| l.contains("fleet connected") && l.contains("replica=\"down-1\""));
        (lines.count() == 2).then_some(())
    })
    .await;
    // Not stuck: r0 probes through fleet leases and closes.
    eventually("r0 closed again", WAIT, || async {
        if let Ok(p) = fleet[0].1.try_acquire() {
            p.success();
        }
        (fleet[0].1.state() == State::Closed).then_some(())
    })
    .await;
    assert!(fleet.iter().all(|(_, b, _)| b.state() == State::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_keeps_operator_states_across_restarts_field_by_field() {
    use breakerbox::store::{RedisStore, StateStore, StoreError};
    let server = redis(free_port());
    let url = format!("redis://127.0.0.1:{}", server.port);
    tokio::task::spawn_blocking(move || {
        let build = || {
            Registry::builder()
                .state_store(RedisStore::open(&url, "breakerbox:state").unwrap())
                .build()
        };
        // Replica 1 forces postgres open for maintenance and disables cache.
        let first = build();
        first
            .breaker("postgres", config())
            .unwrap()
            .force_open_for(Duration::from_secs(600));
        first.breaker("cache", config()).unwrap().disable();
        first.persist_now().unwrap();
        drop(first);
        // A restarted replica starts both in their persisted states.
        let second = build();
        let pg = second.breaker("postgres", config()).unwrap();
        assert_eq!(pg.state(), State::ForcedOpen);
        assert!(
            pg.snapshot()
                .retry_after
                .is_some_and(|d| d <= Duration::from_secs(600))
        );
        let cache = second.breaker("cache", config()).unwrap();
        assert_eq!(cache.state(), State::Disabled);
        // A reset deletes only that breaker's field.
        pg.reset();
        second.persist_now().unwrap();
        let store = RedisStore::open(&url, "breakerbox:state").unwrap();
        let records = store.load().unwrap();
        assert_eq!(records.keys().collect::<Vec<_>>(), ["cache"]);
        // Garbage in a field is a typed error, not a panic.
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let _: () = redis::cmd("HSET")
            .arg("breakerbox:state")
            .arg("rpc")
            .arg("{not json")
            .query(&mut conn)
            .unwrap();
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_actions_on_one_replica_apply_to_all_without_echo() {
    let (server, fleet) = connected_fleet().await;
    let everywhere = |state: State| {
        let fleet = &fleet;
        move || async move {
            fleet
                .iter()
                .all(|(_, b, _)| b.state() == state)
                .then_some(())
        }
    };
    fleet[0].1.force_open_for(Duration::from_secs(600));
    eventually(
        "forced open everywhere",
        WAIT,
        everywhere(State::ForcedOpen),
    )
    .await;
    let t = fleet[2].1.snapshot().last_transition.unwrap();
    assert_eq!(t.reason, Reason::Forced);
    assert!(
        fleet[2].1.snapshot().retry_after.is_some(),
        "the TTL fans out too"
    );
    fleet[1].1.reset();
    eventually("closed everywhere", WAIT, everywhere(State::Closed)).await;
    fleet[2].1.disable();
    eventually("disabled everywhere", WAIT, everywhere(State::Disabled)).await;
    // Each action is in the shared log once: the replicas that applied it did not
    // publish it again (an echo would also bounce back and forth for ever).
    tokio::time::sleep(PERIOD * 5).await;
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", server.port)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let log: Vec<String> = redis::cmd("LRANGE")
        .arg("breakerbox:ops")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(fleet.iter().all(|(_, b, _)| b.state() == State::Disabled));
}

#[test]
fn a_fleet_needs_a_runtime_and_a_valid_config() {
    use breakerbox::fleet::FleetError;
    let registry = Registry::new();
    let cfg = FleetConfig::new("redis://127.0.0.1:1", "r0");
    assert_eq!(
        Fleet::start(&registry, cfg).unwrap_err(),
        FleetError::NoRuntime
    );
    let bad = FleetConfig::new("redis://127.0.0.1:1", "r0").quorum(0);
    assert_eq!(
        Fleet::start(&registry, bad).unwrap_err(),
        FleetError::ZeroQuorum
    );
}
