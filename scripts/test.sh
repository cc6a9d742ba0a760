#!/usr/bin/env bash
# Runs every check and test of breakerbox: formatting, lints, docs, unit, property, stress,
# loom and end-to-end tests against real Prometheus, Alertmanager, Redis and SMTP servers,
# the alert-rule unit tests and the dashboard checks. Installs the Debian packages the
# end-to-end tests need when they are missing (as root, through apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for bin in prometheus promtool prometheus-alertmanager redis-server curl; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(aiosmtpd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test servers (missing: ${need[*]})"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root, or install: prometheus prometheus-alertmanager redis-server python3-aiosmtpd curl" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager redis-server python3-aiosmtpd curl >/dev/null
fi

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy (all targets, all features)"
cargo clippy --all-targets --all-features -- -D warnings
step "clippy (all targets, default features: plain \`cargo test\` builds)"
cargo clippy --all-targets -- -D warnings
step "clippy (no default features)"
cargo clippy --lib --no-default-features -- -D warnings
step "docs (default and all features)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features
step "alert rules"
promtool check rules alerts/*.rules.yml
promtool test rules alerts/tests/*.yml
step "dashboards (structure)"
python3 scripts/check_dashboards.py dashboards/*.json
step "loom models"
RUSTFLAGS="--cfg breakerbox_loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
  cargo test --release --lib loom_tests
step "benchmarks compile"
cargo bench --no-run --all-features
step "the demo (README main job) runs"
timeout 120 cargo run -q --example demo --features full -- --seconds 8 --listen 127.0.0.1:0 >/dev/null
step "tests (all features)"
cargo test --all-features
