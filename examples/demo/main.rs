//! The breakerbox demo: a small service with six breakers (presets) around simulated
//! dependencies that fail, slow down and recover in phases. It serves Prometheus metrics
//! and the health/admin API, and prints transitions with their reasons and a live table.
//!
//! ```sh
//! cargo run --example demo --features full                 # 60 s, then exit
//! cargo run --example demo --features full -- --seconds 0  # until Ctrl-C
//! ```
//! Options: `--listen ADDR` (default 127.0.0.1:9464), `--seconds N`, `--admin-token T`
//! (or `BREAKERBOX_ADMIN_TOKEN`), `--webhook URL`, `--alertmanager URL`.
//! Then: `curl localhost:9464/metrics`, `curl localhost:9464/api/circuit-breakers/health`.

mod app;

use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next()?;
    args.next()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let seconds: u64 = arg("--seconds").map_or(Ok(60), |s| s.parse())?;
    let opts = app::Options {
        listen: arg("--listen")
            .unwrap_or_else(|| "127.0.0.1:9464".into())
            .parse()?,
        admin_token: arg("--admin-token").or_else(|| std::env::var("BREAKERBOX_ADMIN_TOKEN").ok()),
        webhook: arg("--webhook"),
        alertmanager: arg("--alertmanager"),
        print_transitions: true,
    };
    let demo = app::start(opts).await?;
    println!("breakerbox demo on http://{}", demo.addr);
    println!("  metrics: http://{}/metrics", demo.addr);
    println!(
        "  health:  http://{}/api/circuit-breakers/health",
        demo.addr
    );
    println!("transitions as they happen (and a table every 10 s):");
    let deadline = (seconds > 0).then(|| Instant::now() + Duration::from_secs(seconds));
    let registry = demo.registry.clone();
    let table = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tick.tick().await;
            println!("\n{}", app::table(&registry));
        }
    });
    app::drive(&demo, deadline).await;
    table.abort();
    println!("\n{}", app::table(&demo.registry));
    if let Some(d) = &demo.dispatcher {
        let stats = d.shutdown(Duration::from_secs(5)).await;
        println!("notifications: {stats:?}");
    }
    Ok(())
}
