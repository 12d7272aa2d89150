"""deploy/grafana/driftstream.json: its shape, and every query of it run by the real Prometheus
the tests start, after it scraped a replay with drift.

No Grafana runs here; what Grafana does to a query before sending it is done by `_substitute`:
its variables replaced by what one panel of a dashboard showing the replay would send. Every
panel query, annotation query and variable query must succeed, and return data unless the
panel's metrics cannot exist in a replay (EMPTY_IN_A_REPLAY, each with the reason).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.integration.gated_replay import POLL_TIMEOUT_S, gated_replay

pytestmark = [pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD: dict[str, Any] = json.loads((REPO_ROOT / "deploy/grafana/driftstream.json").read_text())
ENDPOINT = "grafana"
FEATURE = "age"  # the feature one repeated panel shows: it drifts in the replay
#: (panel title, refId) of the queries that are empty after a replay, and why
EMPTY_IN_A_REPLAY = {
    ("Consumer lag (records)", "A"): "only `driftstream run` with a Kafka source",
    ("Consumer lag (seconds)", "A"): "only `driftstream run` (Kafka, Kinesis)",
    ("Retrain signals", "B"): "signal counters exist only with signal targets configured",
    ("Retrain signals", "C"): "signal counters exist only with signal targets configured",
    ("Retrain signals", "D"): "signal counters exist only with signal targets configured",
    ("Retrain signals", "E"): "signal counters exist only with signal targets configured",
    ("Model quality (with ground truth)", "A"): "only with ground truth (replay --ground-truth)",
    ("Model quality (with ground truth)", "B"): "only with ground truth (replay --ground-truth)",
    ("Bias drift per facet", "A"): "only with a bias baseline (baseline --bias-config)",
}
VARIABLES = {
    "endpoint": ENDPOINT,
    "feature": FEATURE,
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def _panel_queries() -> Iterator[tuple[str, str, str]]:
    """(panel title, refId, expr) of every panel target."""
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["refId"], target["expr"]


def _annotation_queries() -> Iterator[tuple[str, str, str]]:
    """(annotation name, "annotation", expr) of every Prometheus annotation."""
    for annotation in DASHBOARD["annotations"]["list"]:
        if annotation["datasource"]["type"] == "prometheus":
            yield annotation["name"], "annotation", annotation["expr"]


def _variables() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in DASHBOARD["templating"]["list"]}


def _substitute(expr: str) -> str:
    """`expr` as Grafana sends it for one panel of the replay's endpoint; an unknown variable
    fails."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in VARIABLES, f"variable ${name} in {expr!r} has no test value"
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def _label_values(variable: dict[str, Any]) -> tuple[str, str]:
    """(label, series selector) of a `label_values(selector, label)` variable query."""
    query = variable["query"]["query"]
    found = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert found, f"variable {variable['name']}: {query!r} is not label_values(selector, label)"
    return found.group(2), found.group(1)


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bdriftstream_\w+", expr))


def test_the_dashboard_is_a_grafana_model_with_variables_panels_and_queries() -> None:
    assert DASHBOARD["title"] == "driftstream"
    assert DASHBOARD["uid"] == "driftstream"
    assert DASHBOARD["schemaVersion"] >= 39
    variables = _variables()
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("endpoint", "feature"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
        label, selector = _label_values(variables[name])
        assert label == name and _metric_names(selector), selector
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) == len(DASHBOARD["panels"]) >= 10
    for panel in DASHBOARD["panels"]:
        where = f"panel {panel.get('title')!r}"
        assert panel["type"] in {"timeseries", "table", "stat"}, where
        assert panel["title"].strip(), where
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), where
        assert grid["x"] + grid["w"] <= 24, where
        assert panel["datasource"]["uid"] == "${datasource}", where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
            assert '{endpoint=~"$endpoint"' in target["expr"], f"{where}: {target['expr']}"
        if "repeat" in panel:
            assert panel["repeat"] in variables, where
    assert list(_annotation_queries()), "no drift annotations"


def test_every_metric_and_check_the_dashboard_reads_is_one_the_code_defines() -> None:
    """Catches a misspelt metric in the panels that a replay leaves empty (lag, signals), and a
    misspelt check in a `detector=~"a|b"` that another check keeps from being empty."""
    source = "\n".join(
        p.read_text()
        for folder in ("streamer", "sinks", "detectors")
        for p in (REPO_ROOT / folder).rglob("*.py")
    )
    queries = [*_panel_queries(), *_annotation_queries()]
    queries += [
        ("variable", name, v["query"]["query"])
        for name, v in _variables().items()
        if name != "datasource"
    ]
    for title, ref, expr in queries:
        for metric in _metric_names(expr):
            base = re.sub(r"_(total|bucket|count|sum)$", "", metric)
            assert f'"{base}"' in source, f"{title} {ref}: {metric} is defined nowhere in the code"
        for names in re.findall(r'detector=~"([^"$]+)"', expr):
            for name in names.split("|"):
                assert f'"{name}"' in source, f"{title} {ref}: no check or detector {name}"


@pytest.mark.integration
def test_every_query_returns_data_from_prometheus_after_a_replay_with_drift(
    tmp_path: Path,
    prometheus_server: Callable[[Sequence[str]], services.PrometheusServer],
) -> None:
    """The replay's input is held back until Prometheus scraped the counters at 0, so the drift
    shows in increase() (the annotations) however slow the machine."""
    with gated_replay(tmp_path, prometheus_server, ENDPOINT) as replay:
        prom = replay.prom
        drift = f'driftstream_events_total{{endpoint="{ENDPOINT}",kind="drift"}}'
        assert _poll_until_data(prom, {("gate", "", drift)}) == set(), "counters never scraped"
        replay.drift_may_start.set()
        queries = {*_panel_queries(), *_annotation_queries()}
        expected = {q for q in queries if q[:2] not in EMPTY_IN_A_REPLAY}
        assert {q[:2] for q in queries} >= set(EMPTY_IN_A_REPLAY)  # the list names real queries
        never = _poll_until_data(prom, expected)
        assert not never, f"no data in {POLL_TIMEOUT_S}s for {sorted(never)}"
        for title, ref, expr in queries - expected:
            _query(prom, title, ref, _substitute(expr))  # valid PromQL, even where empty
        for name in ("endpoint", "feature"):
            label, selector = _label_values(_variables()[name])
            values = _series_label_values(prom, label, _substitute(selector))
            assert VARIABLES[name] in values, f"variable {name}: {values}"


def _query(prom: services.PrometheusServer, title: str, ref: str, promql: str) -> list[Any]:
    """The result of an instant query; fails naming the panel when Prometheus refuses it."""
    params = urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(f"{prom.url}/api/v1/query?{params}", timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:  # 400 for a bad query, with the error as JSON
        body = json.load(exc)
    assert body["status"] == "success", f"{title} {ref}: {promql}: {body.get('error')}"
    result: list[Any] = body["data"]["result"]
    return result


def _poll_until_data(
    prom: services.PrometheusServer, queries: set[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """Run `queries` until each returned data once, for at most POLL_TIMEOUT_S; those that never
    did. Every answer must be a success."""
    pending = set(queries)
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while True:
        pending = {q for q in pending if not _query(prom, q[0], q[1], _substitute(q[2]))}
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.5)


def _series_label_values(prom: services.PrometheusServer, label: str, selector: str) -> list[str]:
    """What Grafana's label_values(selector, label) lists."""
    params = urllib.parse.urlencode({"match[]": selector})
    url = f"{prom.url}/api/v1/label/{label}/values?{params}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    values: list[str] = body["data"]
    return values
