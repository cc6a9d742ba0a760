//! The breakerbox demo: a small service with six breakers (presets) around simulated
//! dependencies that fail, slow down and recover in phases; two of them sometimes hang
//! (call timeouts), one sits behind a bulkhead, one behind a rate limit with a fallback.
//! It serves Prometheus metrics and the health/admin API, and prints transitions with their
//! reasons and a live table.
//!
//! ```sh
//! cargo run --example demo --features full                 # 60 s, then exit
//! cargo run --example demo --features full -- --seconds 0  # until Ctrl-C
//! cargo run --example demo --features full -- --help       # every option
//! cargo run --example demo --features full -- --state-file breakers.json  # state survives a restart
//! ```
//! Then: `curl localhost:9464/metrics`, `curl localhost:9464/api/circuit-breakers/health`.
//!
//! Logs go to stderr (`RUST_LOG` filters them: `RUST_LOG=debug`, `RUST_LOG=warn`); with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g. `http://localhost:4318`), spans go to an
//! OpenTelemetry collector over OTLP/HTTP as well.

mod app;
mod clients;
mod dependency;
mod incidents;
mod logs;
mod traffic;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;

/// A service with six circuit breakers around simulated dependencies, for the dashboards,
/// alerts and notifications.
#[derive(Debug, Parser)]
#[command(
    name = "demo",
    version,
    after_help = "Logs go to stderr; RUST_LOG filters them (`RUST_LOG=debug`, \
                  `RUST_LOG=warn,breakerbox::admin=info`)."
)]
struct Args {
    /// Address of `/metrics` and `/api/circuit-breakers/...` (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    listen: SocketAddr,
    /// Run this many seconds, then exit (0: until Ctrl-C).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Bearer token of the admin routes (they are off without one).
    #[arg(long, env = "BREAKERBOX_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Post state changes to this webhook URL.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Post state changes to this Alertmanager (base URL).
    #[arg(long, value_name = "URL")]
    alertmanager: Option<String>,
    /// Seed of the simulated dependencies (default: from the process id and the time, so
    /// two replicas do not fail in lockstep). The same seed replays the same outcomes.
    #[arg(long)]
    seed: Option<u64>,
    /// Keep operator state (force-open with its TTL, disable, metrics-only) and open
    /// deadlines in this JSON file, so they survive a restart.
    #[arg(long, value_name = "PATH")]
    state_file: Option<std::path::PathBuf>,
    /// Do not print transitions and tables (their log lines go to stderr instead).
    #[arg(long)]
    quiet: bool,
    /// Fleet mode: share the breakers with the other replicas through this Redis
    /// (e.g. `redis://127.0.0.1:6379`).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// This replica's id, unique in the fleet (default: `demo-` and the process id).
    #[arg(long, value_name = "ID")]
    replica_id: Option<String>,
    /// Healthy dependencies and every breaker closed, until an incident is started with
    /// `curl -X POST http://LISTEN/demo/incidents/NAME` (stopped with `-X DELETE`): NAME is
    /// timeouts, near-threshold, stuck-probe, flapping, bulkhead or rate-limit.
    #[arg(long)]
    calm: bool,
}

/// A seed that differs between processes and runs.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let tracer = logs::install(args.quiet)?;
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let opts = app::Options {
        listen: args.listen,
        admin_token: args.admin_token,
        webhook: args.webhook,
        alertmanager: args.alertmanager,
        print_transitions: !args.quiet,
        state_file: args.state_file,
        seed,
        redis: args.redis,
        replica_id: args
            .replica_id
            .unwrap_or_else(|| format!("demo-{}", std::process::id())),
        calm: args.calm,
    };
    let demo = app::start(opts).await?;
    println!(
        "breakerbox demo on http://{} (replica {}, seed {seed})",
        demo.addr, demo.replica_id
    );
    println!("  metrics: http://{}/metrics", demo.addr);
    println!(
        "  health:  http://{}/api/circuit-breakers/health",
        demo.addr
    );
    if let Some(fleet) = &demo.fleet {
        println!("  fleet:   replica {} through Redis", fleet.replica_id());
    }
    println!("  starting as: {}", app::starting_states(&demo.registry));
    if args.calm {
        println!(
            "  calm: incidents on demand at http://{}/demo/incidents/{{name}} (POST starts, DELETE stops)",
            demo.addr
        );
    }
    if tracer.is_some() {
        println!("  traces:  exported over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)");
    }
    let deadline = (args.seconds > 0).then(|| Instant::now() + Duration::from_secs(args.seconds));
    let registry = demo.registry.clone();
    let (replica, refused) = (demo.replica_id.clone(), demo.limits.refused.clone());
    let quiet = args.quiet;
    if !quiet {
        println!("transitions as they happen (and a table every 10 s):");
    }
    let table = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tick.tick().await;
            if !quiet {
                println!("\n{}", app::table(&registry, &replica, &refused));
            }
        }
    });
    traffic::drive(&demo, deadline).await;
    table.abort();
    if !quiet {
        println!(
            "\n{}",
            app::table(&demo.registry, &demo.replica_id, &demo.limits.refused)
        );
    }
    // Stops the timer and the fleet task, saves the state file, flushes the notifier.
    let report = demo.registry.shutdown(Duration::from_secs(5)).await;
    if let Some(Err(e)) = &report.persisted {
        eprintln!("breaker state not saved: {e}");
    }
    for stats in &report.notifications {
        println!("notifications: {stats:?}");
    }
    if let Some(provider) = tracer {
        provider.shutdown()?;
    }
    Ok(())
}
