#!/usr/bin/env python3
"""Check that breakerbox's bar and heatmap panels count every event exactly once.

Usage, from the repository root, against a Prometheus that has scraped the exporter:

    python3 scripts/check_panel_sums.py --prometheus http://127.0.0.1:9090 dashboards/*.json

For every bar chart and heatmap panel (see check_dashboards.is_tiling_panel) and every
target, the panel's query runs as Grafana runs it: a range query whose step is the panel's
interval, with $__interval set to that step (every other variable matches everything).
The points of each series are summed over the range and compared with the counter's
increase over the same range, computed here from the raw samples of every series of the
counter (read back with a range selector), grouped like the panel's `sum by (GROUP)`:

- at the panel's resolution: for each step, the counter at the step minus at the step
  before (as Prometheus looks a value up: the last sample at or before that time), or,
  when the counter went down (a counter reset: the process restarted), its value at the
  step, the new process's count; 0 before the series existed. This is what the panel
  must show: a series may differ by at most 1. A panel whose windows overlap (a window
  longer than the step, such as $__rate_interval) or leave gaps counts events several
  times or misses them, and fails; one that subtracts across a reset shows a negative
  bar, and fails.
- sample by sample: the same, between each two consecutive scrapes. Without a reset it
  equals the first; in a step with a reset it is larger by what the old process counted in
  that step before it died, which no per-step query can see (printed as "lost to
  restarts").

No point of a panel may be negative. With --expect-resets, the run fails unless some
checked series had a counter reset in the range (to prove a restart was exercised).
Ends with "N passed, M failed"; exit 1 on any failure. Python 3 stdlib only.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from typing import Any

import check_dashboards as cd

# `sum by (a, b) (` ... the first breakerbox counter selector `name{...}`.
GROUP_RE = re.compile(r"^\s*sum\s+by\s*\(([^)]*)\)")
SELECTOR_RE = re.compile(r"\b(breakerbox_[a-z0-9_]+)\{([^}]*)\}")
STEP_RE = re.compile(r"^(\d+)([smh])$")
# Prometheus looks an instant value up at most this far back (its default).
LOOKBACK = 300


def seconds(interval: str) -> int:
    match = STEP_RE.match(interval)
    if not match:
        raise ValueError(f"unsupported interval {interval!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def substitute(expr: str, step: str) -> str:
    return cd.substitute(expr.replace("$__interval", step).replace("${__interval}", step))


def _key(metric: dict[str, str], group: list[str]) -> tuple[str, ...]:
    return tuple(metric.get(label, "") for label in group)


def _range_sums(base_url: str, expr: str, start: float, end: float, step: int, group: list[str]):
    params = [("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("step", str(step))]
    data = cd._api_get(base_url, "/api/v1/query_range", params)
    sums: dict[tuple[str, ...], float] = {}
    points = 0
    lowest = math.inf
    for series in data.get("result") or []:
        values = [float(v) for _, v in series["values"] if not math.isnan(float(v))]
        points += len(values)
        lowest = min([lowest, *values])
        key = _key(series["metric"], group)
        sums[key] = sums.get(key, 0.0) + sum(values)
    return sums, points, lowest


def _raw_samples(base_url: str, selector: str, since: float, end: float) -> list[tuple[dict[str, str], list]]:
    """Every series of `selector` with its raw samples in (since, end], oldest first."""
    window = max(1, math.ceil(end - since))
    data = cd._api_get(base_url, "/api/v1/query", [("query", f"{selector}[{window}s]"), ("time", f"{end:.3f}")])
    return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in data.get("result") or []]


def _value_at(samples: list, at: float, downs: list[float]) -> float | None:
    """The value an instant query at `at` sees: the last sample at or before it, within the
    lookback, unless a failed scrape of its target since then (`up` 0) marked it stale."""
    seen = None
    for t, v in samples:
        if t > at:
            break
        seen = (t, v)
    if seen is None or seen[0] < at - LOOKBACK:
        return None
    if any(seen[0] < d <= at for d in downs):
        return None
    return seen[1]


def _bar(now: float | None, before: float | None) -> float:
    """One step of `(x - x offset step) >= 0 or x`: the increase, or after a reset (or with
    nothing before) the value itself; nothing when the series is absent now."""
    if now is None:
        return 0.0
    if before is None or now < before:
        return now
    return now - before


def series_increases(samples: list, boundaries: list[float], downs: list[float]) -> tuple[float, float, int]:
    """Of one series: its increase at the panel's resolution (values at the boundaries), its
    increase sample by sample over the same range, and its resets."""
    at = [_value_at(samples, b, downs) for b in boundaries]
    at_steps = sum(_bar(now, before) for before, now in zip(at, at[1:]))
    first, last = boundaries[0], boundaries[-1]
    previous = _value_at(samples, first, downs)
    by_sample, resets = 0.0, 0
    for t, v in samples:
        if first < t <= last:
            resets += previous is not None and v < previous
            by_sample += _bar(v, previous)
            previous = v
    return at_steps, by_sample, resets


def _downs(base_url: str, since: float, end: float) -> dict[tuple[str, str], list[float]]:
    """Times of failed scrapes (`up` 0) by job and instance, in (since, end]."""
    downs: dict[tuple[str, str], list[float]] = {}
    for metric, samples in _raw_samples(base_url, "up", since, end):
        key = (metric.get("job", ""), metric.get("instance", ""))
        downs[key] = [t for t, v in samples if v == 0]
    return downs


def check_target(base_url: str, title: str, expr: str, interval: str, steps: int,
                 now: float) -> tuple[list[str], int]:
    """Problems of one target (an empty list: every series sums to the counter's increase),
    and the series with a counter reset in the range."""
    step = seconds(interval)
    expr = substitute(expr, interval)
    group_match = GROUP_RE.match(expr)
    selector = SELECTOR_RE.search(expr)
    if not group_match or not selector:
        return [f"{title!r}: cannot find `sum by (...)` and a breakerbox counter in {expr!r}"], 0
    group = [g.strip() for g in group_match.group(1).split(",") if g.strip()]
    end = math.floor(now / step) * step - step
    start = end - (steps - 1) * step
    boundaries = [start - step + i * step for i in range(steps + 1)]
    panel_sums, points, lowest = _range_sums(base_url, expr, start, end, step, group)
    raw = _raw_samples(base_url, f"{selector.group(1)}{{{selector.group(2)}}}", boundaries[0] - LOOKBACK, end)
    downs = _downs(base_url, boundaries[0] - LOOKBACK, end)
    expected: dict[tuple[str, ...], float] = {}
    by_sample: dict[tuple[str, ...], float] = {}
    reset_series = 0
    for metric, samples in raw:
        target = (metric.get("job", ""), metric.get("instance", ""))
        at_steps, sampled, resets = series_increases(samples, boundaries, downs.get(target, []))
        key = _key(metric, group)
        expected[key] = expected.get(key, 0.0) + at_steps
        by_sample[key] = by_sample.get(key, 0.0) + sampled
        reset_series += resets > 0
    errors = []
    if lowest < 0:
        errors.append(f"{title!r}: a point is negative ({lowest:g}): a counter reset was subtracted")
    for key in sorted(set(expected) | set(panel_sums)):
        real = expected.get(key, 0.0)
        shown = panel_sums.get(key, 0.0)
        if abs(shown - real) > 1:
            errors.append(f"{title!r} {dict(zip(group, key))}: panel sums to {shown:g}, counter increased by {real:g}")
    total = sum(expected.values())
    lost = sum(by_sample.values()) - total
    print(f"{'ok  ' if not errors else 'FAIL'} {title!r}: {points} points in {steps} steps of {interval}, "
          f"{len(raw)} series ({reset_series} reset), increase {total:g}, lost to restarts {lost:g}")
    if total <= 0:
        errors.append(f"{title!r}: the counter did not move in the range; nothing was checked")
    return errors, reset_series


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="dashboard JSON files")
    parser.add_argument("--prometheus", metavar="URL", required=True)
    parser.add_argument("--steps", type=int, default=6, help="steps in the checked range (default 6)")
    parser.add_argument("--expect-resets", action="store_true",
                        help="fail unless a checked counter was reset (a restart) in the range")
    args = parser.parse_args(argv)
    now = time.time()
    passed = failed = resets = 0
    for path in args.files:
        for panel in cd.panels(cd.load(path)):
            if not cd.is_tiling_panel(panel):
                continue
            for target in panel.get("targets") or []:
                title = f"{path}: {panel.get('title')} {target.get('refId')}"
                try:
                    errors, reset = check_target(args.prometheus, title, target["expr"],
                                                 panel.get("interval") or "15s", args.steps, now)
                    resets += reset
                except (RuntimeError, ValueError) as err:
                    errors = [f"{title!r}: {err}"]
                for error in errors:
                    print(f"FAIL {error}")
                failed += bool(errors)
                passed += not errors
    print(f"{passed} passed, {failed} failed; {resets} series with a counter reset")
    if args.expect_resets and not resets:
        print("FAIL --expect-resets: no checked counter was reset in the range")
        return 1
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
