"""The model-quality baseline: Model Monitor's metrics of the training-like data's model output
against its true labels, and the constraints `suggest_baseline` would suggest.

Called by the CLI's `baseline --ground-truth-column NAME --problem-type TYPE` after the
data-quality files are written (docs/cli.md). The suggested constraints are Model Monitor's:
every metric but the best constant classifier's, its threshold the baseline's value, compared
`LessThanThreshold` where larger is better and `GreaterThanThreshold` where larger is worse (the
regression sample in shared/samples/sagemaker/ has exactly that shape). How a monitored window
is compared with them allows for sampling: docs/model-quality.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from driftstream.detectors.baseline.errors import BaselineError
from driftstream.detectors.baseline.profile import read_columns
from driftstream.detectors.quality.files import (
    Constraint,
    Metric,
    ModelQualityBaseline,
    Operator,
    load_model_quality,
    write_model_quality,
)
from driftstream.detectors.quality.labels import make_pairs, prediction_value, truth_value
from driftstream.detectors.quality.metrics import (
    LOWER_IS_BETTER,
    SCALARS,
    Pairs,
    ProblemType,
    confusion_matrix,
    model_monitor_deviations,
    precision_recall_curve,
    roc_curve,
    suggested,
)

#: absolute-error quantiles kept for a regression's online detector (problem.json)
ERROR_QUANTILES = 1001


def problem_type(name: str) -> ProblemType:
    """The problem type named on the command line; ValueError naming the valid ones."""
    try:
        return ProblemType(name)
    except ValueError:
        valid = ", ".join(p.value for p in ProblemType)
        raise ValueError(f"problem type {name!r} is not one of {valid}") from None


def read_pairs(
    data: Path,
    *,
    prediction_column: str,
    ground_truth_column: str,
    problem: ProblemType,
    probability_threshold: float = 0.5,
    header: bool = True,
) -> tuple[Pairs, int]:
    """The (truth, prediction) pairs of `data`, and how many rows had no usable pair (a
    missing or unreadable prediction or truth)."""
    predicted, truth = read_columns(data, [prediction_column, ground_truth_column], header=header)
    kept_truth: list[float | str] = []
    kept_prediction: list[float | str] = []
    for p_cell, t_cell in zip(predicted, truth, strict=True):
        t = truth_value(problem, t_cell)
        p = prediction_value(problem, p_cell)
        if t is not None and p is not None:
            kept_truth.append(t)
            kept_prediction.append(p)
    pairs = make_pairs(problem, kept_truth, kept_prediction, probability_threshold)
    return pairs, len(truth) - len(pairs)


def baseline_from_pairs(
    pairs: Pairs,
    *,
    seed: int = 0,
    inference_attribute: str | None = None,
    ground_truth_attribute: str | None = None,
) -> ModelQualityBaseline:
    """Statistics and suggested constraints of `pairs` (see the module docstring)."""
    problem = pairs.problem
    values = pairs.metrics()
    deviations = model_monitor_deviations(pairs, np.random.default_rng(seed))
    metrics = {name: Metric(values[name], deviations[name]) for name in SCALARS[problem]}
    constraints = {
        name: Constraint(
            values[name],
            Operator.GREATER if name in LOWER_IS_BETTER else Operator.LESS,
        )
        for name in suggested(problem)
        if math.isfinite(values[name])
    }
    extra: dict[str, object] = {}
    if problem.is_classification:
        extra["confusion_matrix"] = confusion_matrix(pairs)
    if problem is ProblemType.BINARY:
        extra["receiver_operating_characteristic_curve"] = roc_curve(pairs)
        extra["precision_recall_curve"] = precision_recall_curve(pairs)
    errors: tuple[float, ...] = ()
    if problem is ProblemType.REGRESSION:
        levels = np.linspace(0.0, 1.0, ERROR_QUANTILES)
        errors = tuple(float(q) for q in np.quantile(pairs.errors(), levels))
    return ModelQualityBaseline(
        problem=problem,
        item_count=float(len(pairs)),
        metrics=metrics,
        constraints=constraints,
        probability_threshold=pairs.probability_threshold,
        absolute_errors=errors,
        extra=extra,
        inference_attribute=inference_attribute,
        ground_truth_attribute=ground_truth_attribute,
    )


def build_model_quality(
    data: Path,
    out_dir: Path,
    *,
    prediction_column: str,
    ground_truth_column: str,
    problem: ProblemType,
    probability_threshold: float = 0.5,
    header: bool = True,
) -> tuple[ModelQualityBaseline, int]:
    """Write `out_dir` (a baseline's model_quality/ folder) from `data`; return it as loaded
    back, and the rows without a usable pair. BaselineError when no row has one."""
    pairs, dropped = read_pairs(
        data,
        prediction_column=prediction_column,
        ground_truth_column=ground_truth_column,
        problem=problem,
        probability_threshold=probability_threshold,
        header=header,
    )
    if len(pairs) == 0:
        raise BaselineError(
            f"{data}: no row has both a usable {prediction_column!r} and a usable "
            f"{ground_truth_column!r} for {problem.value}"
        )
    baseline = baseline_from_pairs(
        pairs, inference_attribute=prediction_column, ground_truth_attribute=ground_truth_column
    )
    write_model_quality(out_dir, baseline)
    return load_model_quality(out_dir), dropped
