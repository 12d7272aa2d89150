"""Bias drift end to end through the installed `driftstream` command: `baseline --bias-config`,
then `replay` of captures where one facet's positive rate falls while the overall rate stays."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.detectors.bias.streams import capture_lines, training_csv, write_config
from tests.streamer.test_replay_cli import cli, read_events

CHANGE = 35_000


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bias-cli")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    write_config(root / "bias.json")
    (root / "config.yaml").write_text(
        f"detectors:\n  calibration:\n    samples: 20000\n    cache_dir: {root / 'calibration'}\n"
    )
    done = cli(
        "baseline",
        "training.csv",
        "--out",
        "base",
        "--label-column",
        "prediction",
        "--bias-config",
        "bias.json",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote base/analysis.json: DI, DPPL of 1 facet group" in done.stdout
    lines = capture_lines(60_000, seed=5, change_at=CHANGE)
    (root / "capture.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return root


def test_baseline_writes_clarifys_analysis(root: Path) -> None:
    analysis = json.loads((root / "base" / "analysis.json").read_text())
    section = analysis["post_training_bias_metrics"]
    assert section["label"] == "approved"
    [group] = section["facets"]["c0"]
    assert group["value_or_threshold"] == "a"
    assert [m["name"] for m in group["metrics"]] == ["DI", "DPPL"]
    assert abs(group["metrics"][1]["value"]) < 0.03  # every facet value has the same rate


def test_replay_reports_the_facet_whose_positive_rate_fell(root: Path) -> None:
    done = cli(
        "replay",
        "capture.jsonl",
        "--baseline",
        "base",
        "--config",
        "config.yaml",
        "--events-out",
        "events.jsonl",
        "--violations-out",
        "reports",
        "--violations-window",
        "10000r",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    events = read_events(root / "events.jsonl")
    bias = [e for e in events if e.get("detector") == "bias_drift"]
    assert bias, "the fall of c0=a's positive rate must be detected"
    assert all(e["kind"] == "drift" and e["facet"] == "c0=a" for e in bias)
    assert {e["metric"] for e in bias} == {"DPPL", "DI"}
    assert all(e["record_index"] >= CHANGE for e in bias)
    # windows of 10,000 records: the first after the change closes at 39,999, half changed
    first = min(e["record_index"] for e in bias)
    assert first in (39_999, 49_999)
    dppl = next(e for e in bias if e["metric"] == "DPPL")
    assert dppl["value"] > dppl["threshold"] > 0
    assert "inference_time" in dppl and dppl["report"].endswith("constraint_violations.json")

    files = sorted(
        p.relative_to(root / "reports").as_posix() for p in (root / "reports").rglob("*")
    )
    bias_reports = [f for f in files if f.endswith("model_bias/constraint_violations.json")]
    assert len(bias_reports) == 6  # every window, clean ones included
    reported = [json.loads((root / "reports" / f).read_text())["violations"] for f in bias_reports]
    assert reported[:3] == [[], [], []]  # records 0-29,999: before the change
    assert any(v["metric_name"] == "DPPL" and v["facet_value"] == "a" for v in reported[4])
    assert dppl["report"] in bias_reports


def test_bias_drift_runs_without_a_report_folder(root: Path) -> None:
    done = cli(
        "replay",
        "capture.jsonl",
        "--baseline",
        "base",
        "--config",
        "config.yaml",
        "--events-out",
        "plain.jsonl",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    # the default window, an hour of inferenceTime (records a second apart: 3,600 a window)
    bias = [e for e in read_events(root / "plain.jsonl") if e.get("detector") == "bias_drift"]
    assert bias and all(e["record_index"] >= CHANGE for e in bias)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        (
            json.dumps(
                {
                    "facet": [{"name_or_index": "zip"}],
                    "label_values_or_threshold": [1],
                    "methods": {"post_training_bias": {"methods": "all"}},
                }
            ),
            r"facet\[0\]\.name_or_index: 'zip' is not a column of DATA",
        ),
        (
            json.dumps(
                {
                    "facet": [{"name_or_index": "c0"}],
                    "label_values_or_threshold": [1],
                    "methods": {"post_training_bias": {"methods": ["DPPL", "Gini"]}},
                }
            ),
            "unknown metric 'Gini'",
        ),
    ],
)
def test_a_bad_bias_config_is_one_line_and_exit_2(root: Path, config: str, message: str) -> None:
    (root / "bad.json").write_text(config)
    done = cli(
        "baseline",
        "training.csv",
        "--out",
        "bad-base",
        "--label-column",
        "prediction",
        "--bias-config",
        "bad.json",
        cwd=root,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("driftstream: error: ")
    assert re.search(message, line), line
    assert "Traceback" not in done.stderr
