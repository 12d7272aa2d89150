"""Model Monitor's model-quality baseline files: `DIR/model_quality/statistics.json`,
`constraints.json`, and driftstream's `problem.json` beside them.

statistics.json: `{"version": 0.0, "dataset": {"item_count": n}, "<problem>_metrics": {metric:
{"value": v, "standard_deviation": s | "NaN"}, "confusion_matrix": ..., curves ...}}`;
constraints.json: `{"version": 0.0, "<problem>_constraints": {metric: {"threshold": t,
"comparison_operator": "LessThanThreshold" | "GreaterThanThreshold" | ...}}}` (reference §5.5;
the samples under shared/samples/sagemaker/ are read by the tests). A constraint is violated when
the metric compares with its threshold as the operator says: an accuracy `LessThanThreshold` 0.8
is violated by 0.75.

problem.json holds what Model Monitor's job takes as its environment and the two files do not
say: the problem type, the probability threshold of a binary classifier, the column names, and,
for regression, quantiles of the baseline's absolute errors (what the online detector is
calibrated from). It is optional: files written by Model Monitor itself load without it (the
problem type is then the one their keys name, the threshold 0.5).

`load_model_quality` accepts floats anywhere and the string "NaN" (Model Monitor's) for any
number; anything unusable raises BaselineError with one line naming the file and key.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from driftstream.detectors.baseline.errors import BaselineError
from driftstream.detectors.baseline.files import model_monitor_json
from driftstream.detectors.quality.metrics import SCALARS, ProblemType

MODEL_QUALITY = "model_quality"
STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"
PROBLEM = "problem.json"


class Operator(StrEnum):
    """How a metric compares with its threshold to violate the constraint."""

    LESS = "LessThanThreshold"
    LESS_OR_EQUAL = "LessThanOrEqualToThreshold"
    GREATER = "GreaterThanThreshold"
    GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"

    @property
    def lower_is_violation(self) -> bool:
        return self in (Operator.LESS, Operator.LESS_OR_EQUAL)


@dataclass(frozen=True)
class Metric:
    """One metric of statistics.json; `standard_deviation` NaN where Model Monitor writes
    "NaN" (fewer than 200 pairs)."""

    value: float
    standard_deviation: float = math.nan


@dataclass(frozen=True)
class Constraint:
    """One metric's constraint: violated when the value compares with `threshold` as
    `comparison_operator` says."""

    threshold: float
    comparison_operator: Operator

    def excess(self, value: float) -> float:
        """How far `value` is past the threshold towards a violation (> 0: on the violating
        side; the units of the metric); NaN for a NaN value."""
        if self.comparison_operator.lower_is_violation:
            return self.threshold - value
        return value - self.threshold

    def violated(self, value: float, allowance: float = 0.0) -> bool:
        """Whether `value` violates the constraint by more than `allowance` (0: Model
        Monitor's plain comparison); never for NaN."""
        excess = self.excess(value)
        if math.isnan(excess):
            return False
        if self.comparison_operator in (Operator.LESS_OR_EQUAL, Operator.GREATER_OR_EQUAL):
            return excess >= allowance
        return excess > allowance


@dataclass(frozen=True)
class ModelQualityBaseline:
    """The model-quality baseline as the watcher reads it."""

    problem: ProblemType
    item_count: float
    metrics: dict[str, Metric]
    constraints: dict[str, Constraint]
    probability_threshold: float = 0.5
    #: regression: equally weighted quantiles of the baseline's absolute errors
    absolute_errors: tuple[float, ...] = ()
    #: extra keys of the metrics object (confusion matrix, curves), as read
    extra: dict[str, Any] = field(default_factory=dict)
    inference_attribute: str | None = None
    ground_truth_attribute: str | None = None
    identity: str = ""  # short sha256 over the files' bytes


# -- writing -----------------------------------------------------------------------------------


def statistics_document(
    problem: ProblemType,
    item_count: int,
    metrics: Mapping[str, Metric],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """statistics.json: the confusion matrix first (as Model Monitor writes it), then every
    scalar metric, then the curves."""
    extra = dict(extra or {})
    body: dict[str, Any] = {}
    if "confusion_matrix" in extra:
        body["confusion_matrix"] = extra.pop("confusion_matrix")
    for name, metric in metrics.items():
        body[name] = {
            "value": _number(metric.value),
            "standard_deviation": _number(metric.standard_deviation),
        }
    body.update(extra)
    return {
        "version": 0.0,
        "dataset": {"item_count": item_count},
        f"{problem.key}_metrics": body,
    }


def constraints_document(
    problem: ProblemType, constraints: Mapping[str, Constraint]
) -> dict[str, Any]:
    return {
        "version": 0.0,
        f"{problem.key}_constraints": {
            name: {"threshold": c.threshold, "comparison_operator": c.comparison_operator.value}
            for name, c in constraints.items()
            if math.isfinite(c.threshold)
        },
    }


def _number(value: float) -> float | str:
    """Model Monitor writes an undefined number as the string "NaN"."""
    return value if math.isfinite(value) else "NaN"


def write_model_quality(out_dir: Path, baseline: ModelQualityBaseline) -> None:
    """Write statistics.json, constraints.json and problem.json into `out_dir` (each to a
    temporary name, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    problem: dict[str, Any] = {
        "problem_type": baseline.problem.value,
        "probability_threshold_attribute": baseline.probability_threshold,
    }
    if baseline.inference_attribute is not None:
        problem["inference_attribute"] = baseline.inference_attribute
    if baseline.ground_truth_attribute is not None:
        problem["ground_truth_attribute"] = baseline.ground_truth_attribute
    if baseline.absolute_errors:
        problem["absolute_error_quantiles"] = list(baseline.absolute_errors)
    documents = {
        STATISTICS: statistics_document(
            baseline.problem, int(baseline.item_count), baseline.metrics, baseline.extra
        ),
        CONSTRAINTS: constraints_document(baseline.problem, baseline.constraints),
        PROBLEM: problem,
    }
    for name, document in documents.items():
        path = out_dir / name
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(model_monitor_json(document), encoding="utf-8")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


# -- reading -----------------------------------------------------------------------------------


def _read(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BaselineError(f"{path}: expected a JSON object")
    return raw, value


def _as_number(value: object, where: str, *, finite: bool = False) -> float:
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity") and not finite:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BaselineError(f"{where}: expected a number, got {value!r}"[:160])
    number = float(value)
    if finite and not math.isfinite(number):
        raise BaselineError(f"{where}: expected a finite number, got {value!r}")
    return number


def _problem_of(document: Mapping[str, Any], suffix: str, path: Path) -> ProblemType:
    found = [p for p in ProblemType if f"{p.key}_{suffix}" in document]
    if len(found) != 1:
        keys = ", ".join(f"{p.key}_{suffix}" for p in ProblemType)
        raise BaselineError(f"{path}: expected exactly one of {keys}")
    return found[0]


def load_model_quality(directory: Path) -> ModelQualityBaseline:
    """Read `directory` (a baseline's model_quality/ folder); BaselineError if unusable."""
    stats_path = directory / STATISTICS
    raw, stats = _read(stats_path)
    digest = hashlib.sha256(raw)
    problem_doc: dict[str, Any] = {}
    if (directory / PROBLEM).exists():
        raw_problem, problem_doc = _read(directory / PROBLEM)
        digest.update(raw_problem)
    problem = _problem_of(stats, "metrics", stats_path)
    declared = problem_doc.get("problem_type")
    if declared is not None and declared != problem.value:
        raise BaselineError(
            f"{directory / PROBLEM}: problem_type {declared!r} but {stats_path.name} holds "
            f"{problem.key}_metrics"
        )
    dataset = stats.get("dataset")
    item_count = 0.0
    if isinstance(dataset, dict) and "item_count" in dataset:
        item_count = _as_number(
            dataset["item_count"], f"{stats_path}: dataset.item_count", finite=True
        )
    body = stats[f"{problem.key}_metrics"]
    if not isinstance(body, dict):
        raise BaselineError(f"{stats_path}: {problem.key}_metrics: expected a JSON object")
    metrics: dict[str, Metric] = {}
    extra: dict[str, Any] = {}
    scalars = set(SCALARS[problem])
    for name, node in body.items():
        where = f"{stats_path}: {problem.key}_metrics.{name}"
        if isinstance(node, dict) and "value" in node:
            metrics[name] = Metric(
                _as_number(node["value"], f"{where}.value"),
                _as_number(node.get("standard_deviation", "NaN"), f"{where}.standard_deviation"),
            )
        elif name in scalars:
            raise BaselineError(f"{where}: expected {{value, standard_deviation}}")
        else:
            extra[name] = node
    constraints: dict[str, Constraint] = {}
    if (directory / CONSTRAINTS).exists():
        constraints_path = directory / CONSTRAINTS
        raw_constraints, constraints_doc = _read(constraints_path)
        digest.update(raw_constraints)
        constraints = _constraints(constraints_doc, constraints_path, problem)
    threshold = problem_doc.get("probability_threshold_attribute", 0.5)
    threshold = _as_number(threshold, f"{directory / PROBLEM}: probability_threshold_attribute")
    errors = problem_doc.get("absolute_error_quantiles", [])
    if not isinstance(errors, list):
        raise BaselineError(f"{directory / PROBLEM}: absolute_error_quantiles: expected an array")
    quantiles = tuple(
        _as_number(v, f"{directory / PROBLEM}: absolute_error_quantiles", finite=True)
        for v in errors
    )
    return ModelQualityBaseline(
        problem=problem,
        item_count=item_count,
        metrics=metrics,
        constraints=constraints,
        probability_threshold=threshold,
        absolute_errors=quantiles,
        extra=extra,
        inference_attribute=_text(problem_doc.get("inference_attribute")),
        ground_truth_attribute=_text(problem_doc.get("ground_truth_attribute")),
        identity=digest.hexdigest()[:16],
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _constraints(
    document: Mapping[str, Any], path: Path, problem: ProblemType
) -> dict[str, Constraint]:
    found = _problem_of(document, "constraints", path)
    if found is not problem:
        raise BaselineError(
            f"{path}: {found.key}_constraints, but statistics.json holds {problem.key}_metrics"
        )
    body = document[f"{problem.key}_constraints"]
    if not isinstance(body, dict):
        raise BaselineError(f"{path}: {problem.key}_constraints: expected a JSON object")
    out: dict[str, Constraint] = {}
    operators = ", ".join(o.value for o in Operator)
    for name, node in body.items():
        where = f"{path}: {problem.key}_constraints.{name}"
        if not isinstance(node, dict) or "threshold" not in node:
            raise BaselineError(f"{where}: expected {{threshold, comparison_operator}}")
        try:
            operator = Operator(str(node.get("comparison_operator")))
        except ValueError:
            raise BaselineError(
                f"{where}.comparison_operator: {node.get('comparison_operator')!r} is not one of "
                f"{operators}"
            ) from None
        out[name] = Constraint(_as_number(node["threshold"], f"{where}.threshold"), operator)
    return out
