"""Constraint reports against real Model Monitor files (tests/data/model_monitor, copies of AWS's
samples): their baselines are read, reports of the same shape and wording come out, and a
window's statistics read back as a baseline."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from driftstream.detectors.baseline import Baseline, BaselineError, load_baseline
from driftstream.detectors.baseline.files import model_monitor_json, statistics_document
from driftstream.detectors.baseline.profile import profile_rows
from driftstream.detectors.constraints.checks import CHECKS, java_double
from tests.detectors.constraints.reports import (
    DATA,
    check,
    pipeline_baseline,
    sample_baseline,
    window_of,
)

GENERIC = re.compile(r"^Value: (\S+) does not meet the constraint requirement! $")


def _baseline_values(baseline: Baseline) -> np.ndarray:
    """The sample's 100 rows, column by column: its sketches hold every value at weight 1."""
    columns = []
    for feature in baseline.features:
        assert feature.numeric is not None
        assert set(feature.numeric.sketch_weights.tolist()) == {1.0}
        columns.append(feature.numeric.sketch_items)
    return np.column_stack(columns)


def test_the_sdk_violations_file_has_our_shape_and_wording() -> None:
    sample = json.loads((DATA / "sdk_tests_constraint_violations.json").read_text())
    assert list(sample) == ["violations"]
    for entry in sample["violations"]:
        assert list(entry) == ["feature_name", "constraint_check_type", "description"]
        assert entry["constraint_check_type"] in CHECKS
        # our description of the same value is the same text, to the trailing space
        value = GENERIC.match(entry["description"])
        assert value is not None, entry
        number = java_double(float(value.group(1)))
        assert entry["description"] == f"Value: {number} does not meet the constraint requirement! "


def test_the_sdk_test_baseline_reports_unknown_values(tmp_path: Path) -> None:
    baseline = sample_baseline(tmp_path, "sdk_tests_statistics.json", "sdk_tests_constraints.json")
    (message,) = baseline.features  # second_message has constraints but no statistics
    assert message.domain == ("preproc-not-YET-supported-for-csv-json",)
    assert baseline.monitoring.comparison_threshold == 1.0  # the 2019 fixture's keys

    clean = window_of(baseline, categorical=[[message.domain[0]]] * 1000)
    assert check(baseline, clean) == []

    rows = [[message.domain[0]]] * 991 + [["something else"]] * 9
    violations = check(baseline, window_of(baseline, categorical=rows))
    report = {"violations": [v.to_json() for v in violations]}
    sample = json.loads((DATA / "sdk_tests_constraint_violations.json").read_text())
    assert [list(v) for v in report["violations"]] == [list(sample["violations"][0])]
    assert report == {
        "violations": [
            {
                "feature_name": "message",
                "constraint_check_type": "categorical_values_check",
                "description": "Value: 0.991 does not meet the constraint requirement! ",
            }
        ]
    }
    assert (violations[0].value, violations[0].threshold) == (0.991, 1.0)


def test_a_feature_override_turns_its_checks_off(tmp_path: Path) -> None:
    constraints = json.loads((DATA / "sdk_tests_constraints.json").read_text())
    overrides = constraints["features"][0]["string_constraints"]["monitoring_config_overrides"]
    overrides["evaluate_constraints"] = "Disabled"
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "statistics.json").write_bytes((DATA / "sdk_tests_statistics.json").read_bytes())
    (folder / "constraints.json").write_text(json.dumps(constraints))
    baseline = load_baseline(folder)
    rows = [["preproc-not-YET-supported-for-csv-json"]] * 991 + [["something else"]] * 9
    assert check(baseline, window_of(baseline, categorical=rows)) == []


def test_the_pipeline_baseline_passes_its_own_rows(tmp_path: Path) -> None:
    baseline = pipeline_baseline(tmp_path)
    assert baseline.monitoring.comparison_method == "Robust"
    assert check(baseline, window_of(baseline, _baseline_values(baseline))) == []


def test_linf_robust_and_simple_against_hand_computed_values(tmp_path: Path) -> None:
    """_c0 of the sample: 24 ones, 21 twos, 55 threes (CDF .24, .45, 1). A window of 100 threes
    (CDF 0, 0, 1): L∞ = |.45 − 0| = .45 at x = 2; robust = .45 − 1.8·sqrt(200/(100·100))."""
    baseline = pipeline_baseline(tmp_path)
    values = _baseline_values(baseline)
    assert np.bincount(values[:, 0].astype(int)).tolist() == [0, 24, 21, 55]
    values[:, 0] = 3.0
    (violation,) = check(baseline, window_of(baseline, values))
    robust = 0.45 - 1.8 * math.sqrt(0.02)  # 0.19544155877284...
    assert violation.feature_name == "_c0"
    assert violation.constraint_check_type == "baseline_drift_check"
    assert violation.value == pytest.approx(robust, rel=1e-12)
    assert violation.threshold == 0.1
    assert violation.description == (
        f"Baseline drift distance: {java_double(violation.value)} exceeds threshold: 0.1"
    )
    # AWS's own parsers find the number in it
    parsed = re.search(r"distance: (.+) exceeds threshold: (.+)", violation.description)
    assert parsed is not None and float(parsed.group(1)) == violation.value

    constraints = json.loads(
        (
            DATA / "sdk_pipeline_quality_check_step_data_quality_good_cases_constraints.json"
        ).read_text()
    )
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    folder = tmp_path / "simple"
    folder.mkdir()
    (folder / "statistics.json").write_bytes(
        (DATA / "sdk_pipeline_quality_check_step_data_quality_statistics.json").read_bytes()
    )
    (folder / "constraints.json").write_text(json.dumps(constraints))
    simple = load_baseline(folder)
    (violation,) = check(simple, window_of(simple, values))
    assert violation.value == pytest.approx(0.45, rel=1e-12)


def test_the_hand_modified_bad_case_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=r"features\[5\] \('_c5'\).*'String' contradicts"):
        sample_baseline(
            tmp_path,
            "sdk_pipeline_quality_check_step_data_quality_statistics.json",
            "sdk_pipeline_quality_check_step_data_quality_bad_cases_constraints.json",
        )


def test_data_type_descriptions_are_the_real_reports(synthetic_baseline: Baseline) -> None:
    """The real report's two descriptions, from the same shares: 1970 of 1977 whole numbers
    (99.64592817400101 %) and none."""
    table = (DATA / "examples_mm_intro_violations_table.txt").read_text()
    real = re.findall(r"Data type match requirement is not met\..*?of data is Integral\.", table)
    assert len(real) == 10
    feature = synthetic_baseline.feature("n_purchases")
    assert feature.inferred_type == "Integral"
    names = [f.name for f in synthetic_baseline.features if f.is_numeric]
    column = names.index("n_purchases")
    n = len(names)

    def violations_for(values: np.ndarray) -> list[str]:
        rows = np.ones((values.shape[0], n))
        rows[:, column] = values
        cats = [["US", "ios", "free"]] * values.shape[0]
        window = window_of(synthetic_baseline, rows, cats)
        return [
            v.description
            for v in check(synthetic_baseline, window)
            if v.constraint_check_type == "data_type_check"
        ]

    mostly_whole = np.concatenate([np.full(1970, 3.0), np.full(7, 2.5)])
    assert violations_for(mostly_whole) == [real[0]]
    assert violations_for(np.full(50, 0.25)) == [real[-1]]


def test_window_statistics_are_the_profilers_and_read_back(
    synthetic_baseline: Baseline, tmp_path: Path
) -> None:
    """A window's statistics.json is what `driftstream baseline` writes for the same rows (the
    same accumulators and sketch), and `load_baseline` reads it."""
    rng = np.random.default_rng(3)
    names = [f.name for f in synthetic_baseline.features if f.is_numeric]
    rows = rng.normal(50.0, 10.0, size=(5000, len(names)))
    rows[rng.random(rows.shape) < 0.01] = np.nan
    categories = [["US", "ios", "free"], ["DE", None, "pro"], ["FR", "web", "basic"]]
    cats = [categories[i % 3] for i in range(5000)]
    window = window_of(synthetic_baseline, rows, cats)
    document = statistics_document(window.profile())

    folder = tmp_path / "window"
    folder.mkdir()
    (folder / "statistics.json").write_text(model_monitor_json(document))
    back = load_baseline(folder)
    assert [f.name for f in back.features] == [f.name for f in synthetic_baseline.features]
    assert back.item_count == 5000

    # the same rows through the baseline profiler, as CSV text
    cat_names = [f.name for f in synthetic_baseline.features if not f.is_numeric]
    lines = [",".join([*names, *cat_names])]
    for num, cat in zip(rows.tolist(), cats, strict=True):
        cells = ["" if math.isnan(v) else repr(v) for v in num] + [c or "" for c in cat]
        lines.append(",".join(cells))
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")
    profiled = statistics_document(profile_rows(tmp_path / "rows.csv"))
    by_name = {f["name"]: f for f in profiled["features"]}
    for feature in document["features"]:
        assert feature == by_name[feature["name"]], feature["name"]
