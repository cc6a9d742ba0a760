#!/usr/bin/env python3
"""Check breakerbox's Grafana dashboards without a Grafana server (Python 3 stdlib only).

Usage, from the repository root:

    python3 scripts/check_dashboards.py dashboards/*.json
        Structural checks: uid, title, schemaVersion, unique panel ids (panels nested in
        rows included), gridPos, every target with an expr and a refId unique within its
        panel, every query going through the ${datasource} variable, no hard-coded range
        in a rate()/increase() window, multi-value variables regex-escaped in =~
        (${breaker:regex}), an __inputs data source (Grafana's import asks for it), a
        schemaVersion that the declared Grafana version writes, and bar and heatmap panels
        that tile time (a fixed minimum interval, no $__rate_interval window).

    python3 scripts/check_dashboards.py --prometheus http://127.0.0.1:9090 dashboards/*.json
        The structural checks, then every panel query (Grafana variables substituted) and
        every label_values() variable run against a live Prometheus. A query that errors
        or returns nothing fails (exit 1); annotation queries only need to not error.
        Ends with "N passed, M failed".

    python3 scripts/check_dashboards.py --metric-names [FILES...]
        Print every breakerbox_* metric name (base names: _bucket/_sum/_count stripped)
        referenced by the given dashboards (*.json) and Prometheus rule files (*.yml);
        without FILES, dashboards/*.json and alerts/*.yml. One per line, sorted.

As a module: load(), check_dashboard(), panels(), queries(), variable_queries(),
annotation_queries(), substitute(), metric_names(), run_live(), is_tiling_panel()
(used by check_panel_sums.py).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator

Dashboard = dict[str, Any]

DATASOURCE_REFS = ("${datasource}", "$datasource")
MIN_SCHEMA_VERSION = 39
GRID_WIDTH = 24
# Panel types that carry no queries.
QUERYLESS_PANELS = {"row", "text", "dashlist", "news", "alertlist", "annolist"}

# Grafana's built-in interval variables and what they become outside Grafana.
BUILTIN_SUBSTITUTIONS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "5m",
    "__interval_ms": "60000",
    "__range_s": "300",
    "__range_ms": "300000",
}
# ${name}, ${name:format}, [[name]], $name; not label_replace's "$1".
VARIABLE_RE = re.compile(
    r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)"
)
# A range selector inside rate()/increase()/... that does not use a Grafana variable.
LITERAL_RANGE_RE = re.compile(
    r"\b(?:rate|irate|increase|delta|idelta|changes|resets|deriv)\s*\(" r"[^()]*\[\s*(\d+[smhdwy])\s*\]"
)
# A variable used raw inside a regex matcher: =~"$breaker" instead of =~"${breaker:regex}".
UNESCAPED_REGEX_VAR_RE = re.compile(r'=~\s*"[^"]*\$(?:\{(\w+)\}|(\w+))')
# The dashboard schemaVersion each Grafana release line writes: (first version, schema).
GRAFANA_SCHEMA = [((9, 0), 36), ((9, 3), 37), ((10, 0), 38), ((10, 3), 39), ((11, 3), 40), ((12, 0), 41)]
METRIC_RE = re.compile(r"\bbreakerbox_[a-z0-9_]*[a-z0-9]")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(?P<metric>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$", re.S)
QUERY_RESULT_RE = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.S)


# ----------------------------------------------------------------------------- loading


def load(path: str) -> Dashboard:
    """Read one dashboard JSON file."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def panels(dashboard: Dashboard) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels nested in (collapsed) rows included."""

    def walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from walk(panel.get("panels") or [])

    return walk(dashboard.get("panels") or [])


def _panel_name(panel: dict[str, Any]) -> str:
    return f"panel {panel.get('id')!r} ({panel.get('title') or 'untitled'!s})"


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query", "")
    return query or variable.get("definition") or ""


# ----------------------------------------------------------------------------- queries


def substitute(expr: str) -> str:
    """Replace Grafana variables with values a plain Prometheus accepts.

    Interval variables become fixed ranges ($__rate_interval -> 1m, $__interval -> 1m,
    $__range -> 5m); every other variable ($job, ${breaker}, ${instance:regex}, [[x]])
    becomes the match-everything regex `.*`.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return BUILTIN_SUBSTITUTIONS.get(name, ".*")

    return VARIABLE_RE.sub(replace, expr)


def queries(dashboard: Dashboard, substituted: bool = False) -> list[tuple[str, str]]:
    """(panel title, expr) for every panel target, nested panels included."""
    result = []
    for panel in panels(dashboard):
        for target in panel.get("targets") or []:
            expr = target.get("expr")
            if expr:
                result.append((panel.get("title", ""), substitute(expr) if substituted else expr))
    return result


def variable_queries(dashboard: Dashboard, substituted: bool = False) -> list[tuple[str, str]]:
    """(variable name, query) for every query-type template variable."""
    result = []
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") == "query":
            query = _variable_query(variable)
            result.append((variable.get("name", ""), substitute(query) if substituted else query))
    return result


def annotation_queries(dashboard: Dashboard, substituted: bool = False) -> list[tuple[str, str]]:
    """(annotation name, expr) for every Prometheus annotation query."""
    result = []
    for annotation in (dashboard.get("annotations") or {}).get("list") or []:
        expr = annotation.get("expr") or (annotation.get("target") or {}).get("expr")
        if expr:
            result.append((annotation.get("name", ""), substitute(expr) if substituted else expr))
    return result


# ----------------------------------------------------------------------------- structure


def _references_datasource(datasource: Any) -> bool:
    if isinstance(datasource, dict):
        return datasource.get("uid") in DATASOURCE_REFS
    return datasource in DATASOURCE_REFS


def _check_grid(panel: dict[str, Any], name: str) -> list[str]:
    grid = panel.get("gridPos")
    if not isinstance(grid, dict):
        return [f"{name}: no gridPos"]
    errors = []
    for key in ("h", "w", "x", "y"):
        if not isinstance(grid.get(key), int) or grid[key] < 0:
            errors.append(f"{name}: gridPos.{key} missing or not a non-negative integer")
    if not errors:
        if grid["w"] == 0 or grid["h"] == 0:
            errors.append(f"{name}: gridPos has zero size")
        if grid["x"] + grid["w"] > GRID_WIDTH:
            errors.append(f"{name}: gridPos x + w exceeds {GRID_WIDTH}")
    return errors


def _overlaps(items: list[dict[str, Any]]) -> list[str]:
    boxes = []
    for panel in items:
        grid = panel.get("gridPos") or {}
        if all(isinstance(grid.get(k), int) for k in "hwxy"):
            boxes.append((panel, grid))
    errors = []
    for i, (a, ga) in enumerate(boxes):
        for b, gb in boxes[i + 1 :]:
            if (
                ga["x"] < gb["x"] + gb["w"]
                and gb["x"] < ga["x"] + ga["w"]
                and ga["y"] < gb["y"] + gb["h"]
                and gb["y"] < ga["y"] + ga["h"]
            ):
                errors.append(f"{_panel_name(a)} overlaps {_panel_name(b)}")
    return errors


def _check_targets(panel: dict[str, Any], name: str) -> list[str]:
    errors = []
    targets = panel.get("targets") or []
    if not targets:
        return [f"{name}: no targets"]
    panel_ds = _references_datasource(panel.get("datasource"))
    ref_ids: set[str] = set()
    for index, target in enumerate(targets):
        where = f"{name} target {index}"
        ref_id = target.get("refId")
        if not ref_id:
            errors.append(f"{where}: no refId")
        elif ref_id in ref_ids:
            errors.append(f"{where}: duplicate refId {ref_id!r}")
        else:
            ref_ids.add(ref_id)
        expr = target.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            errors.append(f"{where}: no expr")
        else:
            for window in LITERAL_RANGE_RE.findall(expr):
                errors.append(f"{where}: hard-coded range [{window}]; use $__rate_interval or $__range")
        if "datasource" in target:
            if not _references_datasource(target["datasource"]):
                errors.append(f"{where}: datasource does not reference ${{datasource}}")
        elif not panel_ds:
            errors.append(f"{where}: no datasource referencing ${{datasource}}")
    if "datasource" in panel and not panel_ds:
        errors.append(f"{name}: datasource does not reference ${{datasource}}")
    return errors


def _check_templating(dashboard: Dashboard) -> list[str]:
    errors = []
    names: set[str] = set()
    variables = (dashboard.get("templating") or {}).get("list") or []
    for variable in variables:
        name = variable.get("name")
        if not name:
            errors.append("template variable without a name")
            continue
        if name in names:
            errors.append(f"template variable {name!r} defined twice")
        names.add(name)
        if variable.get("type") == "query":
            if not _references_datasource(variable.get("datasource")):
                errors.append(f"template variable {name!r}: datasource does not reference ${{datasource}}")
            if not _variable_query(variable):
                errors.append(f"template variable {name!r}: no query")
    datasource = next((v for v in variables if v.get("name") == "datasource"), None)
    if datasource is None or datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
        errors.append("no template variable 'datasource' of type datasource with query prometheus")
    used = set()
    texts = [expr for _, expr in queries(dashboard)]
    texts += [query for _, query in variable_queries(dashboard)]
    texts += [expr for _, expr in annotation_queries(dashboard)]
    for text in texts:
        for match in VARIABLE_RE.finditer(text):
            used.add(match.group(1) or match.group(2) or match.group(3))
    for name in sorted(used - names - set(BUILTIN_SUBSTITUTIONS)):
        errors.append(f"query uses undefined variable ${name}")
    return errors


def _check_annotations(dashboard: Dashboard) -> list[str]:
    errors = []
    for annotation in (dashboard.get("annotations") or {}).get("list") or []:
        if annotation.get("builtIn"):
            continue
        name = annotation.get("name", "?")
        if not _references_datasource(annotation.get("datasource")):
            errors.append(f"annotation {name!r}: datasource does not reference ${{datasource}}")
        if not (annotation.get("expr") or (annotation.get("target") or {}).get("expr")):
            errors.append(f"annotation {name!r}: no expr")
    return errors


def is_tiling_panel(panel: dict[str, Any]) -> bool:
    """Bar charts and heatmaps: panels whose points are per-interval counts."""
    if panel.get("type") == "heatmap":
        return True
    custom = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom") or {}
    return panel.get("type") == "timeseries" and custom.get("drawStyle") == "bars"


def _check_tiling(panel: dict[str, Any], name: str) -> list[str]:
    if not is_tiling_panel(panel):
        return []
    errors = []
    if not re.fullmatch(r"\d+[smh]", str(panel.get("interval") or "")):
        errors.append(f"{name}: a bar or heatmap panel needs a fixed minimum interval (e.g. 15s)")
    for target in panel.get("targets") or []:
        if "$__rate_interval" in (target.get("expr") or ""):
            errors.append(f"{name}: $__rate_interval in a bar or heatmap panel counts events several times; "
                          "use per-$__interval increases that tile time")
    return errors


def _check_regex_variables(dashboard: Dashboard) -> list[str]:
    errors = []
    texts = queries(dashboard) + variable_queries(dashboard) + annotation_queries(dashboard)
    for title, text in texts:
        for match in UNESCAPED_REGEX_VAR_RE.finditer(text):
            var = match.group(1) or match.group(2)
            errors.append(f"{title!r}: ${var} inside =~ is not regex-escaped; use ${{{var}:regex}}")
    return errors


def _check_import(dashboard: Dashboard) -> list[str]:
    errors = []
    inputs = dashboard.get("__inputs") or []
    if not any(i.get("type") == "datasource" and i.get("pluginId") == "prometheus" for i in inputs):
        errors.append("no __inputs entry for a prometheus data source (Grafana's import would not ask for one)")
    grafana = next((r for r in dashboard.get("__requires") or [] if r.get("id") == "grafana"), None)
    version = str((grafana or {}).get("version") or "")
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        return errors + ["__requires declares no Grafana version"]
    declared = (int(match.group(1)), int(match.group(2)))
    expected = max((schema for first, schema in GRAFANA_SCHEMA if first <= declared), default=None)
    if expected is not None and dashboard.get("schemaVersion") != expected:
        errors.append(f"schemaVersion {dashboard.get('schemaVersion')} but Grafana {version} writes {expected}")
    return errors


def check_dashboard(dashboard: Dashboard) -> list[str]:
    """Structural problems of one dashboard; an empty list means it passes."""
    errors = []
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > 40:
        errors.append("uid missing, empty or longer than 40 characters")
    if not isinstance(dashboard.get("title"), str) or not dashboard["title"].strip():
        errors.append("title missing")
    version = dashboard.get("schemaVersion")
    if not isinstance(version, int) or version < MIN_SCHEMA_VERSION:
        errors.append(f"schemaVersion missing or below {MIN_SCHEMA_VERSION}")
    if not dashboard.get("panels"):
        errors.append("no panels")

    seen_ids: dict[int, str] = {}
    for panel in panels(dashboard):
        name = _panel_name(panel)
        panel_id = panel.get("id")
        if not isinstance(panel_id, int):
            errors.append(f"{name}: id missing or not an integer")
        elif panel_id in seen_ids:
            errors.append(f"{name}: id {panel_id} already used by {seen_ids[panel_id]}")
        else:
            seen_ids[panel_id] = name
        if not panel.get("type"):
            errors.append(f"{name}: no type")
        if not panel.get("title"):
            errors.append(f"{name}: no title")
        errors += _check_grid(panel, name)
        if panel.get("type") == "row":
            if panel.get("panels") and not panel.get("collapsed"):
                errors.append(f"{name}: an expanded row must not nest panels")
            errors += _overlaps(panel.get("panels") or [])
        elif panel.get("type") not in QUERYLESS_PANELS:
            errors += _check_targets(panel, name)
            errors += _check_tiling(panel, name)
    errors += _overlaps(dashboard.get("panels") or [])
    errors += _check_templating(dashboard)
    errors += _check_annotations(dashboard)
    errors += _check_regex_variables(dashboard)
    errors += _check_import(dashboard)
    return errors


def check_files(paths: list[str]) -> tuple[int, int]:
    """Run the structural checks on files, printing a line per problem; (passed, failed) files."""
    passed = failed = 0
    uids: dict[str, str] = {}
    for path in paths:
        try:
            dashboard = load(path)
        except (OSError, ValueError) as err:
            print(f"FAIL {path}: cannot load: {err}")
            failed += 1
            continue
        errors = check_dashboard(dashboard)
        uid = dashboard.get("uid")
        if isinstance(uid, str) and uid in uids:
            errors.append(f"uid {uid!r} also used by {uids[uid]}")
        elif isinstance(uid, str):
            uids[uid] = path
        if errors:
            failed += 1
            for error in errors:
                print(f"FAIL {path}: {error}")
        else:
            passed += 1
            count = sum(1 for _ in panels(dashboard))
            print(f"ok   {path}: {count} panels, {len(queries(dashboard))} queries")
    return passed, failed


# ----------------------------------------------------------------------------- metric names


def _rule_file_text(path: str) -> str:
    """A rule file without its full-line comments (they may mention made-up names)."""
    with open(path, encoding="utf-8") as f:
        return "".join(line for line in f if not line.lstrip().startswith("#"))


def _base_name(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def metric_names(paths: list[str]) -> list[str]:
    """Sorted breakerbox_* base metric names used by dashboards (.json) and rule files."""
    texts = []
    for path in paths:
        if path.endswith(".json"):
            dashboard = load(path)
            texts += [expr for _, expr in queries(dashboard)]
            texts += [query for _, query in variable_queries(dashboard)]
            texts += [expr for _, expr in annotation_queries(dashboard)]
        else:
            texts.append(_rule_file_text(path))
    return sorted({_base_name(name) for text in texts for name in METRIC_RE.findall(text)})


def _default_files() -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = sorted(glob.glob(os.path.join(root, "dashboards", "*.json")))
    found += sorted(glob.glob(os.path.join(root, "alerts", "*.yml")))
    found += sorted(glob.glob(os.path.join(root, "alerts", "*.yaml")))
    return found


# ----------------------------------------------------------------------------- live mode


def _api_get(base_url: str, path: str, params: list[tuple[str, str]]) -> Any:
    url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            body = json.load(response)
    except urllib.error.HTTPError as err:
        try:
            body = json.load(err)
        except ValueError:
            raise RuntimeError(f"HTTP {err.code}") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise RuntimeError(str(err)) from err
    if body.get("status") != "success":
        raise RuntimeError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
    return body.get("data")


def _run_query(base_url: str, expr: str) -> int:
    """Number of results of an instant query (a scalar or string counts as one)."""
    data = _api_get(base_url, "/api/v1/query", [("query", expr)])
    if data.get("resultType") in ("scalar", "string"):
        return 1
    return len(data.get("result") or [])


def _run_variable(base_url: str, query: str) -> int:
    """Number of values a template variable query yields."""
    match = LABEL_VALUES_RE.match(query)
    if match:
        params = [("match[]", match.group("metric"))] if match.group("metric") else []
        label = match.group("label")
        values = _api_get(base_url, f"/api/v1/label/{urllib.parse.quote(label)}/values", params)
        return len(values or [])
    match = QUERY_RESULT_RE.match(query)
    if match:
        return _run_query(base_url, match.group("expr"))
    raise RuntimeError(f"unsupported variable query {query!r}")


def run_live(base_url: str, paths: list[str], allow_empty: str | None = None) -> tuple[int, int]:
    """Run every query of the dashboards against Prometheus; print results; (passed, failed)."""
    allow = re.compile(allow_empty) if allow_empty else None
    passed = failed = 0
    failures = []
    for path in paths:
        dashboard = load(path)
        name = os.path.basename(path)
        checks = [("variable", title, query, _run_variable, False) for title, query in variable_queries(dashboard, True)]
        checks += [("panel", title, expr, _run_query, True) for title, expr in queries(dashboard, True)]
        checks += [("annotation", title, expr, _run_query, False) for title, expr in annotation_queries(dashboard, True)]
        for kind, title, query, run, may_be_empty in checks:
            # Panels matching --allow-empty, and annotations, may legitimately be empty.
            empty_ok = kind == "annotation" or bool(may_be_empty and allow and allow.search(title))
            label = f"{name}: {kind} {title!r}"
            try:
                count = run(base_url, query)
            except RuntimeError as err:
                failed += 1
                failures.append(f"{label}: error: {err}\n    {query}")
                continue
            if count == 0 and not empty_ok:
                failed += 1
                failures.append(f"{label}: empty result\n    {query}")
                continue
            passed += 1
            print(f"ok   {label}: {count} result{'s' if count != 1 else ''}")
    for failure in failures:
        print(f"FAIL {failure}")
    return passed, failed


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="dashboard JSON files (and rule files with --metric-names)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--prometheus", metavar="URL", help="also run every query against this Prometheus")
    mode.add_argument("--metric-names", action="store_true", help="print the breakerbox_* metric names referenced")
    parser.add_argument(
        "--allow-empty",
        metavar="REGEX",
        help="with --prometheus: panels whose title matches may return no data (e.g. 'Notification')",
    )
    args = parser.parse_args(argv)

    if args.metric_names:
        for name in metric_names(args.files or _default_files()):
            print(name)
        return 0

    if not args.files:
        parser.error("no dashboard files given")
    passed, failed = check_files(args.files)
    if args.prometheus is None:
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    if failed:
        print(f"{passed} passed, {failed} failed: not querying Prometheus")
        return 1
    passed, failed = run_live(args.prometheus, args.files, args.allow_empty)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
