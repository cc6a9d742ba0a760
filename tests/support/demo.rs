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
