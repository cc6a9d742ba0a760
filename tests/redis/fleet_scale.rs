//! The fleet's Redis work as the fleet grows, measured on a real redis-server with the
//! simulation the bench runs (`tests/support/fleet_sim.rs`; the large points are
//! `scripts/bench.sh`'s): per replica round, the server-side window costs the same
//! commands and bytes with 10 replicas as with 2, where the previous layout's bytes grow
//! with the replicas. Counts, not timings.
#![cfg(feature = "fleet-redis")]

use std::time::Duration;

use crate::support::fleet_sim::{Design, Report, Setup, run};

fn setup(design: Design, replicas: usize) -> Setup {
    Setup {
        design,
        replicas,
        breakers: 20,
        period: Duration::from_millis(200),
        // 60 slots, as the default window and period give.
        window: Duration::from_secs(12),
        warmup: 2,
        measured: 5,
    }
}

async fn point(url: &str, design: Design, replicas: usize) -> Report {
    let r = run(url, setup(design, replicas)).await.unwrap();
    assert!(r.rounds > 0, "{r:?}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_side_window_costs_the_same_per_round_with_five_times_the_replicas() {
    let server = crate::support::redis::start(crate::support::process::free_port());
    let url = crate::support::redis::url(server.port);
    let small = point(&url, Design::Slots, 2).await;
    let large = point(&url, Design::Slots, 10).await;
    assert_eq!((small.failed, large.failed), (0, 0), "every round answered");
    let per_breaker = |r: &Report, n: f64| n / r.setup.breakers as f64;
    let (c2, c10) = (
        per_breaker(&small, small.commands_per_round()),
        per_breaker(&large, large.commands_per_round()),
    );
    assert!(
        c10 <= c2 * 1.1,
        "commands per breaker: {c2} at R=2, {c10} at R=10"
    );
    let (b2, b10) = (small.bytes_per_round(), large.bytes_per_round());
    assert!(
        b10 <= b2 * 1.1,
        "bytes per round: {b2} at R=2, {b10} at R=10"
    );
    // The previous layout, for contrast: each round reads every replica's fields.
    let old_small = point(&url, Design::Fields, 2).await;
    let old_large = point(&url, Design::Fields, 10).await;
    let (o2, o10) = (old_small.bytes_per_round(), old_large.bytes_per_round());
    assert!(
        o10 > o2 * 3.0,
        "previous layout: {o2} at R=2, {o10} at R=10"
    );
}
