#!/usr/bin/env bash
# Instructions per call on the hot paths, counted by valgrind's callgrind: deterministic,
# so before/after comparisons hold on a busy machine where timings do not.
#
#   scripts/instructions.sh                  # every case, 20,000 calls each
#   scripts/instructions.sh counters none    # some cases
#
# Each case runs benches/instructions.rs once; callgrind counts only inside its `hot_*`
# loops (set-up, scrapes and the clock's upkeep thread excluded), divided by the calls.
set -euo pipefail
cd "$(dirname "$0")/.."

calls="${CALLS:-20000}"
cases=("$@")
if [[ ${#cases[@]} -eq 0 ]]; then
    cases=(none counters histogram rejected rejected_counters recloser recloser_rejected
        permit async_counters recloser_async)
fi
bin="$(cargo bench -p breakerbox-benches --bench instructions --no-run 2>&1 \
    | sed -n 's/.*Executable.*(\(.*\)).*/\1/p' | tail -n1)"
[[ -x "$bin" ]] || { echo "bench binary not found" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

count() {
    valgrind --tool=callgrind --toggle-collect='*::hot_*' --callgrind-out-file="$tmp/out" \
        "$bin" "$1" "$2" >/dev/null 2>"$tmp/err"
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$tmp/out"
}

echo "| case | instructions per call |"
echo "|---|---|"
for case in "${cases[@]}"; do
    echo "| $case | $(( $(count "$case" "$calls") / calls )) |"
done
