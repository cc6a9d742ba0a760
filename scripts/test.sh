#!/usr/bin/env bash
# Runs every check and test of breakerbox: formatting, lints, docs, unit, property, stress,
# loom and end-to-end tests against real Prometheus, Alertmanager, Redis and SMTP servers,
# the alert-rule unit tests and the dashboard checks. Installs the Debian packages the
# end-to-end tests need when they are missing (as root, through apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints its duration; a summary with the total closes the run.
t_total=$SECONDS
t_step=$SECONDS
current=""
timings=()
finish_step() {
  if [ -n "$current" ]; then
    local took=$((SECONDS - t_step))
    timings+=("$(printf '%5ds  %s' "$took" "$current")")
    printf '<== %s: %ds\n' "$current" "$took"
  fi
}
step() {
  finish_step
  current="$*"
  t_step=$SECONDS
  printf '\n==> %s\n' "$current"
}
summary() {
  finish_step
  current=""
  printf '\nstep timings:\n'
  printf '  %s\n' "${timings[@]}"
  printf 'total: %ds\n' "$((SECONDS - t_total))"
}
trap 'rc=$?; [ $rc -ne 0 ] && { failed="$current"; summary; echo "failed in step: ${failed:-?} (exit $rc)" >&2; }; exit $rc' EXIT

step "test servers (Debian packages, installed when missing)"
need=()
for bin in prometheus promtool prometheus-alertmanager redis-server curl tinyproxy; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(aiosmtpd)
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || need+=(prometheus_client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test servers (missing: ${need[*]})"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root, or install: prometheus prometheus-alertmanager redis-server python3-aiosmtpd python3-prometheus-client curl tinyproxy" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager redis-server python3-aiosmtpd python3-prometheus-client \
    curl tinyproxy >/dev/null
fi

step "format"
cargo fmt --all -- --check
step "alert rules (promtool)"
promtool check rules alerts/*.rules.yml
promtool test rules alerts/tests/*.yml
step "dashboards (structure)"
python3 scripts/check_dashboards.py dashboards/*.json
step "clippy (all targets, all features)"
cargo clippy --all-targets --all-features -- -D warnings
step "clippy (all targets, default features: plain \`cargo test\` builds)"
cargo clippy --all-targets -- -D warnings
step "clippy (no default features)"
cargo clippy --lib --no-default-features -- -D warnings
step "each feature on its own (cargo hack, without dev-dependencies)"
# A feature that compiles only thanks to another feature, or leaves code unused without
# it, fails here. Default, no-default, all-features (and full) are the clippy steps above.
command -v cargo-hack >/dev/null 2>&1 || cargo install --locked cargo-hack
cargo hack clippy --lib --each-feature --no-dev-deps --exclude-no-default-features \
  --exclude-all-features --exclude-features default,full -- -D warnings
step "docs (default and all features)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features
step "package (cargo publish --dry-run: the manifest, what is shipped, and that it builds)"
# --allow-dirty: a local run with uncommitted changes packages them too; CI's clone is clean.
cargo publish --dry-run --allow-dirty -p breakerbox
step "build the tests (all features)"
cargo test --all-features --no-run
step "the demo (README main job): build"
cargo build --example demo --features full
step "the demo (README main job): runs for 8 s"
# Built in the step before: the timeout counts the run only, never compile time.
timeout 60 cargo run -q --example demo --features full -- --seconds 8 --listen 127.0.0.1:0 >/dev/null
step "loom models"
# loom/ builds the crate's own sources with its normal dependencies and loom only, so the
# release build does not compile every dev-dependency first (minutes on 2 cores).
RUSTFLAGS="--cfg breakerbox_loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom \
  cargo test --release --manifest-path loom/Cargo.toml loom_tests
step "benchmarks: lints and build (dev profile; scripts/bench.sh builds them optimized)"
# benches/ is a workspace package of its own (criterion and the peer crates), so the
# crate's examples and tests never build those.
cargo clippy -p breakerbox-benches --all-targets -- -D warnings
cargo bench -p breakerbox-benches --no-run --profile dev
step "tests (all features)"
log="$(mktemp)"
cargo test --all-features 2>&1 | tee "$log"
counts=$(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { printf "%d %d", p, f }' "$log")
read -r passed failed <<<"$counts"
rm -f "$log"
summary
trap - EXIT
# One closing line for the whole run, summed over every test binary and the doc tests.
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
