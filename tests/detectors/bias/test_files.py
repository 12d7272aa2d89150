"""Clarify's files: the real samples parse, ours have their shape, and the bias config is read
(or refused with one line naming the key)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from driftstream.detectors.baseline import build_baseline
from driftstream.detectors.bias import BiasConfigError, build_bias_baseline, read_analysis
from driftstream.detectors.bias.analysis import (
    ANALYSIS,
    ANALYSIS_CONFIG,
    COUNTS,
    parse_analysis,
    read_counts,
    violation,
    violations_document,
)
from driftstream.detectors.bias.config import load_bias_config, parse_bias_config
from tests.detectors.bias.streams import training_csv, write_config

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "clarify"
CLARIFY_ANALYSIS = SAMPLES / "examples_clarify_bias_baseline_analysis.json"
CLARIFY_VIOLATIONS = SAMPLES / "examples_clarify_bias_violations_converted.json"
PRE_TRAINING_ONLY = [
    SAMPLES / "sdk_pipeline_clarify_check_step_data_bias_good_cases_analysis.json",
    SAMPLES / "sdk_pipeline_clarify_check_step_data_bias_bad_cases_analysis.json",
]


def _shape(value: Any, key: str = "") -> Any:
    """The keys of a JSON document, recursively (lists by their first item), without values;
    the facets by `*` (their names are data)."""
    if isinstance(value, dict):
        if key == "facets":
            return {"*": _shape(next(iter(value.values())))}
        return {k: _shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if isinstance(value, str) else "value"


def test_the_real_clarify_analysis_parses() -> None:
    analysis = read_analysis(CLARIFY_ANALYSIS)
    assert analysis.label == "Target"
    assert analysis.label_value_or_threshold == "1"
    [sex] = analysis.facets
    assert (sex.facet, sex.value_or_threshold) == ("Sex", "0")
    assert len(sex.metrics) == 13
    dppl, di = sex.metric("DPPL"), sex.metric("DI")
    assert dppl is not None and dppl.value == 0.2199248120300752
    assert di is not None and di.value == 0.17798594847775176


@pytest.mark.parametrize("path", PRE_TRAINING_ONLY, ids=lambda p: p.name)
def test_a_pre_training_analysis_is_no_bias_drift_baseline(path: Path) -> None:
    with pytest.raises(BiasConfigError, match=r"no post_training_bias_metrics .*pre-training"):
        read_analysis(path)


def test_metric_values_clarify_could_not_compute_or_that_are_infinite_are_read() -> None:
    doc = json.loads(CLARIFY_ANALYSIS.read_text())
    metrics = doc["post_training_bias_metrics"]["facets"]["Sex"][0]["metrics"]
    metrics[0]["value"] = "Infinity"
    metrics[1] = {"name": "CDDPL", "description": "x", "value": None, "error": "empty"}
    [sex] = parse_analysis(doc, "doc").facets
    assert sex.metrics[0].value == math.inf
    assert math.isnan(sex.metrics[1].value) and sex.metrics[1].error == "empty"
    metrics[0]["value"] = "lots"
    with pytest.raises(BiasConfigError, match=r"facets\.Sex\[0\]\.AD: value 'lots' is not a num"):
        parse_analysis(doc, "doc")


def test_violations_have_the_real_files_shape_and_wording() -> None:
    real = json.loads(CLARIFY_VIOLATIONS.read_text())
    number = r"(-?[0-9.Ee+-]+|Infinity)"
    pattern = re.compile(
        rf"^Metric value {number} doesn't meet the baseline constraint requirement {number}$"
    )
    ours = []
    for entry in real["violations"]:
        match = pattern.match(entry["description"])
        assert match is not None
        value, baseline = (float(g) for g in match.groups())
        ours.append(
            violation(entry["facet"], entry["facet_value"], entry["metric_name"], value, baseline)
        )
    document = violations_document(ours)
    # same keys and values, the TE entry's "Metric value Infinity" included (key order aside:
    # the converted sample was sorted by pprint)
    assert document == real
    assert list(document["violations"][0]) == [
        "facet",
        "facet_value",
        "metric_name",
        "constraint_check_type",
        "description",
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bias-files")
    data = root / "training.csv"
    data.write_text(training_csv(5_000, seed=3))
    baseline = build_baseline(data, root / "base", label_column="prediction")
    config = write_config(root / "bias.json", methods={"post_training_bias": {"methods": "all"}})
    build_bias_baseline(data, root / "base", config, baseline, label_column="prediction")
    return root / "base"


def test_our_analysis_has_the_shape_of_clarifys(built: Path) -> None:
    ours = json.loads((built / ANALYSIS).read_text())
    real = json.loads(CLARIFY_ANALYSIS.read_text())
    del real["pre_training_bias_metrics"]
    assert _shape(ours) == _shape(real)
    ours_metrics = ours["post_training_bias_metrics"]["facets"]["c0"][0]["metrics"]
    real_metrics = real["post_training_bias_metrics"]["facets"]["Sex"][0]["metrics"]
    descriptions = {m["name"]: m["description"] for m in real_metrics}
    assert [m["name"] for m in ours_metrics] == ["DI", "DPPL"]  # Clarify's (sorted) order
    assert all(m["description"] == descriptions[m["name"]] for m in ours_metrics)
    assert ours["post_training_bias_metrics"]["label"] == "approved"
    assert ours["post_training_bias_metrics"]["label_value_or_threshold"] == "1"
    # and it reads back, with the counts beside it agreeing with its values
    [group] = read_analysis(built / ANALYSIS).facets
    counts = read_counts(built / COUNTS)[("c0", "a")]
    q_a = counts.positive_a / counts.rows_a
    q_d = counts.positive_d / counts.rows_d
    assert group.metric("DPPL").value == pytest.approx(q_a - q_d, abs=1e-15)
    assert json.loads((built / ANALYSIS_CONFIG).read_text())["facet"] == [
        {"name_or_index": "c0", "value_or_threshold": ["a"]}
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "the top level must be a JSON object"),
        ({"label_values_or_threshold": [1], "methods": {}}, "facet: Field required"),
        (
            {"facet": [], "label_values_or_threshold": [1], "methods": {}},
            "facet: List should have at least 1 item",
        ),
        (
            {
                "facet": [{"name_or_index": "c0", "values": ["a"]}],
                "label_values_or_threshold": 1,
                "methods": {"post_training_bias": {"methods": "all"}},
            },
            r"facet\.0\.values: unknown key",
        ),
        (
            {
                "facet": [{"name_or_index": "c0"}],
                "label_values_or_threshold": [1],
                "methods": {"pre_training_bias": {"methods": "all"}},
            },
            "methods.post_training_bias: missing",
        ),
        (
            {
                "facet": [{"name_or_index": "c0"}],
                "label_values_or_threshold": [1],
                "methods": {"post_training_bias": {"methods": ["DPPL", "XYZ"]}},
            },
            "unknown metric 'XYZ'; valid values are",
        ),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(raw: object, message: str) -> None:
    with pytest.raises(BiasConfigError, match=message) as caught:
        parse_bias_config(raw, "bias.json")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("bias config bias.json: ")


def test_a_single_value_stands_for_a_list_and_clarify_keys_we_do_not_use_are_ignored(
    tmp_path: Path,
) -> None:
    path = write_config(
        tmp_path / "c.json",
        facet=[{"name_or_index": 1, "value_or_threshold": "a"}],
        label_values_or_threshold=1,
        excluded_columns=["x"],
    )
    config = load_bias_config(path)
    assert config.facet[0].name_or_index == 1
    assert config.facet[0].value_or_threshold == ["a"]
    assert config.label_values_or_threshold == [1]
    assert config.requested_metrics() == ("DI", "DPPL")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BiasConfigError, match=r"bad\.json: invalid JSON at line 1"):
        load_bias_config(tmp_path / "bad.json")
