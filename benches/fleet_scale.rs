//! Fleet mode at scale: R simulated replicas' rounds over B breakers against one real
//! redis-server, for the server-side window and the previous key layout, with the default
//! period (1 s) and window (60 s). Prints, per point: the server's commands and bytes per
//! replica round, its CPU seconds per second (and per 1,000 replica-breakers, the linearity
//! check), and round time p50/p99 at the client.
//!
//!   cargo bench -p breakerbox-benches --bench fleet_scale                  # R = 10
//!   cargo bench -p breakerbox-benches --bench fleet_scale -- 10,50,200,500 # as scripts/bench.sh
//!   FLEET_SCALE_BEFORE=10,50 ... # the previous layout at these R (default: 10)
//!
//! Needs `redis-server` on the PATH (skipped otherwise). The simulation is the tests' own
//! (`tests/support/fleet_sim.rs`).

mod common;
#[path = "../tests/support/fleet_sim.rs"]
mod fleet_sim;

use std::time::Duration;

use fleet_sim::{Design, Report, Setup};

fn list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

fn row(r: &Report) {
    let s = &r.setup;
    let per_k = r.cpu_per_second() / (s.replicas * s.breakers) as f64 * 1000.0;
    println!(
        "| {} | {} | {} | {:.0} | {:.0} | {:.3} | {:.4} | {:.1} | {:.1} | {} |",
        match s.design {
            Design::Slots => "server-side window",
            Design::Fields => "previous (field per replica)",
        },
        s.replicas,
        s.breakers,
        r.commands_per_round(),
        r.bytes_per_round(),
        r.cpu_per_second(),
        per_k,
        r.round_time(0.5).as_secs_f64() * 1e3,
        r.round_time(0.99).as_secs_f64() * 1e3,
        r.failed,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument is the list of R.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let after = args.first().map_or_else(|| vec![10], |a| list(a));
    let before = std::env::var("FLEET_SCALE_BEFORE").map_or_else(|_| vec![10], |v| list(&v));
    if common::redis::Redis::start().is_none() {
        eprintln!("fleet_scale: no redis-server on the PATH, skipped");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    println!(
        "| design | R | B | commands / round | bytes / round | Redis CPU s/s | CPU s/s per 1k R·B | round p50 ms | round p99 ms | failed rounds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let points = before
        .iter()
        .map(|&r| (Design::Fields, r))
        .chain(after.iter().map(|&r| (Design::Slots, r)));
    for (design, replicas) in points {
        let setup = Setup {
            design,
            replicas,
            breakers: 100,
            period: Duration::from_secs(1),
            window: Duration::from_secs(60),
            warmup: 3,
            measured: 10,
        };
        // A server of its own per point: a saturated one is still busy with the last
        // point's rounds when the next starts.
        let Some(redis) = common::redis::Redis::start() else {
            eprintln!("fleet_scale: redis-server did not start");
            return;
        };
        match rt.block_on(fleet_sim::run(&redis.url(), setup)) {
            Ok(report) => row(&report),
            Err(e) => eprintln!("fleet_scale: {design:?} R={replicas}: {e}"),
        }
    }
}
