"""The alert rules of deploy/prometheus/rules.yml: valid, unit-tested with promtool, and written
over metrics driftstream really exposes.

promtool comes with Prometheus (scripts/prometheus.sh install; `make test` runs it first): without
it these tests fail in CI and skip elsewhere (tests/services.py: unavailable)."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from driftstream.detectors.baseline import build_baseline
from driftstream.streamer.app.build import build_replay
from driftstream.streamer.app.config import Config
from driftstream.streamer.app.demo import demo_changes
from driftstream.streamer.sources.memory import IterSource
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv
from tests import services

RULES_DIR = services.REPO_ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "rules.yml"
RULES_TEST = RULES_DIR / "rules_test.yml"
# metric names in PromQL: driftstream's own (recording rules, with a colon, are not metrics)
METRIC_NAME = re.compile(r"(?<![\w:])driftstream_[a-z0-9_]+(?![\w:])")
RUN_TIMEOUT_S = 300.0  # a bound, never waited out when the test passes


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        services.unavailable("promtool not on PATH (scripts/prometheus.sh install)")
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [str(rule["expr"]) for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_rule_passes_its_unit_tests() -> None:
    tested = _promtool("test", "rules", str(RULES_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_tested_firing_case_severity_and_runbook_section() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert len(alerts) >= 8
    checks = [
        alert
        for case in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for alert in case.get("alert_rule_test", [])
    ]
    fired = {alert["alertname"] for alert in checks if alert.get("exp_alerts")}
    quiet = {alert["alertname"] for alert in checks if not alert.get("exp_alerts")}
    runbook = (RULES_DIR / "RUNBOOK.md").read_text()
    for rule in alerts:
        name = rule["alert"]
        assert name in fired, f"{name}: no test case where it fires"
        assert name in quiet, f"{name}: no test case where it stays quiet"
        assert rule.get("for"), f"{name}: no `for:`"
        assert rule["labels"]["severity"] in ("page", "ticket"), name
        anchor = rule["annotations"]["runbook"].rpartition("#")[2]
        assert anchor == name.lower(), name
        assert f"\n## {name}\n" in runbook, f"{name}: no section in RUNBOOK.md"


def _replay_metrics_page(tmp_path: Path) -> str:
    """The /metrics page of a replay (with drift) that has processed every record."""
    training = tmp_path / "training.csv"
    training.write_text(training_csv(5_000, seed=1))
    build_baseline(training, tmp_path / "b", label_column="prediction")
    config = Config.model_validate(
        {
            "endpoint": "alerts",
            "baseline": str(tmp_path / "b"),
            "detectors": {"calibration": {"samples": 20_000, "cache_dir": str(tmp_path / "cal")}},
            "metrics": {"host": "127.0.0.1", "port": 0},
        }
    )
    lines = capture_lines(Scenario("alerts", 3_000, demo_changes(1_500), seed=5))
    run = build_replay(
        config,
        IterSource(iter(lines), batch_size=500),
        [],
        checkpoint_dir=tmp_path / "checkpoint",
        metrics_required=True,
    )
    try:
        loop = threading.Thread(target=run.service.run, name="replay")
        loop.start()
        loop.join(RUN_TIMEOUT_S)
        assert not loop.is_alive(), "the replay did not finish"
        url = f"http://127.0.0.1:{run.metrics.bound_port}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            return str(response.read().decode())
    finally:
        run.close()


def _exposed_names(page: str) -> set[str]:
    """Every name a query can use: family names and sample names (counters with no sample
    yet, such as a rebalance count, are known by their family and its `_total`)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(page):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        names.update(sample.name for sample in family.samples)
    return names


def test_every_metric_in_the_rules_is_exposed(tmp_path: Path) -> None:
    page = _replay_metrics_page(tmp_path)
    exposed = _exposed_names(page)  # the live source's lag gauges too, without series
    used = {name for expr in _expressions() for name in METRIC_NAME.findall(expr)}
    assert {
        "driftstream_events_total",
        "driftstream_drift_score",
        "driftstream_records_read_total",
        "driftstream_consumer_lag_records",
        "driftstream_consumer_lag_seconds",
        "driftstream_monitor_cpu_seconds_total",
    } <= used
    assert used - exposed == set(), "rules.yml names metrics /metrics does not expose"
    # the label values the rules select on are the ones the replay's counters carry
    for detector in ("completeness_check", "data_type_check", "categorical_values_check"):
        assert f'detector="{detector}"' in page, detector
    assert 'kind="drift"' in page and 'kind="violation"' in page
    assert 'detector="baseline_drift_check"' in page
