#!/usr/bin/env python3
"""Check that breakerbox's bar and heatmap panels count every event exactly once.

Usage, from the repository root, against a Prometheus that has scraped the exporter:

    python3 scripts/check_panel_sums.py --prometheus http://127.0.0.1:9090 dashboards/*.json

For every bar chart and heatmap panel (see check_dashboards.is_tiling_panel) and every
target, the panel's query runs as Grafana runs it: a range query whose step is the panel's
interval, with $__interval set to that step (every other variable matches everything).
The points of each series are summed over the range and compared with the counter's real
increase over the same range, read from the raw counter at the two ends:

    sum by (GROUP) (COUNTER{SELECTOR}) at the last step
  - sum by (GROUP) (COUNTER{SELECTOR}) one step before the first step (0 if absent)

where GROUP, COUNTER and SELECTOR are taken from the panel's `sum by (GROUP) (...)` query.
A series may differ by at most 1; a panel whose windows overlap (a window longer than the
step, such as $__rate_interval) or leave gaps counts events several times or misses them,
and fails. Ends with "N passed, M failed"; exit 1 on any failure. Python 3 stdlib only.
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


def seconds(interval: str) -> int:
    match = STEP_RE.match(interval)
    if not match:
        raise ValueError(f"unsupported interval {interval!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def substitute(expr: str, step: str) -> str:
    return cd.substitute(expr.replace("$__interval", step).replace("${__interval}", step))


def _key(metric: dict[str, str], group: list[str]) -> tuple[str, ...]:
    return tuple(metric.get(label, "") for label in group)


def _instant(base_url: str, expr: str, at: float, group: list[str]) -> dict[tuple[str, ...], float]:
    data = cd._api_get(base_url, "/api/v1/query", [("query", expr), ("time", f"{at:.3f}")])
    return {_key(r["metric"], group): float(r["value"][1]) for r in data.get("result") or []}


def _range_sums(base_url: str, expr: str, start: float, end: float, step: int, group: list[str]):
    params = [("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("step", str(step))]
    data = cd._api_get(base_url, "/api/v1/query_range", params)
    sums: dict[tuple[str, ...], float] = {}
    points = 0
    for series in data.get("result") or []:
        values = [float(v) for _, v in series["values"] if not math.isnan(float(v))]
        points += len(values)
        key = _key(series["metric"], group)
        sums[key] = sums.get(key, 0.0) + sum(values)
    return sums, points


def check_target(base_url: str, title: str, expr: str, interval: str, steps: int, now: float) -> list[str]:
    """Problems of one target; an empty list means every series sums to the real increase."""
    step = seconds(interval)
    expr = substitute(expr, interval)
    group_match = GROUP_RE.match(expr)
    selector = SELECTOR_RE.search(expr)
    if not group_match or not selector:
        return [f"{title!r}: cannot find `sum by (...)` and a breakerbox counter in {expr!r}"]
    group = [g.strip() for g in group_match.group(1).split(",") if g.strip()]
    counter = f"sum by ({', '.join(group)}) ({selector.group(1)}{{{selector.group(2)}}})"
    end = math.floor(now / step) * step - step
    start = end - (steps - 1) * step
    panel_sums, points = _range_sums(base_url, expr, start, end, step, group)
    at_end = _instant(base_url, counter, end, group)
    before = _instant(base_url, counter, start - step, group)
    errors = []
    real_total = 0.0
    for key in sorted(set(at_end) | set(panel_sums)):
        real = at_end.get(key, 0.0) - before.get(key, 0.0)
        real_total += real
        shown = panel_sums.get(key, 0.0)
        if abs(shown - real) > 1:
            errors.append(f"{title!r} {dict(zip(group, key))}: panel sums to {shown:g}, counter increased by {real:g}")
    print(f"{'ok  ' if not errors else 'FAIL'} {title!r}: {points} points in {steps} steps of {interval}, "
          f"{len(at_end)} series, real increase {real_total:g}")
    if real_total <= 0:
        errors.append(f"{title!r}: the counter did not move in the range; nothing was checked")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="dashboard JSON files")
    parser.add_argument("--prometheus", metavar="URL", required=True)
    parser.add_argument("--steps", type=int, default=6, help="steps in the checked range (default 6)")
    args = parser.parse_args(argv)
    now = time.time()
    passed = failed = 0
    for path in args.files:
        for panel in cd.panels(cd.load(path)):
            if not cd.is_tiling_panel(panel):
                continue
            for target in panel.get("targets") or []:
                title = f"{path}: {panel.get('title')} {target.get('refId')}"
                try:
                    errors = check_target(args.prometheus, title, target["expr"], panel.get("interval") or "15s",
                                          args.steps, now)
                except (RuntimeError, ValueError) as err:
                    errors = [f"{title!r}: {err}"]
                for error in errors:
                    print(f"FAIL {error}")
                failed += bool(errors)
                passed += not errors
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
