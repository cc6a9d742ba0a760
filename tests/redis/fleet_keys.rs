//! Fleet mode at its edges, against a real redis-server: the connection gauge exists at 0
//! as soon as the fleet starts, even while a first round against a Redis that never
//! answers lasts its whole period; and a key of the wrong type under the fleet's prefix
//! costs only its own breaker's fleet view (counted, logged once), never the replica's
//! connection or the other breakers' fleet decisions.
#![cfg(all(feature = "fleet-redis", feature = "metrics", feature = "tracing"))]

use std::time::Duration;

use crate::fleet::{PERIOD, WAIT, config, fail, gauge};
use crate::support::eventually::eventually;
use crate::support::process::free_port;
use crate::support::recorded::series;
use breakerbox::fleet::{Fleet, FleetConfig};
use breakerbox::{CircuitBreaker, Registry, State};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connected_gauge_is_born_at_zero_while_the_first_round_hangs() {
    // Accepts connections (the kernel's backlog) and never answers: the first round lasts
    // its whole period, an hour here.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let rec = DebuggingRecorder::new();
    let registry = Registry::new();
    let fleet = metrics::with_local_recorder(&rec, || {
        registry.breaker("born-at-zero", config()).unwrap();
        let cfg = FleetConfig::new(format!("redis://127.0.0.1:{port}"), "hung-0")
            .period(Duration::from_secs(3600));
        Fleet::start(&registry, cfg).unwrap()
    });
    assert_eq!(gauge(&rec.snapshotter(), "born-at-zero"), Some(0.0));
    assert!(!fleet.connected());
}

/// Runs `args` as one command on the Redis at `port`.
async fn redis_cmd(port: u16, args: &[&str]) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async::<redis::Value>(&mut conn).await.unwrap();
}

/// The value of `breakerbox_fleet_key_errors_total` for `breaker` in one snapshot.
fn key_errors(breaker: &str) -> Option<u64> {
    let (snapshotter, _) = crate::globals();
    series(snapshotter, "breakerbox_fleet_key_errors_total")
        .into_iter()
        .find_map(|(labels, v)| match v {
            DebugValue::Counter(n)
                if labels.get("breaker").map(String::as_str) == Some(breaker) =>
            {
                Some(n)
            }
            _ => None,
        })
}

/// Lines logged so far that contain every one of `parts`.
fn logged(parts: &[&str]) -> usize {
    let (_, logs) = crate::globals();
    logs.text()
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_typed_key_costs_only_its_breakers_fleet_view() {
    let _ = crate::globals();
    let server = crate::support::redis::start(free_port());
    let port = server.port;
    // The window key of `wt-hostile` and a lease key of `wt-lease` hold the wrong type.
    redis_cmd(port, &["SET", "breakerbox:v2:{wt-hostile}:w", "x"]).await;
    redis_cmd(port, &["HSET", "breakerbox:lease:wt-lease:0", "f", "v"]).await;
    let fleet: Vec<(Registry, [CircuitBreaker; 3], Fleet)> = (0..3)
        .map(|i| {
            let registry = Registry::new();
            let breakers = ["wt-hostile", "wt-fine", "wt-lease"]
                .map(|name| registry.breaker(name, config()).unwrap());
            let cfg = FleetConfig::new(format!("redis://127.0.0.1:{port}"), format!("wt{i}"))
                .period(PERIOD)
                .quorum(2);
            let fleet = Fleet::start(&registry, cfg).unwrap();
            (registry, breakers, fleet)
        })
        .collect();
    eventually("every replica connected", WAIT, || async {
        fleet.iter().all(|(.., f)| f.connected()).then_some(())
    })
    .await;
    // 6 failures on two replicas: below min_calls locally, a fleet verdict for a breaker
    // whose key works.
    for (_, [hostile, fine, _], _) in &fleet[..2] {
        fail(hostile, 6);
        fail(fine, 6);
    }
    eventually("wt-fine open on every replica", WAIT, || async {
        fleet
            .iter()
            .all(|(_, [_, fine, _], _)| fine.state() == State::Open)
            .then_some(())
    })
    .await;
    eventually("the bad window key counted", WAIT, || async {
        key_errors("wt-hostile")
            .is_some_and(|n| n > 0)
            .then_some(())
    })
    .await;
    assert!(fleet.iter().all(|(.., f)| f.connected()), "still connected");
    assert!(
        fleet
            .iter()
            .all(|(_, [hostile, ..], _)| hostile.state() == State::Closed),
        "no fleet view for wt-hostile: decided locally, below min_calls"
    );
    assert_eq!(
        key_errors("wt-fine"),
        Some(0),
        "registered at 0, never counted"
    );

    // The lease key: a breaker half-open on its own (a local trip) probes with local
    // limits instead of disconnecting the replica.
    let (_, [.., lease], _) = &fleet[0];
    fail(lease, 10);
    assert_eq!(lease.state(), State::Open);
    eventually("the bad lease key counted", WAIT, || async {
        key_errors("wt-lease").is_some_and(|n| n > 0).then_some(())
    })
    .await;
    assert_eq!(lease.state(), State::HalfOpen);
    assert!(lease.try_acquire().is_ok(), "local half-open limits");
    assert!(fleet.iter().all(|(.., f)| f.connected()), "still connected");

    // Logged once per replica while the key stays bad, whatever the rounds.
    let unusable = |b: &'static str| logged(&["fleet key unusable", &format!("breaker=\"{b}\"")]);
    // (A snapshot hands out the increments since the last one.)
    for _ in 0..3 {
        eventually("another round with the bad key", WAIT, || async {
            key_errors("wt-hostile")
                .is_some_and(|n| n > 0)
                .then_some(())
        })
        .await;
    }
    assert_eq!(unusable("wt-hostile"), 3);
    assert_eq!(unusable("wt-fine"), 0);

    // The key removed: the breaker's fleet view is back, and that is logged too.
    redis_cmd(port, &["DEL", "breakerbox:v2:{wt-hostile}:w"]).await;
    eventually("the key usable again", WAIT, || async {
        (logged(&["fleet key usable again", "breaker=\"wt-hostile\""]) == 3).then_some(())
    })
    .await;
}
