"""Model quality end to end through the installed `driftstream` command: `baseline
--ground-truth-column --problem-type`, then `replay CAPTURE --baseline DIR --ground-truth GT`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn import metrics as sk

from driftstream.detectors.quality.files import load_model_quality
from tests.detectors.quality import labelled
from tests.streamer.test_replay_cli import cli

TRAINING_ROWS = 20_000


@pytest.fixture(scope="module")
def quality_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quality-cli")
    (root / "training.csv").write_text(labelled.training_csv(TRAINING_ROWS, seed=1))
    done = cli(
        "baseline",
        "training.csv",
        "--out",
        "baseline",
        "--label-column",
        "prediction",
        "--ground-truth-column",
        "label",
        "--problem-type",
        "BinaryClassification",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    assert "14 features" in done.stdout  # the label is not one of them
    assert "BinaryClassification, 20000 pairs, 11 constraints" in done.stdout
    return root / "baseline"


def test_baseline_writes_model_quality_files_that_equal_scikit_learn(
    quality_baseline: Path,
) -> None:
    statistics = json.loads((quality_baseline / "statistics.json").read_text())
    assert "label" not in [f["name"] for f in statistics["features"]]
    quality = load_model_quality(quality_baseline / "model_quality")
    import numpy as np

    from driftstream.streamer.sources.synthetic import generate

    numeric, _ = generate(TRAINING_ROWS, 1)
    truth = labelled.truth(TRAINING_ROWS, 1)
    # the CSV holds the score to 6 significant digits, as the metrics read it
    score = np.array([float(f"{v:.6g}") for v in numeric["prediction"]])
    called = score > 0.5
    assert quality.metrics["accuracy"].value == pytest.approx(sk.accuracy_score(truth, called))
    assert quality.metrics["f1"].value == pytest.approx(sk.f1_score(truth, called))
    assert quality.metrics["auc"].value == pytest.approx(sk.roc_auc_score(truth, score))
    assert quality.constraints["accuracy"].threshold == quality.metrics["accuracy"].value
    assert quality.probability_threshold == 0.5
    assert quality.ground_truth_attribute == "label"


def test_ground_truth_column_and_problem_type_go_together(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("prediction,x,label\n0.1,1,0\n")
    done = cli("baseline", "t.csv", "--ground-truth-column", "label", cwd=tmp_path)
    assert done.returncode == 2
    assert "--ground-truth-column and --problem-type go together" in done.stderr
    done = cli(
        "baseline",
        "t.csv",
        "--ground-truth-column",
        "nope",
        "--problem-type",
        "Regression",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "ground-truth column 'nope' not found" in done.stderr


def test_replay_with_ground_truth_detects_the_quality_loss_after_its_labels_arrive(
    quality_baseline: Path, tmp_path: Path
) -> None:
    from tests.detectors.quality.test_watcher import (
        CHANGE,
        N,
        first_post_change_release,
        write_stream,
    )

    stream = write_stream(tmp_path / "data")
    done = cli(
        "replay",
        str(stream.captures),
        "--baseline",
        str(quality_baseline),
        "--ground-truth",
        str(stream.ground_truth),
        "--events-out",
        "events.jsonl",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    quality = [e for e in events if e.get("detector", "").startswith("model_quality")]
    released = first_post_change_release()
    online = [e for e in quality if e["detector"] == "model_quality_page_hinkley"]
    checks = [e for e in quality if e["detector"] == "model_quality_check"]
    print(
        f"\nCLI: change at {CHANGE}, first post-change labels at {released}, online detection "
        f"at {[e['record_index'] for e in online]} (delay {online[0]['record_index'] - CHANGE} "
        f"records), accuracy violation at "
        f"{[e['record_index'] for e in checks if e['metric'] == 'accuracy']}"
    )
    assert min(e["record_index"] for e in quality) >= released  # nothing before the change
    assert online[0]["kind"] == "drift"
    assert online[0]["metric"] == "accuracy"
    assert online[0]["record_index"] == released
    accuracy = next(e for e in checks if e["metric"] == "accuracy")
    assert accuracy["kind"] == "violation"
    assert accuracy["value"] < accuracy["threshold"]
    summary = events[-1]
    assert summary["kind"] == "summary"
    counts = summary["model_quality"]
    assert counts["labels_rejected"] == 0
    assert counts["labels_matched"] == counts["labels_received"] == counts["pairs"]
    assert counts["predictions_pending_at_end"] + counts["labels_matched"] == N


def test_ground_truth_needs_a_model_quality_baseline(tmp_path: Path) -> None:
    from driftstream.streamer.sources.synthetic import training_csv

    (tmp_path / "t.csv").write_text(training_csv(3000, seed=1))
    done = cli("baseline", "t.csv", "--out", "b", "--label-column", "prediction", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "c.jsonl").write_bytes(b"{}\n")
    (tmp_path / "gt.jsonl").write_bytes(labelled.ground_truth_line("x", 1) + b"\n")
    done = cli("replay", "c.jsonl", "--baseline", "b", "--ground-truth", "gt.jsonl", cwd=tmp_path)
    assert done.returncode == 2
    assert "needs a baseline with model_quality/" in done.stderr
