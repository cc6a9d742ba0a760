#!/usr/bin/env bash
# Runs the benches (breakerbox and its peers in one run: benches/compare.rs, benches/scale.rs,
# a Prometheus scrape of 1,000 and 10,000 breakers: benches/render.rs, and fleet mode with
# 10 to 500 simulated replicas against a real redis-server: benches/fleet_scale.rs),
# measures the memory per breaker (tests/memory.rs), counts instructions per call with
# callgrind when valgrind is installed (scripts/instructions.sh), and prints the tables of
# docs/BENCHMARKS.md as ratios.
#
#   scripts/bench.sh                 # everything, about 7 minutes on 2 cores
#   scripts/bench.sh closed_sync     # extra arguments go to criterion (here: a filter)
#   scripts/bench.sh --table         # only print the tables of the last run
#   BENCH_RUNS=3 scripts/bench.sh    # the call benches 3 times instead of 2
#
# Timings are medians from criterion. The call benches (benches/compare.rs, peers
# included) run BENCH_RUNS times (default 2) and each row shows the lowest of its
# medians: on a shared machine, interference only ever adds time, and a burst of it
# during one bench's second of measurement moved a row by 20% in one run of three.
# Run it on a quiet machine anyway: the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
# The benches are the workspace package benches/ (breakerbox with prometheus, otel and
# fleet-redis, criterion and the peers); the memory test is the crate's own.
bench=(cargo bench -p breakerbox-benches)
features="prometheus,otel,fleet-redis"
out="$target/criterion"

if [[ "${1:-}" != "--table" ]]; then
    mkdir -p "$out"
    echo "building the benches..." >&2
    "${bench[@]}" --quiet --no-run >&2
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    runs="${BENCH_RUNS:-2}"
    rm -f "$out"/medians-*.json
    for run in $(seq 1 "$runs"); do
        echo "running the call benches, run $run of $runs (log: $out/bench-compare-$run.log)..." >&2
        "${bench[@]}" --bench compare -- "$@" >"$out/bench-compare-$run.log" 2>&1 \
            || { tail -n 30 "$out/bench-compare-$run.log" >&2; exit 1; }
        # This run's median of every bench, before the next run overwrites them.
        python3 - "$out" "$run" <<'PY'
import glob, json, os, sys
root, run = sys.argv[1], sys.argv[2]
medians = {}
for path in glob.glob(os.path.join(root, "*", "*", "new", "estimates.json")):
    group, bench = path[len(root) + 1:].split(os.sep)[:2]
    with open(path) as f:
        medians[f"{group}/{bench}"] = json.load(f)["median"]["point_estimate"]
with open(os.path.join(root, f"medians-{run}.json"), "w") as f:
    json.dump(medians, f)
PY
    done
    echo "running the scale and scrape benches (log: $out/bench.log)..." >&2
    "${bench[@]}" --bench scale --bench render -- "$@" >"$out/bench.log" 2>&1 \
        || { tail -n 30 "$out/bench.log" >&2; exit 1; }
    grep -E '^breakers_[0-9a-z_]+: [0-9]+ bytes' "$out/bench.log" >"$out/render.txt" || true
    # Fleet mode at scale: R simulated replicas against one redis-server (skipped without
    # one); the previous key layout at R = 10 and 50 only (it saturates Redis beyond).
    echo "running the fleet simulation, R = 10, 50, 200, 500 (log: $out/fleet_scale.txt)..." >&2
    FLEET_SCALE_BEFORE=10,50 "${bench[@]}" --bench fleet_scale -- 10,50,200,500 \
        >"$out/fleet_scale.txt" 2>&1 || tail -n 30 "$out/fleet_scale.txt" >&2
    cargo test --release --features "$features" --test memory -- --nocapture 2>/dev/null \
        | grep '^memory per breaker' >"$out/memory.txt" || true
    if command -v valgrind >/dev/null; then
        echo "counting instructions per call (callgrind)..." >&2
        scripts/instructions.sh >"$out/instructions.txt" || true
    fi
    {
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
        echo "rustc: $(rustc -V)"
        echo "load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
        echo "call benches: the lowest median of $runs runs per row"
    } >"$out/machine.txt"
fi

python3 - "$out" <<'PY'
import glob, json, os, re, sys

root = sys.argv[1]

# The medians of each run of the call benches (scripts/bench.sh keeps them per run).
runs = []
for path in sorted(glob.glob(os.path.join(root, "medians-*.json"))):
    try:
        with open(path) as f:
            runs.append(json.load(f))
    except (OSError, ValueError):
        pass

def ns(group, bench):
    """The lowest median of the bench over the runs, else criterion's last estimate."""
    seen = [r[f"{group}/{bench}"] for r in runs if f"{group}/{bench}" in r]
    if seen:
        return min(seen)
    path = os.path.join(root, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None

def fmt(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"

def cell(v, base):
    if v is None:
        return "-"
    if base is None or base == 0:
        return fmt(v)
    return f"{fmt(v)} ({v / base:.2f}x)"

print("## Machine")
try:
    print(open(os.path.join(root, "machine.txt")).read().strip())
except OSError:
    print("(not recorded)")
print()

print("## Calls: ns per call (median); in brackets, the ratio to breakerbox with no recorder")
print("in the same column (2.00x = twice breakerbox's time)")
print()
rows = [
    ("bare call (no breaker)", "bare", None),
    ("**breakerbox**, no recorder", "breakerbox", "breakerbox"),
    ("breakerbox, permit API (no span)", "breakerbox_permit", None),
    ("breakerbox, counters -> Prometheus", "breakerbox_counters", "breakerbox_counters"),
    ("breakerbox, counters, no upkeep thread (calls timed by the TSC)", "breakerbox_counters_no_upkeep", None),
    ("breakerbox, + duration histogram", "breakerbox_histogram", "breakerbox_histogram"),
    ("breakerbox, spans -> OTel, sampled", "spans:breakerbox_otel_sampled", None),
    ("breakerbox, spans -> OTel, not sampled", "spans:breakerbox_otel_not_sampled", None),
    ("breakerbox, spans -> OTel, default span policy (1 in 100)", "spans:breakerbox_otel_default_policy", None),
    ("breakerbox, spans -> OTel, call not chosen by the span policy", "spans:breakerbox_otel_unchosen", None),
    ("breakerbox, rejected without the upkeep thread", None, None),
    ("recloser", "recloser", "recloser"),
    ("failsafe, consecutive failures", "failsafe_consecutive", "failsafe_consecutive"),
    ("failsafe, default policy", "failsafe_default", None),
    ("tower-resilience", "tower_resilience", "tower_resilience"),
    ("tower-resilience, metrics -> Prometheus", "tower_resilience_metrics", None),
]
groups = ["closed_sync", "closed_async", "rejected"]
base = {g: ns(g, "breakerbox") for g in groups}
b1, b2 = ns("contention", "breakerbox_1t"), ns("contention", "breakerbox_2t")
print("| | closed, sync | closed, async | rejected (open) | 1 thread | 2 threads on one breaker | 2 threads / 1 thread |")
print("|---|---|---|---|---|---|---|")
for label, bench, cont in rows:
    cells = []
    for g in groups:
        if bench is None:
            v = ns("rejected", "breakerbox_no_upkeep") if g == "rejected" else None
        elif bench.startswith("spans:"):
            v = ns("spans_" + g, bench[6:])
        else:
            v = ns(g, bench)
        cells.append(cell(v, base[g]))
    t1 = ns("contention", f"{cont}_1t") if cont else None
    t2 = ns("contention", f"{cont}_2t") if cont else None
    cells += [cell(t1, b1), cell(t2, b2), f"{t2 / t1:.2f}" if t1 and t2 else "-"]
    print(f"| {label} | " + " | ".join(cells) + " |")
print()

print("## breakerbox against each peer (peer time / breakerbox time; above 1 = breakerbox faster)")
print()
print("| peer | closed, sync | closed, async | rejected | 2 threads |")
print("|---|---|---|---|---|")
for label, bench, cont in rows[[r[1] for r in rows].index("recloser"):]:
    cells = []
    # A peer emitting metrics is compared with breakerbox emitting its counters and histogram.
    against = "breakerbox_histogram" if bench.endswith("_metrics") else "breakerbox"
    if against != "breakerbox":
        label += " (vs breakerbox + histogram)"
    for g in groups:
        v, b = ns(g, bench), ns(g, against)
        cells.append(f"{v / b:.2f}" if v and b else "-")
    t2 = ns("contention", f"{cont}_2t") if cont else None
    cells.append(f"{t2 / b2:.2f}" if t2 and b2 else "-")
    print(f"| {label} | " + " | ".join(cells) + " |")
print()

print("## Targets (docs/DESIGN.md)")
print()
# The limits were set on a machine where recloser took 15 ns closed and 37 ns rejected
# (DESIGN.md); scaled by recloser's time here they say the same thing on this machine.
DESIGN_RECLOSER = {"closed_sync": 15.0, "rejected": 37.0}
def check(label, v, limit, group):
    here = ns(group, "recloser")
    scaled = limit * here / DESIGN_RECLOSER[group] if here else None
    def verdict(lim):
        if v is None or lim is None:
            return "-"
        return "met" if v < lim else "missed"
    print(f"| {label} | {fmt(v)} ns | < {limit} ns: {verdict(limit)} | < {fmt(scaled)} ns: {verdict(scaled)} |")
print("| target | measured | limit as written | limit scaled by recloser's time here |")
print("|---|---|---|---|")
check("closed, counters into Prometheus", ns("closed_sync", "breakerbox_counters"), 30, "closed_sync")
check("closed, counters + duration histogram", ns("closed_sync", "breakerbox_histogram"), 70, "closed_sync")
check("rejected (upkeep thread running, no clock read)", ns("rejected", "breakerbox"), 10, "rejected")
check("rejected, counters into Prometheus", ns("rejected", "breakerbox_counters"), 10, "rejected")
# Issue 22: the instrumented closed path at the cost of the bare peers, rejections under 10 ns.
def ratio(label, v, base, limit):
    if v and base:
        ok = "met" if v / base <= limit else "missed"
        print(f"| {label} | {v / base:.2f}x | <= {limit}x: {ok} | |")
for g, what in (("closed_sync", "closed sync"), ("closed_async", "closed async")):
    ratio(f"{what}, counters / recloser", ns(g, "breakerbox_counters"), ns(g, "recloser"), 1.0)
ratio("rejected, counters / recloser", ns("rejected", "breakerbox_counters"), ns("rejected", "recloser"), 0.35)
ratio("closed, counters + duration histogram / counters", ns("closed_sync", "breakerbox_histogram"), ns("closed_sync", "breakerbox_counters"), 1.25)
hist, none = ns("closed_sync", "breakerbox_histogram"), ns("closed_sync", "breakerbox")
if hist and none:
    ok = "met" if hist / none <= 1.5 else "missed"
    print(f"| closed, counters + duration histogram / no recorder | {hist / none:.2f}x | <= 1.5x: {ok} | |")
for obs in ("breakerbox", "breakerbox_counters", "breakerbox_histogram"):
    t1, t2 = ns("contention", f"{obs}_1t"), ns("contention", f"{obs}_2t")
    r = t2 / t1 if t1 and t2 else None
    # Issue 15, item 2: two threads with the duration histogram <= 1.2x one thread.
    limit = 1.2 if obs == "breakerbox_histogram" else 2
    ok = "met" if r is not None and r <= limit else ("missed" if r is not None else "not run")
    print(f"| 2 threads / 1 thread ({obs}) | {r:.2f}x | <= {limit}x: {ok} | |" if r else f"| 2 threads ({obs}) | - | <= {limit}x | |")
memory = {}
try:
    for line in open(os.path.join(root, "memory.txt")):
        for value, what in re.findall(r"(\d+) B (alone|in a registry|with a recorder)", line):
            memory[what] = int(value)
except OSError:
    pass
for what in ("alone", "in a registry"):
    v = memory.get(what)
    ok = "met" if v is not None and v < 4096 else ("missed" if v is not None else "not run")
    print(f"| memory per breaker, default window, {what} | {v if v is not None else '-'} B | < 4096 B: {ok} | |")
if "with a recorder" in memory:
    print(f"| (with a Prometheus recorder: its ~60 series per breaker) | {memory['with a recorder']} B | | |")
print()

print("## Floor: what the parts cost here (ns)")
print()
print("| primitive | ns |")
print("|---|---|")
for b, label in [
    ("std_instant_now", "std::time::Instant::now()"),
    ("clock_now", "breakerbox MonotonicClock::now() (quanta, TSC)"),
    ("clock_recent_no_upkeep", "MonotonicClock::recent() without upkeep (= now)"),
    ("clock_recent_upkeep", "MonotonicClock::recent() with upkeep (cached)"),
    ("atomic_add", "AtomicU64::fetch_add, uncontended"),
    ("arc_clone_drop", "Arc<str> clone + drop (the name in a BreakerOpen)"),
    ("arc_swap_load", "ArcSwap::load + drop of the guard"),
    ("metrics_counter", "pre-registered Prometheus counter increment"),
    ("metrics_histogram", "pre-registered Prometheus histogram record"),
]:
    print(f"| {label} | {fmt(ns('floor', b))} |")
print()

print("## Instructions per call (callgrind, deterministic; scripts/instructions.sh)")
print()
try:
    print(open(os.path.join(root, "instructions.txt")).read().strip())
except OSError:
    print("(not run: valgrind not installed)")
print()

print("## Scale: ns per call with N breakers registered")
print()
print("| breakers | one hot breaker | round-robin over all |")
print("|---|---|---|")
for n in (1, 1000, 100000):
    print(f"| {n:,} | {fmt(ns('scale', f'hot_{n}'))} | {fmt(ns('scale', f'round_robin_{n}'))} |")

print()
print("## Scrape: rendering N breakers into the Prometheus text format")
print()
sizes = {}
try:
    for line in open(os.path.join(root, "render.txt")):
        m = re.match(r"(breakers_\w+): (\d+) bytes, (\d+) series: ([\d.]+) series and (\d+) bytes per breaker", line)
        if m:
            sizes[m.group(1)] = (int(m.group(2)), m.group(4), m.group(5))
except OSError:
    pass
print("| breakers, duration histograms | time per scrape | exposition | series per breaker |")
print("|---|---|---|---|")
for bench, label in [
    ("breakers_1000", "1,000, every outcome"),
    ("breakers_10000", "10,000, every outcome"),
    ("breakers_10000_success_and_failure", "10,000, success and failure"),
    ("breakers_10000_no_histogram", "10,000, none"),
    ("breakers_10000_plain", "10,000, every outcome, built under a plain local recorder"),
]:
    v = ns("render", bench)
    t = f"{v / 1e9:.2f} s" if v else "-"
    size, per, _ = sizes.get(bench, (None, "-", None))
    mb = f"{size / 1e6:.1f} MB" if size else "-"
    print(f"| {label} | {t} | {mb} | {per} |")
PY

if [[ -s "$out/fleet_scale.txt" ]]; then
    echo
    echo "## Fleet mode at scale (benches/fleet_scale.rs): B = 100 breakers, period 1 s, window 60 s"
    echo
    grep '^|' "$out/fleet_scale.txt" || true
fi
