"""statistics.json / constraints.json: writing, round trips, real Model Monitor files, bad files."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftstream.detectors.baseline import (
    Baseline,
    BaselineError,
    BaselineWarning,
    MonitoringConfig,
    build_baseline,
    load_baseline,
    profile_rows,
    write_baseline,
)
from driftstream.detectors.baseline.kll import flatten_levels

DATA = Path(__file__).resolve().parents[2] / "data" / "baselines"
SDK_PIPELINE = DATA / "sdk_pipeline"
SDK_TESTS = DATA / "sdk_tests"

TRAIN_CSV = """id,price,color,label
1,10.5,red,0
2,,blue,1
3,7.25,red,1
4,3.0,,0
5,12.0,green,1
"""


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text(TRAIN_CSV, encoding="utf-8")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def baseline_dir(
    tmp_path: Path, statistics: Any, constraints: Any | None = None, *, raw: bytes | None = None
) -> Path:
    """A baseline folder holding the given documents (or raw statistics bytes)."""
    folder = tmp_path / "baseline"
    folder.mkdir(exist_ok=True)
    data = raw if raw is not None else json.dumps(statistics, indent=1).encode()
    (folder / "statistics.json").write_bytes(data)
    if constraints is not None:
        (folder / "constraints.json").write_text(json.dumps(constraints), encoding="utf-8")
    return folder


# --- writing -------------------------------------------------------------------------------


def test_written_statistics_follow_model_monitors_schema(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_baseline(profile_rows(train_csv, label_column="label"), out)
    stats = read_json(out / "statistics.json")
    assert stats["version"] == 0.0
    assert stats["dataset"] == {"item_count": 5}
    assert [f["name"] for f in stats["features"]] == ["prediction", "id", "price", "color"]
    price = stats["features"][2]
    assert price["inferred_type"] == "Fractional"
    numerical = price["numerical_statistics"]
    assert numerical["common"] == {"num_present": 4, "num_missing": 1}
    assert (numerical["mean"], numerical["sum"], numerical["min"], numerical["max"]) == (
        8.1875,
        32.75,
        3.0,
        12.0,
    )
    assert numerical["completeness"] == 0.8
    assert numerical["approximate_num_distinct_values"] == 4
    kll = numerical["distribution"]["kll"]
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
    assert kll["sketch"]["data"] == [[10.5, 7.25, 3.0, 12.0]]
    assert [b["count"] for b in kll["buckets"]] == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0, 1.0]
    assert set(kll["buckets"][0]) == {"lower_bound", "upper_bound", "count"}
    color = stats["features"][3]["string_statistics"]
    assert color["common"] == {"num_present": 4, "num_missing": 1}
    assert color["distinct_count"] == 3.0
    assert color["distribution"]["categorical"]["buckets"] == [
        {"value": "red", "count": 2},
        {"value": "blue", "count": 1},
        {"value": "green", "count": 1},
    ]


def test_written_constraints_are_the_suggested_ones(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_baseline(profile_rows(train_csv, label_column="label"), out)
    constraints = read_json(out / "constraints.json")
    assert constraints["version"] == 0.0
    assert constraints["features"] == [
        {
            "name": "prediction",
            "inferred_type": "Integral",
            "completeness": 1.0,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "id",
            "inferred_type": "Integral",
            "completeness": 1.0,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "price",
            "inferred_type": "Fractional",
            "completeness": 0.8,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "color",
            "inferred_type": "String",
            "completeness": 0.8,
            "string_constraints": {"domains": ["blue", "green", "red"]},
        },
    ]
    assert constraints["monitoring_config"] == {
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


def test_negative_values_are_not_non_negative(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("v\n-1\n2\n", encoding="utf-8")
    baseline = build_baseline(data, tmp_path / "out")
    assert baseline.feature("v").is_non_negative is False


def test_files_are_pretty_printed_and_deterministic(train_csv: Path, tmp_path: Path) -> None:
    profile = profile_rows(train_csv)
    write_baseline(profile, tmp_path / "a")
    write_baseline(profile_rows(train_csv), tmp_path / "b")
    text = (tmp_path / "a" / "statistics.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "version": 0.0,\n  "dataset": {\n')
    # each sketch level stays on one line instead of one line per item
    assert any(line.strip() == "[10.5, 7.25, 3.0, 12.0]" for line in text.splitlines())
    for name in ("statistics.json", "constraints.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "constraints.json",
        "statistics.json",
    ]


# --- round trip ----------------------------------------------------------------------------


def test_round_trip_write_then_load(train_csv: Path, tmp_path: Path) -> None:
    profile = profile_rows(train_csv, label_column="label")
    out = tmp_path / "out"
    write_baseline(profile, out)
    baseline = load_baseline(out)

    assert baseline.item_count == 5.0
    assert [f.name for f in baseline.features] == [c.name for c in profile.columns]
    assert [f.name for f in baseline.outputs] == ["prediction"]
    assert [f.name for f in baseline.inputs] == ["id", "price", "color"]
    assert baseline.monitoring == MonitoringConfig()
    for column, feature in zip(profile.columns, baseline.features, strict=True):
        assert feature.inferred_type == column.inferred_type
        assert feature.completeness == column.completeness
        assert feature.evaluate_constraints is True
        if column.numeric is not None:
            n, stats = column.numeric, feature.numeric
            assert stats is not None
            assert (stats.num_present, stats.num_missing) == (
                column.num_present,
                1.0 * column.num_missing,
            )
            assert (stats.mean, stats.sum, stats.std_dev) == (n.mean, n.sum, n.std_dev)
            assert (stats.min, stats.max) == (n.min, n.max)
            assert (stats.sketch_k, stats.sketch_c) == (2048.0, 0.64)
            items, weights = flatten_levels([list(level) for level in n.sketch_levels])
            np.testing.assert_array_equal(stats.sketch_items, items)
            np.testing.assert_array_equal(stats.sketch_weights, weights)
            assert feature.is_non_negative == (n.min >= 0)
            assert feature.domain is None
            assert feature.categorical is None
        else:
            assert column.string is not None and column.string.counts is not None
            cat = feature.categorical
            assert cat is not None
            assert cat.counts == {k: float(v) for k, v in column.string.counts.items()}
            assert cat.distinct_count == column.string.distinct_count
            assert feature.domain == tuple(sorted(column.string.counts))
            assert feature.numeric is None

    price = baseline.feature("price").numeric
    assert price is not None
    assert price.sketch_items.tolist() == [3.0, 7.25, 10.5, 12.0]
    assert price.cdf([7.25, 11.0]).tolist() == [0.5, 0.75]


def test_identity_hashes_both_files(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    baseline = build_baseline(train_csv, out)
    expected = hashlib.sha256(
        (out / "statistics.json").read_bytes() + (out / "constraints.json").read_bytes()
    ).hexdigest()[:16]
    assert baseline.identity == expected
    assert load_baseline(out).identity == expected
    constraints = read_json(out / "constraints.json")
    constraints["monitoring_config"]["comparison_threshold"] = 0.2
    (out / "constraints.json").write_text(json.dumps(constraints), encoding="utf-8")
    assert load_baseline(out).identity != expected


def test_custom_monitoring_config_round_trips(train_csv: Path, tmp_path: Path) -> None:
    config = MonitoringConfig(
        evaluate_constraints=False,
        emit_metrics=False,
        datatype_check_threshold=0.5,
        domain_content_threshold=0.25,
        perform_comparison=False,
        comparison_threshold=0.3,
        comparison_method="Simple",
        categorical_comparison_threshold=0.4,
        categorical_drift_method="ChiSquared",
    )
    write_baseline(profile_rows(train_csv), tmp_path / "out", monitoring=config)
    baseline = load_baseline(tmp_path / "out")
    assert baseline.monitoring == config
    # no per-feature override: the global switch applies to every feature
    assert {f.evaluate_constraints for f in baseline.features} == {False}


def test_build_baseline_returns_what_load_baseline_reads(train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "out"
    built = build_baseline(train_csv, out, label_column="label")
    loaded = load_baseline(out)
    assert isinstance(built, Baseline)
    assert built.identity == loaded.identity
    assert [f.name for f in built.features] == ["prediction", "id", "price", "color"]
    assert built.feature("prediction").numeric.mean == 0.6  # type: ignore[union-attr]
    assert built.feature("color").domain == ("blue", "green", "red")


def test_build_baseline_hands_over_its_warnings(tmp_path: Path) -> None:
    """The label column's warning names the column as the training data calls it; the
    baseline is written all the same, the unparsable value counted as missing."""
    data = tmp_path / "t.csv"
    data.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(199)) + "1,n/a\n")
    seen: list[BaselineWarning] = []
    baseline = build_baseline(data, tmp_path / "out", label_column="label", on_warning=seen.append)
    assert [(w.column, w.count) for w in seen] == [("label", 1), (None, 200)]
    prediction = baseline.feature("prediction")
    assert prediction.inferred_type == "Integral"
    assert prediction.numeric is not None
    assert (prediction.numeric.num_present, prediction.numeric.num_missing) == (199, 1)


def test_build_baseline_without_header(train_csv: Path, tmp_path: Path) -> None:
    headless = tmp_path / "headless.csv"
    headless.write_text(TRAIN_CSV.split("\n", 1)[1], encoding="utf-8")
    baseline = build_baseline(headless, tmp_path / "out", header=False, label_column="_c3")
    assert [f.name for f in baseline.features] == ["prediction", "_c0", "_c1", "_c2"]
    assert baseline.feature("_c1").numeric.mean == 8.1875  # type: ignore[union-attr]


# --- real Model Monitor files --------------------------------------------------------------


def test_real_pipeline_baseline_loads_with_exact_sketch_weights() -> None:
    baseline = load_baseline(SDK_PIPELINE)
    raw = read_json(SDK_PIPELINE / "statistics.json")
    assert [f.name for f in baseline.features] == ["_c0", "_c1", "_c2", "_c3", "_c4", "_c5"]
    assert baseline.item_count == 100.0
    for feature, doc in zip(baseline.features, raw["features"], strict=True):
        stats = feature.numeric
        assert stats is not None
        assert feature.inferred_type == "Fractional"
        assert stats.sketch_weights.sum() == stats.num_present == 100.0
        assert np.all(np.diff(stats.sketch_items) >= 0)
        assert stats.mean == doc["numerical_statistics"]["mean"]
        assert (stats.sketch_k, stats.sketch_c) == (2048.0, 0.64)
        assert feature.completeness == 1.0
        assert feature.is_non_negative is True
        assert feature.evaluate_constraints is True
    c0 = baseline.feature("_c0").numeric
    assert c0 is not None
    # the file's own histogram says 24 ones, 21 twos and 55 threes
    assert c0.cdf([1.0, 2.0, 3.0]).tolist() == [0.24, 0.45, 1.0]
    assert (c0.mean, c0.std_dev, c0.min, c0.max) == (2.31, 0.8330066026148891, 1.0, 3.0)
    # a 2021 file: no categorical_* keys, so Model Monitor's defaults apply
    assert baseline.monitoring == MonitoringConfig()


def test_real_pipeline_bad_cases_type_mismatch_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(SDK_PIPELINE / "statistics.json", folder / "statistics.json")
    shutil.copy(SDK_PIPELINE / "constraints_bad_cases.json", folder / "constraints.json")
    with pytest.raises(BaselineError) as err:
        load_baseline(folder)
    message = str(err.value)
    assert message.startswith(f"{folder / 'constraints.json'}: features[5] ('_c5').inferred_type")
    assert "'String' contradicts 'Fractional'" in message


def test_old_sdk_fixture_loads_with_old_keys() -> None:
    baseline = load_baseline(SDK_TESTS)
    # constraints.json also lists "second_message", which statistics.json does not have
    assert [f.name for f in baseline.features] == ["message"]
    message = baseline.feature("message")
    assert message.inferred_type == "String"
    assert message.categorical is not None
    assert message.categorical.counts == {"preproc-not-YET-supported-for-csv-json": 418.0}
    assert message.categorical.distinct_count == 1.0
    assert message.domain == ("preproc-not-YET-supported-for-csv-json",)
    assert message.evaluate_constraints is True
    assert baseline.item_count == 418.0
    assert baseline.monitoring.comparison_threshold == 1.0
    # categorical threshold defaults to comparison_threshold; enable_comparisons is honoured
    assert baseline.monitoring.categorical_comparison_threshold == 1.0
    assert baseline.monitoring.perform_comparison is True


def test_statistics_without_constraints_file_get_suggested_constraints(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    shutil.copy(SDK_TESTS / "statistics.json", folder / "statistics.json")
    stats = read_json(folder / "statistics.json")
    stats["features"][0]["string_statistics"]["common"]["num_missing"] = 82
    (folder / "statistics.json").write_text(json.dumps(stats), encoding="utf-8")
    baseline = load_baseline(folder)
    message = baseline.feature("message")
    assert message.completeness == 418 / 500
    assert message.domain == ("preproc-not-YET-supported-for-csv-json",)
    assert baseline.monitoring == MonitoringConfig()
    digest = hashlib.sha256((folder / "statistics.json").read_bytes()).hexdigest()[:16]
    assert baseline.identity == digest


def test_numbers_may_be_floats_everywhere(tmp_path: Path) -> None:
    stats = read_json(SDK_PIPELINE / "statistics.json")
    stats["dataset"]["item_count"] = 100.0
    for feature in stats["features"]:
        common = feature["numerical_statistics"]["common"]
        common["num_present"], common["num_missing"] = 100.0, 0.0
    baseline = load_baseline(baseline_dir(tmp_path, stats))
    assert baseline.item_count == 100.0
    assert baseline.feature("_c1").numeric.num_present == 100.0  # type: ignore[union-attr]


def test_numeric_feature_without_sketch_uses_bucket_midpoints(tmp_path: Path) -> None:
    stats = read_json(SDK_PIPELINE / "statistics.json")
    del stats["features"][0]["numerical_statistics"]["distribution"]["kll"]["sketch"]
    stats["features"][1]["numerical_statistics"].pop("distribution")
    baseline = load_baseline(baseline_dir(tmp_path, stats))
    c0 = baseline.feature("_c0").numeric
    assert c0 is not None
    np.testing.assert_allclose(c0.sketch_items, [1.1, 2.1, 2.9])
    assert c0.sketch_weights.tolist() == [24.0, 21.0, 55.0]
    assert c0.cdf([2.5]).tolist() == [0.45]
    # no histogram either: a single item at the mean carries every value
    c1 = baseline.feature("_c1").numeric
    assert c1 is not None
    assert (c1.sketch_items.tolist(), c1.sketch_weights.tolist()) == ([0.38], [100.0])


# --- per-feature overrides -----------------------------------------------------------------


def _string_baseline() -> tuple[dict[str, Any], dict[str, Any]]:
    return read_json(SDK_TESTS / "statistics.json"), read_json(SDK_TESTS / "constraints.json")


def test_sdk_spelling_of_the_feature_override(tmp_path: Path) -> None:
    stats, constraints = _string_baseline()
    overrides = constraints["features"][0]["string_constraints"]["monitoring_config_overrides"]
    overrides["evaluate_constraints"] = "Disabled"
    baseline = load_baseline(baseline_dir(tmp_path, stats, constraints))
    assert baseline.feature("message").evaluate_constraints is False
    assert baseline.monitoring.evaluate_constraints is True


def test_docs_spelling_of_the_feature_override(tmp_path: Path) -> None:
    stats, constraints = _string_baseline()
    del constraints["features"][0]["string_constraints"]["monitoring_config_overrides"]
    constraints["features"][0]["monitoringConfigOverrides"] = {"evaluate_constraints": "disabled"}
    baseline = load_baseline(baseline_dir(tmp_path, stats, constraints))
    assert baseline.feature("message").evaluate_constraints is False


def test_feature_override_beats_the_global_switch(tmp_path: Path) -> None:
    stats, constraints = _string_baseline()
    constraints["monitoring_config"]["evaluate_constraints"] = "Disabled"
    baseline = load_baseline(baseline_dir(tmp_path, stats, constraints))
    assert baseline.monitoring.evaluate_constraints is False
    assert baseline.feature("message").evaluate_constraints is True  # its override: Enabled


def test_contradicting_overrides_are_an_error(tmp_path: Path) -> None:
    stats, constraints = _string_baseline()
    constraints["features"][0]["monitoringConfigOverrides"] = {"evaluate_constraints": "Disabled"}
    with pytest.raises(BaselineError, match=r"monitoring_config_overrides\.evaluate_constraints"):
        load_baseline(baseline_dir(tmp_path, stats, constraints))


# --- bad files -----------------------------------------------------------------------------


def _set(path: list[str | int], value: Any) -> Callable[[Any], None]:
    def apply(doc: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return apply


def _delete(path: list[str | int]) -> Callable[[Any], None]:
    def apply(doc: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]

    return apply


NUM: list[str | int] = ["features", 0, "numerical_statistics"]
BAD_STATISTICS: list[tuple[Callable[[Any], None], str]] = [
    (
        _set([*NUM, "mean"], "abc"),
        "features[0] ('_c0').numerical_statistics.mean: expected a number",
    ),
    (_set([*NUM, "mean"], True), "numerical_statistics.mean: expected a number, got True"),
    (_delete([*NUM, "common"]), "numerical_statistics.common: required key is missing"),
    (_set([*NUM, "common", "num_present"], -1), "common.num_present: expected a count >= 0"),
    (_set(["features", 2, "inferred_type"], "Floaty"), "features[2] ('_c2').inferred_type"),
    (_delete(["features", 1, "name"]), "features[1].name: required key is missing"),
    (_set(["features", 1, "name"], "_c0"), "duplicate feature name '_c0'"),
    (
        _set([*NUM, "distribution", "kll", "sketch", "data", 0, 3], "x"),
        "numerical_statistics.distribution.kll.sketch.data[0][3]: expected a number",
    ),
    (
        _set([*NUM, "distribution", "kll", "sketch", "data"], {}),
        "sketch.data: expected a JSON array",
    ),
    (_set(["features"], {}), "features: expected a JSON array"),
    (_delete(["features"]), "features: required key is missing"),
    (_delete([*NUM]), "features[0] ('_c0').numerical_statistics: required key is missing"),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_STATISTICS)
def test_bad_statistics_name_file_and_key(
    tmp_path: Path, mutate: Callable[[Any], None], expected: str
) -> None:
    stats = read_json(SDK_PIPELINE / "statistics.json")
    mutate(stats)
    folder = baseline_dir(tmp_path, stats)
    with pytest.raises(BaselineError) as err:
        load_baseline(folder)
    message = str(err.value)
    assert message.startswith(str(folder / "statistics.json") + ": ")
    assert expected in message
    assert "\n" not in message


MON: list[str | int] = ["monitoring_config"]
BAD_CONSTRAINTS: list[tuple[Callable[[Any], None], str]] = [
    (
        _set([*MON, "evaluate_constraints"], "Maybe"),
        'monitoring_config.evaluate_constraints: expected "Enabled"',
    ),
    (
        _set([*MON, "distribution_constraints", "comparison_method"], "Fancy"),
        "distribution_constraints.comparison_method: expected one of",
    ),
    (
        _set([*MON, "distribution_constraints", "comparison_threshold"], "0.1"),
        "comparison_threshold: expected a number, got '0.1'",
    ),
    (
        _set(["features", 0, "completeness"], 1.5),
        "features[0] ('_c0').completeness: expected a fraction",
    ),
    (
        _set(["features", 0, "num_constraints", "is_non_negative"], "yes"),
        "num_constraints.is_non_negative: expected true or false",
    ),
    (_set(["features", 0, "inferred_type"], "String"), "'String' contradicts 'Fractional'"),
    (_set(["features"], "none"), "features: expected a JSON array"),
    (_set(["features", 1, "name"], "_c0"), "features[1] ('_c0'): duplicate feature name '_c0'"),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_CONSTRAINTS)
def test_bad_constraints_name_file_and_key(
    tmp_path: Path, mutate: Callable[[Any], None], expected: str
) -> None:
    stats = read_json(SDK_PIPELINE / "statistics.json")
    constraints = copy.deepcopy(read_json(SDK_PIPELINE / "constraints.json"))
    mutate(constraints)
    folder = baseline_dir(tmp_path, stats, constraints)
    with pytest.raises(BaselineError) as err:
        load_baseline(folder)
    message = str(err.value)
    assert message.startswith(str(folder / "constraints.json") + ": ")
    assert expected in message
    assert "\n" not in message


def test_relaxing_integral_to_fractional_in_constraints_is_allowed(tmp_path: Path) -> None:
    stats = read_json(SDK_PIPELINE / "statistics.json")
    stats["features"][0]["inferred_type"] = "Integral"
    constraints = read_json(SDK_PIPELINE / "constraints.json")
    baseline = load_baseline(baseline_dir(tmp_path, stats, constraints))
    assert baseline.feature("_c0").inferred_type == "Fractional"


def test_invalid_json_is_reported(tmp_path: Path) -> None:
    folder = baseline_dir(tmp_path, None, raw=b'{"version": 0.0, "features": [')
    with pytest.raises(BaselineError, match=r"statistics\.json: not valid JSON"):
        load_baseline(folder)


def test_missing_statistics_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match=r"statistics\.json: file not found"):
        load_baseline(tmp_path)


def test_bad_error_is_a_value_error() -> None:
    assert issubclass(BaselineError, ValueError)


def test_empty_constraints_file_is_reported_not_ignored(tmp_path: Path) -> None:
    folder = baseline_dir(tmp_path, read_json(SDK_TESTS / "statistics.json"))
    (folder / "constraints.json").write_bytes(b"")
    with pytest.raises(BaselineError, match=r"constraints\.json: not valid JSON"):
        load_baseline(folder)
