"""Clarify's metrics against a direct computation, the exact intervals, and the drift test's
false-alarm rate on small windows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from driftstream.detectors.baseline import build_baseline
from driftstream.detectors.bias import BiasConfigError, build_bias_baseline
from driftstream.detectors.bias.groups import group_for_entry, predicted_positive
from driftstream.detectors.bias.metrics import (
    BaselineMetric,
    GroupCounts,
    Metric,
    divide,
    judge,
    metric_value,
    proportion_interval,
)


def _write_csv(path: Path, n: int, seed: int) -> None:
    """prediction (a score), c0 (a/b/c), n_children (Integral, few values), x (Fractional), and
    a group column g; positive rates depend on c0 and g."""
    rng = np.random.default_rng(seed)
    c0 = rng.choice(["a", "b", "c"], size=n, p=[0.3, 0.5, 0.2])
    g = rng.choice(["north", "south"], size=n)
    kids = rng.poisson(1.2, n)
    x = rng.normal(0, 1, n)
    rate = 0.3 + 0.2 * (c0 == "b") + 0.25 * (g == "south") + 0.05 * kids.clip(0, 2)
    score = np.where(rng.random(n) < rate, rng.uniform(0.51, 1, n), rng.uniform(0, 0.49, n))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prediction", "c0", "n_children", "x", "g"])
        for row in zip(score, c0, kids, x, g, strict=True):
            w.writerow([f"{row[0]:.4f}", row[1], int(row[2]), f"{row[3]:.4f}", row[4]])


def _direct(positive: np.ndarray, in_d: np.ndarray) -> tuple[float, float]:
    q_a, q_d = positive[~in_d].mean(), positive[in_d].mean()
    return float(q_a - q_d), float(q_d / q_a)


def _direct_cddpl(positive: np.ndarray, in_d: np.ndarray, group: np.ndarray) -> float:
    total = 0.0
    for value in np.unique(group):
        sub = group == value
        accepted = (in_d & positive & sub).sum() / (positive & sub).sum()
        rejected = (in_d & ~positive & sub).sum() / (~positive & sub).sum()
        total += sub.sum() * (rejected - accepted)
    return float(total / len(group))


def test_dppl_di_and_cddpl_equal_a_direct_computation(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    _write_csv(data, 6_000, seed=11)
    baseline = build_baseline(data, tmp_path / "base", label_column="prediction")
    config = tmp_path / "bias.json"
    config.write_text(
        json.dumps(
            {
                "label_values_or_threshold": [1],
                "probability_threshold": 0.5,
                "group_variable": "g",
                "facet": [
                    {"name_or_index": "c0"},  # every value against the rest
                    {"name_or_index": "c0", "value_or_threshold": ["a", "c"]},
                    {"name_or_index": "x", "value_or_threshold": [0.25]},  # a threshold
                    {"name_or_index": "n_children", "value_or_threshold": [2]},  # a category
                ],
                "methods": {"post_training_bias": {"methods": "all"}},
            }
        )
    )
    warnings: list[str] = []
    built = build_bias_baseline(
        data, tmp_path / "base", config, baseline, on_warning=warnings.append
    )
    assert any("AD, DAR, DCA, DCR, DRR, FT, GE, RD, SD, TE are not computed" in w for w in warnings)

    with data.open() as f:
        rows = list(csv.DictReader(f))
    positive = np.asarray([float(r["prediction"]) > 0.5 for r in rows])
    c0 = np.asarray([r["c0"] for r in rows])
    x = np.asarray([float(r["x"]) for r in rows])
    kids = np.asarray([int(r["n_children"]) for r in rows])
    group = np.asarray([r["g"] for r in rows])
    expected_groups = {
        ("c0", "a"): c0 == "a",
        ("c0", "b"): c0 == "b",
        ("c0", "c"): c0 == "c",
        ("c0", "a,c"): np.isin(c0, ["a", "c"]),
        ("x", f"(0.25, {float(x.max())!r}]"): x > 0.25,
        ("n_children", "2"): kids == 2,
    }
    got = {(f.facet, f.value_or_threshold): f for f in built.analysis.facets}
    assert sorted(got) == sorted(expected_groups)
    for key, in_d in expected_groups.items():
        dppl, di = _direct(positive, in_d)
        result = got[key]
        assert [m.name for m in result.metrics] == ["CDDPL", "DI", "DPPL"]
        assert result.metric("DPPL").value == pytest.approx(dppl, abs=1e-12)
        assert result.metric("DI").value == pytest.approx(di, rel=1e-12)
        cddpl = _direct_cddpl(positive, in_d, group)
        assert result.metric("CDDPL").value == pytest.approx(cddpl, abs=1e-12)


def test_clarify_division_and_empty_groups() -> None:
    assert divide(0, 0) == 0.0
    assert divide(1, 0) == math.inf
    assert metric_value("DI", GroupCounts(10, 0, 10, 3)) == math.inf
    assert metric_value("DI", GroupCounts(10, 0, 10, 0)) == 0.0
    assert metric_value("DPPL", GroupCounts(10, 4, 5, 1)) == pytest.approx(0.4 - 0.2)
    assert math.isnan(metric_value("DPPL", GroupCounts(0, 0, 5, 1)))
    assert judge("DPPL", GroupCounts(0, 0, 5, 1), BaselineMetric(0.1), 0.01) is None


@pytest.mark.parametrize(("k", "n"), [(0, 7), (3, 7), (7, 7), (412, 1000), (1, 20_000)])
def test_proportion_intervals_are_clopper_pearson(k: int, n: int) -> None:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.99, method="exact")
    assert proportion_interval(k, n, 0.01) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_a_baseline_config_that_does_not_fit_the_data_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    _write_csv(data, 500, seed=2)
    baseline = build_baseline(data, tmp_path / "base", label_column="prediction")

    def build(**config: object) -> None:
        raw = {
            "label_values_or_threshold": [1],
            "probability_threshold": 0.5,
            "facet": [{"name_or_index": "c0", "value_or_threshold": ["a"]}],
            "methods": {"post_training_bias": {"methods": ["DPPL"]}},
        }
        raw.update(config)
        (tmp_path / "bias.json").write_text(json.dumps(raw))
        build_bias_baseline(data, tmp_path / "base", tmp_path / "bias.json", baseline)

    cases = [
        (
            {"facet": [{"name_or_index": "zip"}]},
            r"facet\[0\]\.name_or_index: 'zip' is not a column",
        ),
        ({"facet": [{"name_or_index": 9}]}, "index 9 is beyond DATA's 5 columns"),
        ({"facet": [{"name_or_index": "prediction"}]}, "is the model output, not a facet"),
        (
            {"facet": [{"name_or_index": "c0", "value_or_threshold": ["zz"]}]},
            "facet c0=zz: no row of .* is in it",
        ),
        (
            {"facet": [{"name_or_index": "x", "value_or_threshold": ["high"]}]},
            "column 'x' is numeric; 'high' is not a number",
        ),
        ({"facet": [{"name_or_index": "x"}]}, "column 'x' has more than 120 values"),
        ({"probability_threshold": 1.5}, "none of the 500 predictions .* is a positive"),
        ({"label_values_or_threshold": ["yes"]}, "holds neither"),
        ({"methods": {"post_training_bias": {"methods": ["AD"]}}}, "none can be computed"),
    ]
    for config, message in cases:
        with pytest.raises(BiasConfigError, match=message) as caught:
            build(**config)
        assert "\n" not in str(caught.value)


def _false_alarms(
    metric: Metric, rows_a: int, rows_d: int, q_a: float, q_d: float, *, counts: bool
) -> float:
    """Share of windows of a stationary stream (true rates q_a, q_d, as in the baseline: the
    true metric is exactly as far from parity as the baseline's, the worst case for the test)
    that the test at alpha = 0.05 calls a violation; the baseline with or without its counts."""
    rng = np.random.default_rng(5)
    base = GroupCounts(14_000, int(14_000 * q_a), 6_000, int(6_000 * q_d))
    baseline = BaselineMetric(metric_value(metric, base), base if counts else None)
    hits = 0
    trials = 4_000
    for _ in range(trials):
        window = GroupCounts(
            rows_a, int(rng.binomial(rows_a, q_a)), rows_d, int(rng.binomial(rows_d, q_d))
        )
        verdict = judge(metric, window, baseline, 0.05)
        hits += verdict is not None and verdict.breached
    return hits / trials


@pytest.mark.parametrize("metric", ["DPPL", "DI"])
@pytest.mark.parametrize(
    ("rows_a", "rows_d", "q_a", "q_d", "counts"),
    [
        (20, 6, 0.5, 0.5, True),
        (60, 25, 0.1, 0.1, True),
        (500, 200, 0.5, 0.3, True),
        (60, 25, 0.5, 0.3, False),
        (5_000, 2_000, 0.5, 0.3, False),
    ],
)
def test_small_windows_do_not_cry_wolf(
    metric: Metric, rows_a: int, rows_d: int, q_a: float, q_d: float, counts: bool
) -> None:
    # at most alpha = 0.05 per window is promised; exact intervals keep it far below (measured
    # at most 0.0015 in these cases: docs/bias-drift.md)
    assert _false_alarms(metric, rows_a, rows_d, q_a, q_d, counts=counts) <= 0.01


def test_a_window_farther_from_parity_than_the_baseline_allows_is_a_violation() -> None:
    base = GroupCounts(14_000, 7_000, 6_000, 3_000)  # DPPL 0, DI 1
    dppl = BaselineMetric(metric_value("DPPL", base), base)
    di = BaselineMetric(metric_value("DI", base), base)
    worse = GroupCounts(7_000, 3_850, 3_000, 900)  # q_a 0.55, q_d 0.30
    for metric, baseline in (("DPPL", dppl), ("DI", di)):
        verdict = judge(metric, worse, baseline, 1e-4)
        assert verdict is not None and verdict.breached
        assert verdict.statistic > verdict.threshold
    verdict = judge("DPPL", worse, dppl, 1e-4)
    assert verdict is not None
    assert verdict.value == pytest.approx(0.25)
    assert 0 < verdict.boundary < 0.25  # the allowed edge on the value's side
    lo, hi = verdict.interval
    assert lo < 0.25 < hi
    # the same counts as the baseline's, or closer to parity, are never a violation
    for counts in (base, GroupCounts(7_000, 3_500, 3_000, 1_500)):
        verdict = judge("DPPL", counts, dppl, 0.05)
        assert verdict is not None and not verdict.breached
    # a baseline farther from parity than the window allows the window's bias
    biased = BaselineMetric(0.3)  # Clarify's own analysis.json: no counts, taken as exact
    verdict = judge("DPPL", worse, biased, 1e-4)
    assert verdict is not None and not verdict.breached and verdict.threshold == 0.3
    di_verdict = judge("DI", GroupCounts(7_000, 2_100, 3_000, 1_650), BaselineMetric(1.0), 1e-4)
    assert di_verdict is not None and di_verdict.breached and di_verdict.boundary == 1.0


def test_missing_facets_and_predictions_are_in_neither_group() -> None:
    cells = np.asarray(["a", None, "", "b", "a"], dtype=object)
    group = group_for_entry("c0", "a", numeric=False, configured=None)
    in_d, present = group.strings(cells)
    assert in_d.tolist() == [True, False, False, False, True]
    assert present.tolist() == [True, False, False, True, True]
    numbers = group_for_entry("age", "(40, 90]", numeric=True, configured=None)
    in_d, present = numbers.numeric(np.asarray([41.0, np.nan, 40.0, 95.0]))
    assert (in_d.tolist(), present.tolist()) == (
        [True, False, False, True],
        [True, False, True, True],
    )
    assert numbers.label == "age>40"
    # a String output is the label itself; a score with probability_threshold is 1 above it
    positive, present = predicted_positive(["yes"], None, "String").strings(
        np.asarray(["yes", "no", None], dtype=object)
    )
    assert (positive.tolist(), present.tolist()) == ([True, False, False], [True, True, False])
    score = predicted_positive([1], 0.7, "Fractional")
    positive, _ = score.numeric(np.asarray([0.7, 0.71, np.nan]))
    assert positive.tolist() == [False, True, False]


def test_a_header_less_csv_names_its_facet_through_headers(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    _write_csv(data, 800, seed=4)
    lines = data.read_text().splitlines()
    headers = lines[0].split(",")
    (tmp_path / "plain.csv").write_text("\n".join(lines[1:]) + "\n")
    baseline = build_baseline(
        tmp_path / "plain.csv", tmp_path / "base", header=False, label_column="_c0"
    )
    config = tmp_path / "bias.json"
    config.write_text(
        json.dumps(
            {
                "headers": headers,
                "label_values_or_threshold": [1],
                "probability_threshold": 0.5,
                "facet": [{"name_or_index": "c0", "value_or_threshold": ["b"]}],
                "methods": {"post_training_bias": {"methods": ["DPPL"]}},
            }
        )
    )
    built = build_bias_baseline(
        tmp_path / "plain.csv",
        tmp_path / "base",
        config,
        baseline,
        header=False,
        label_column="_c0",
    )
    [group] = built.analysis.facets
    assert (group.facet, group.value_or_threshold) == ("_c1", "b")
