"""Each check of a window against constraints.json: its value, its threshold from
monitoring_config or a feature's override, and Deequ's distances worked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from driftstream.detectors.baseline import Baseline, load_baseline
from driftstream.detectors.constraints import ColumnCounts
from driftstream.detectors.constraints.checks import java_double
from driftstream.detectors.constraints.distance import (
    categorical_linf,
    chi_squared_p_value,
    sketch_linf,
)
from tests.detectors.constraints.reports import check, window_of

COLORS = {"red": 500, "green": 300, "blue": 200}


def tiny_baseline(
    tmp: Path,
    config: dict[str, Any] | None = None,
    color_overrides: dict[str, Any] | None = None,
    **feature: Any,
) -> Baseline:
    """`prediction` (Fractional), `n` (Integral, 0..9 ten times each), `color` (String,
    COLORS); `config` replaces monitoring_config keys, `feature` adds keys to n's and color's
    constraints entries, `color_overrides` is color's string_constraints.
    monitoring_config_overrides (the SDK's spelling)."""
    values = [float(v) for v in range(10)] * 10
    numeric = {
        "common": {"num_present": 100, "num_missing": 0},
        "mean": 4.5,
        "sum": 450.0,
        "std_dev": 2.87,
        "min": 0.0,
        "max": 9.0,
        "distribution": {
            "kll": {"sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [values]}}
        },
    }
    statistics = {
        "version": 0.0,
        "dataset": {"item_count": 1000},
        "features": [
            {"name": "prediction", "inferred_type": "Fractional", "numerical_statistics": numeric},
            {"name": "n", "inferred_type": "Integral", "numerical_statistics": numeric},
            {
                "name": "color",
                "inferred_type": "String",
                "string_statistics": {
                    "common": {"num_present": 1000, "num_missing": 0},
                    "distinct_count": 3.0,
                    "distribution": {
                        "categorical": {
                            "buckets": [{"value": k, "count": v} for k, v in COLORS.items()]
                        }
                    },
                },
            },
        ],
    }
    monitoring = {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    }
    for key, value in (config or {}).items():
        if key in monitoring["distribution_constraints"]:
            monitoring["distribution_constraints"][key] = value
        else:
            monitoring[key] = value
    constraints = {
        "version": 0.0,
        "features": [
            {"name": "prediction", "inferred_type": "Fractional", "completeness": 1.0},
            {"name": "n", "inferred_type": "Integral", "completeness": 1.0, **feature},
            {
                "name": "color",
                "inferred_type": "String",
                "completeness": 1.0,
                "string_constraints": {
                    "domains": sorted(COLORS),
                    **({"monitoring_config_overrides": color_overrides} if color_overrides else {}),
                },
                **feature,
            },
        ],
        "monitoring_config": monitoring,
    }
    folder = tmp / f"baseline-{len(list(tmp.iterdir()))}"
    folder.mkdir()
    (folder / "statistics.json").write_text(json.dumps(statistics))
    (folder / "constraints.json").write_text(json.dumps(constraints))
    return load_baseline(folder)


def rows(
    n_values: list[float], colors: list[str | None]
) -> tuple[np.ndarray, list[list[str | None]]]:
    """Rows of (prediction, n) and (color,): prediction a constant 0.5."""
    numeric = np.column_stack([np.full(len(n_values), 0.5), np.asarray(n_values, dtype=float)])
    return numeric, [[c] for c in colors]


def clean(size: int = 1000) -> tuple[list[float], list[str | None]]:
    """Values distributed as the baseline's: n 0..9 evenly, colors 50/30/20."""
    n = [float(i % 10) for i in range(size)]
    colors: list[str | None] = []
    for name, count in COLORS.items():
        colors += [name] * (count * size // 1000)
    return n, colors


def found(baseline: Baseline, n: list[float], colors: list[str | None]) -> list[tuple[str, str]]:
    numeric, cats = rows(n, colors)
    return [
        (v.feature_name, v.constraint_check_type)
        for v in check(baseline, window_of(baseline, numeric, cats))
    ]


def test_a_window_like_the_baseline_is_clean(tmp_path: Path) -> None:
    baseline = tiny_baseline(tmp_path)
    assert found(baseline, *clean()) == [("prediction", "baseline_drift_check")]
    # (prediction is a constant 0.5 here, far from the baseline's 0..9: that one is right)


def test_hand_computed_distances() -> None:
    # numeric, two sketches: items 1,2,3 weighing 1,1,2 (CDF .25 .5 1) and 2,4 (CDF 0 .5 .5 1)
    d = sketch_linf(
        np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]), np.array([2.0, 4.0]), np.ones(2)
    )
    assert d == 0.5  # at x = 3: 1 − .5
    # categorical: a .5/.3/.2 against a .2/.3/0 + a new d .5: the largest gap, d's .5
    assert categorical_linf({"a": 20, "b": 30, "d": 50}, {"a": 50, "b": 30, "c": 20}) == 0.5
    assert categorical_linf({}, {"a": 1}) == 0.0


def test_categorical_linf_robust_and_simple(tmp_path: Path) -> None:
    """colors .5/.3/.2 in the baseline (1000); in the window (1000) .2/.3/.5: L∞ = .3; robust
    .3 − 1.8·sqrt(2000/10⁶)."""
    n, _ = clean()
    colors: list[str | None] = ["red"] * 200 + ["green"] * 300 + ["blue"] * 500
    numeric, cats = rows(n, colors)
    for method, expected in (("Robust", 0.3 - 1.8 * math.sqrt(0.002)), ("Simple", 0.3)):
        baseline = tiny_baseline(tmp_path, {"comparison_method": method})
        violations = [
            v
            for v in check(baseline, window_of(baseline, numeric, cats))
            if v.feature_name == "color"
        ]
        assert [(v.constraint_check_type, v.threshold) for v in violations] == [
            ("baseline_drift_check", 0.1)
        ]
        assert violations[0].value == pytest.approx(expected, rel=1e-12)


def test_chi_squared_p_value_is_pearsons_test() -> None:
    window = {"red": 420.0, "green": 330.0, "blue": 250.0, "never seen": 7.0}
    expected = np.array([500, 300, 200]) / 1000 * 1000  # scaled to the window's 1000 known
    reference = stats.chisquare([420, 330, 250], expected).pvalue
    assert chi_squared_p_value(window, COLORS) == pytest.approx(reference, rel=1e-10)


def test_chi_squared_regroups_small_expected_counts() -> None:
    """A window of 20: expected red 10, green 6, blue 4. Three categories: Yates allows
    int(.2·3) = 0 below 5, blue is: merged into the next smallest, green (10, observed 16).
    Two left, none below Cochran's 10: the test runs on red 4 vs 10, green+blue 16 vs 10."""
    window = {"red": 4.0, "green": 10.0, "blue": 6.0}
    p = chi_squared_p_value(window, COLORS)
    # χ² = 36/10 + 36/10 = 7.2, one degree of freedom
    assert p == pytest.approx(stats.chi2.sf(7.2, 1), rel=1e-12)
    # two categories left with one below Cochran's 10 (window of 10): one category, no test
    assert math.isnan(chi_squared_p_value({"red": 5.0, "green": 5.0}, COLORS))


def test_chi_squared_method_compares_the_p_value(tmp_path: Path) -> None:
    baseline = tiny_baseline(tmp_path, {"categorical_drift_method": "ChiSquared"})
    n, colors = clean()
    assert ("color", "baseline_drift_check") not in found(baseline, n, colors)
    shifted: list[str | None] = ["red"] * 450 + ["green"] * 300 + ["blue"] * 250
    numeric, cats = rows(n, shifted)
    (violation,) = [
        v for v in check(baseline, window_of(baseline, numeric, cats)) if v.feature_name == "color"
    ]
    p = stats.chisquare([450, 300, 250], [500, 300, 200]).pvalue
    assert violation.value == pytest.approx(p, rel=1e-10)
    assert violation.value < violation.threshold == 0.1
    assert violation.description == (
        f"Baseline drift chi-squared p-value: {java_double(violation.value)} is below "
        "threshold: 0.1"
    )


def test_completeness_data_type_and_domain(tmp_path: Path) -> None:
    baseline = tiny_baseline(tmp_path)
    n, colors = clean()
    n[0] = math.nan  # one missing n: completeness .999 < 1.0
    n[1] = 2.5  # one fraction among 999 present values of an Integral feature
    colors[2] = "purple"  # one value outside the domain
    numeric, cats = rows(n, colors)
    violations = {
        (v.feature_name, v.constraint_check_type): v
        for v in check(baseline, window_of(baseline, numeric, cats))
    }
    assert set(violations) == {
        ("prediction", "baseline_drift_check"),
        ("n", "data_type_check"),
        ("n", "completeness_check"),
        ("color", "categorical_values_check"),
    }
    completeness = violations[("n", "completeness_check")]
    assert (completeness.value, completeness.threshold) == (0.999, 1.0)
    assert completeness.description == "Value: 0.999 does not meet the constraint requirement! "
    data_type = violations[("n", "data_type_check")]
    assert data_type.value == 998 / 999
    assert data_type.description == (
        "Data type match requirement is not met. Expected data type: Integral, Expected match: "
        f"100.0%. Observed: Only {java_double(998 / 999 * 100)}% of data is Integral."
    )
    domain = violations[("color", "categorical_values_check")]
    assert (domain.value, domain.threshold) == (0.999, 1.0)


def test_thresholds_come_from_monitoring_config(tmp_path: Path) -> None:
    n, colors = clean()
    for i in range(50):
        n[i] = 2.5  # 95 % whole
        colors[i] = "purple"  # 95 % in the domain
    relaxed = tiny_baseline(
        tmp_path, {"datatype_check_threshold": 0.9, "domain_content_threshold": 0.9}
    )
    assert found(relaxed, n, colors) == [("prediction", "baseline_drift_check")]
    strict = tiny_baseline(
        tmp_path, {"datatype_check_threshold": 0.99, "domain_content_threshold": 0.99}
    )
    assert found(strict, n, colors) == [
        ("prediction", "baseline_drift_check"),
        ("n", "data_type_check"),
        ("color", "categorical_values_check"),
    ]
    no_comparison = tiny_baseline(tmp_path, {"perform_comparison": "Disabled"})
    assert ("prediction", "baseline_drift_check") not in found(no_comparison, n, colors)
    off = tiny_baseline(tmp_path, {"evaluate_constraints": "Disabled"})
    assert found(off, n, colors) == []


def test_feature_overrides_in_either_spelling(tmp_path: Path) -> None:
    n, colors = clean()
    for i in range(50):
        n[i] = 2.5
        colors[i] = "purple"
    # the docs' camelCase object, on n and color: n's data type passes at 95 %
    camel = tiny_baseline(tmp_path, monitoringConfigOverrides={"datatype_check_threshold": 0.9})
    assert camel.monitoring_of(camel.feature("n")).datatype_check_threshold == 0.9
    assert camel.monitoring_of(camel.feature("prediction")).datatype_check_threshold == 1.0
    assert found(camel, n, colors) == [
        ("prediction", "baseline_drift_check"),
        ("color", "categorical_values_check"),
    ]
    # the SDK's snake_case one inside color's string_constraints: color's domain passes
    snake = tiny_baseline(tmp_path, color_overrides={"domain_content_threshold": 0.9})
    assert found(snake, n, colors) == [
        ("prediction", "baseline_drift_check"),
        ("n", "data_type_check"),
    ]
    # a threshold of the distribution comparison, in monitoring_config's shape
    shifted: list[str | None] = ["red"] * 200 + ["green"] * 300 + ["blue"] * 500
    loose = tiny_baseline(
        tmp_path,
        color_overrides={"distribution_constraints": {"categorical_comparison_threshold": 0.5}},
    )
    assert ("color", "baseline_drift_check") in found(tiny_baseline(tmp_path), n, shifted)
    assert ("color", "baseline_drift_check") not in found(loose, n, shifted)

    off = tiny_baseline(tmp_path, monitoringConfigOverrides={"evaluate_constraints": "Disabled"})
    assert found(off, n, colors) == [("prediction", "baseline_drift_check")]


def test_column_checks_name_the_columns(tmp_path: Path) -> None:
    baseline = tiny_baseline(tmp_path)  # inputs: n, color; output: prediction
    window = window_of(baseline, *rows(*clean()))
    counts = ColumnCounts(records=1000)
    counts.add_rejected(1, 2)
    counts.add_rejected(0, 2)
    counts.add_rejected(4, 2)
    violations = {
        v.constraint_check_type: v
        for v in check(baseline, window, counts)
        if v.constraint_check_type.endswith("column_check")
    }
    missing, extra = violations["missing_column_check"], violations["extra_column_check"]
    assert (missing.feature_name, missing.value, missing.threshold) == ("n", 0.002, 0.0)
    assert (extra.feature_name, extra.value) == ("_c3", 0.001)
    assert "2 of 1000 records" in missing.description
    off = tiny_baseline(tmp_path, {"evaluate_constraints": "Disabled"})
    assert check(off, window_of(off, *rows(*clean())), counts) == []


def test_java_double_formats_as_model_monitor_writes() -> None:
    assert [java_double(x) for x in (0.0, 1.0, 100.0, 0.009009009009009009)] == [
        "0.0",
        "1.0",
        "100.0",
        "0.009009009009009009",
    ]
    assert [java_double(x) for x in (1e-5, 1.5e7, -2.5e-9, math.inf)] == [
        "1.0E-5",
        "1.5E7",
        "-2.5E-9",
        "Infinity",
    ]
