"""Model Monitor's model-quality files: the real samples parse, ours round-trip and keep the
samples' shape, and a constraint reads its operator as Model Monitor does."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from driftstream.detectors.baseline.errors import BaselineError
from driftstream.detectors.quality.baseline import baseline_from_pairs, build_model_quality
from driftstream.detectors.quality.files import (
    CONSTRAINTS,
    STATISTICS,
    Constraint,
    Operator,
    load_model_quality,
    write_model_quality,
)
from driftstream.detectors.quality.metrics import SCALARS, Pairs, ProblemType, suggested

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "model_monitor"  # copies: README there
PREFIX = "sdk_pipeline_quality_check_step_model_quality_"


def _sample_dir(tmp_path: Path, constraints: str) -> Path:
    folder = tmp_path / "model_quality"
    folder.mkdir(parents=True)
    shutil.copy(SAMPLES / f"{PREFIX}statistics.json", folder / STATISTICS)
    shutil.copy(SAMPLES / f"{PREFIX}{constraints}_constraints.json", folder / CONSTRAINTS)
    return folder


def test_the_real_regression_samples_parse(tmp_path: Path) -> None:
    good = load_model_quality(_sample_dir(tmp_path, "good_cases"))
    assert good.problem is ProblemType.REGRESSION
    assert good.item_count == 100
    assert good.metrics["mae"].value == 0.5040653554420981
    assert math.isnan(good.metrics["mae"].standard_deviation)  # "NaN" in the file
    assert good.metrics["r2"].value == -3.208758170289026
    assert good.constraints["mse"] == Constraint(0.33364933609800973, Operator.GREATER)
    assert good.constraints["r2"] == Constraint(-3.208758170289026, Operator.LESS)
    assert good.probability_threshold == 0.5  # no problem.json: Model Monitor's own files
    # the good case holds at the baseline's own values; the bad case's mse threshold does not
    for name, constraint in good.constraints.items():
        assert not constraint.violated(good.metrics[name].value)
    bad = load_model_quality(_sample_dir(tmp_path / "b", "bad_cases"))
    violated = [n for n, c in bad.constraints.items() if c.violated(bad.metrics[n].value)]
    assert violated == ["mse"]
    assert good.identity != bad.identity


def test_operators_read_as_model_monitor_reads_them() -> None:
    accuracy = Constraint(0.8, Operator.LESS)
    assert accuracy.violated(0.79) and not accuracy.violated(0.8)
    assert accuracy.excess(0.75) == pytest.approx(0.05)
    assert not accuracy.violated(0.75, allowance=0.06)
    assert Constraint(0.8, Operator.LESS_OR_EQUAL).violated(0.8)
    mae = Constraint(1.0, Operator.GREATER)
    assert mae.violated(1.01) and not mae.violated(1.0)
    assert Constraint(1.0, Operator.GREATER_OR_EQUAL).violated(1.0)
    assert not mae.violated(math.nan)


@pytest.mark.parametrize("problem", list(ProblemType))
def test_written_files_have_model_monitors_shape_and_load_back(
    problem: ProblemType, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    n = 500
    if problem is ProblemType.BINARY:
        score = rng.random(n)
        pairs = Pairs(problem, (rng.random(n) < score).astype(float), score)
    elif problem is ProblemType.MULTICLASS:
        truth = np.array(rng.choice(["x", "y", "z"], n), dtype=object)
        pairs = Pairs(problem, truth, np.where(rng.random(n) < 0.8, truth, "x").astype(object))
    else:
        truth = rng.normal(0, 1, n)
        pairs = Pairs(problem, truth, truth + rng.normal(0, 0.3, n))
    written = baseline_from_pairs(pairs)
    write_model_quality(tmp_path, written)
    stats = json.loads((tmp_path / STATISTICS).read_text())
    constraints = json.loads((tmp_path / CONSTRAINTS).read_text())
    body = stats[f"{problem.key}_metrics"]
    assert set(stats) == {"version", "dataset", f"{problem.key}_metrics"}
    assert stats["dataset"] == {"item_count": n}
    for name in SCALARS[problem]:
        assert set(body[name]) == {"value", "standard_deviation"}
        assert isinstance(body[name]["standard_deviation"], float)  # 500 >= 200 pairs
    assert set(constraints[f"{problem.key}_constraints"]) == set(suggested(problem))
    if problem.is_classification:
        assert next(iter(body)) == "confusion_matrix"
    if problem is ProblemType.BINARY:
        assert set(body["receiver_operating_characteristic_curve"]) == {
            "false_positive_rates",
            "true_positive_rates",
        }
        assert set(body["precision_recall_curve"]) == {"precisions", "recalls"}
        assert constraints["binary_classification_constraints"]["false_positive_rate"] == {
            "threshold": body["false_positive_rate"]["value"],
            "comparison_operator": "GreaterThanThreshold",
        }
    loaded = load_model_quality(tmp_path)
    assert loaded.problem is problem
    assert {k: v.value for k, v in loaded.metrics.items()} == pytest.approx(
        {k: v.value for k, v in written.metrics.items()}, nan_ok=True
    )
    assert loaded.constraints == written.constraints
    if problem is ProblemType.REGRESSION:
        assert len(loaded.absolute_errors) == 1001
        assert loaded.absolute_errors[-1] == pytest.approx(float(np.max(pairs.errors())))


def test_model_quality_baseline_from_a_csv_leaves_rows_without_a_pair_out(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("score,x,label\n0.9,1,1\n0.2,2,0\n0.7,3,0\n,4,1\n0.4,5,\n0.1,6,0\n")
    quality, dropped = build_model_quality(
        data,
        tmp_path / "mq",
        prediction_column="score",
        ground_truth_column="label",
        problem=ProblemType.BINARY,
    )
    assert dropped == 2
    assert quality.item_count == 4
    assert quality.metrics["accuracy"].value == 0.75  # 0.7 > 0.5 predicts 1 for a 0
    assert math.isnan(quality.metrics["accuracy"].standard_deviation)  # fewer than 200
    assert quality.inference_attribute == "score"


def test_unusable_files_are_one_line_errors(tmp_path: Path) -> None:
    folder = _sample_dir(tmp_path, "good_cases")
    document = json.loads((folder / CONSTRAINTS).read_text())
    document["regression_constraints"]["mae"]["comparison_operator"] = "Above"
    (folder / CONSTRAINTS).write_text(json.dumps(document))
    with pytest.raises(BaselineError, match=r"mae\.comparison_operator: 'Above' is not one of"):
        load_model_quality(folder)
    (folder / CONSTRAINTS).write_text('{"binary_classification_constraints": {}}')
    with pytest.raises(BaselineError, match=r"but statistics\.json holds regression_metrics"):
        load_model_quality(folder)
    (folder / STATISTICS).write_text('{"version": 0.0}')
    with pytest.raises(BaselineError, match="expected exactly one of"):
        load_model_quality(folder)
