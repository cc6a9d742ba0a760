//! The `demo` example as a real process for end-to-end tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The `demo` example's binary, built with `full` (and `test-util` when the test has it);
/// a no-op when `cargo test` already built it so.
pub fn demo_binary() -> PathBuf {
    let mut features = vec!["full"];
    if cfg!(feature = "test-util") {
        features.push("test-util");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--example", "demo", "--features"])
        .arg(features.join(","))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build the demo example");
    // target/<profile>/deps/<this test> -> target/<profile>/examples/demo
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/demo");
    assert!(bin.exists(), "no demo binary at {}", bin.display());
    bin
}

/// One calm demo replica (`--calm`: incidents on demand) in fleet mode on `port`, with a
/// state file, admin routes under `token`, and optionally a webhook for its notifier.
pub fn calm_fleet_replica(
    bin: &std::path::Path,
    name: &'static str,
    port: u16,
    redis_url: &str,
    state: &std::path::Path,
    token: &str,
    webhook: Option<&str>,
) -> super::process::Server {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "--seconds",
            "0",
            "--quiet",
            "--calm",
            "--admin-token",
            token,
        ])
        .args(["--redis", redis_url, "--replica-id", name])
        .arg("--state-file")
        .arg(state);
    if let Some(url) = webhook {
        cmd.arg("--webhook").arg(url);
    }
    super::process::Server::spawn(name, port, dir, cmd)
}
