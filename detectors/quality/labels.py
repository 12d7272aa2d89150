"""Labels and predictions as text or numbers, made comparable per problem type.

A ground-truth record carries its label as text (`groundTruthData.data`, "1"), a training file as
a CSV cell, a captured prediction as a number or a category. Binary classification reads the
truth as 0/1 ("1", "0", "1.0", "true", "false") and the prediction as a score; regression reads
numbers; multiclass reads labels, where "1", "1.0" and 1 are the same class. What cannot be read
is None: such a pair is not used (and counted where it arrives).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from driftstream.detectors.quality.metrics import Pairs, ProblemType

_TRUE = frozenset({"1", "1.0", "true"})
_FALSE = frozenset({"0", "0.0", "false"})


def class_label(value: object) -> str | None:
    """A multiclass label as text: numbers in their shortest form ("1.0" → "1"), text
    stripped; None for a missing value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number) or "_" in text:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def number(value: object) -> float | None:
    """A finite number from a number or its text; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value) if isinstance(value, int | float) else float(str(value).strip())
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def truth_value(problem: ProblemType, value: object) -> float | str | None:
    """The true label as the metrics of `problem` read it (see the module docstring)."""
    if problem is ProblemType.MULTICLASS:
        return class_label(value)
    if problem is ProblemType.REGRESSION:
        return number(value)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE:
        return 1.0
    if text in _FALSE:
        return 0.0
    parsed = number(text)
    return parsed if parsed in (0.0, 1.0) else None


def prediction_value(problem: ProblemType, value: object) -> float | str | None:
    """The model output as the metrics of `problem` read it: a label for multiclass, else a
    number (a binary classifier's score, a regression's value)."""
    if problem is ProblemType.MULTICLASS:
        return class_label(value)
    return number(value)


def make_pairs(
    problem: ProblemType,
    truth: Sequence[float | str],
    prediction: Sequence[float | str],
    probability_threshold: float,
) -> Pairs:
    """Pairs of already-read values (see `truth_value`, `prediction_value`)."""
    dtype: type = object if problem is ProblemType.MULTICLASS else np.float64
    return Pairs(
        problem,
        np.asarray(truth, dtype=dtype),
        np.asarray(prediction, dtype=dtype),
        probability_threshold,
    )
