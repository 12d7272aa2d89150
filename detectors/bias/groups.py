"""Who is in facet d, and which model outputs are positive predicted labels.

A `FacetGroup` is one entry of analysis.json's `facets`: a column and its `value_or_threshold`.
Categorical (Clarify: `",".join(values)`): facet d is the rows whose value is one of `values`
(compared as text for a String column, as numbers for a numeric one). Continuous (Clarify writes
the interval `"(threshold, max]"`): facet d is the rows above `threshold`. Rows whose facet or
prediction is missing belong to neither group.

`PredictedPositive` turns the model output into "positive predicted label or not", as Clarify
does: with `probability_threshold`, the output is a score and the predicted label is 1 above the
threshold, 0 otherwise (SDK ModelPredictedLabelConfig: "classify as 'yes' those with a
probability exceeding" it); a label counts as positive when it is in
`label_values_or_threshold`. Without one, a String or Integral output is the label itself; a
Fractional output with a single label value is a continuous label, positive above that value
(Clarify's threshold for continuous labels).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]

_INTERVAL = re.compile(r"^\(\s*([^,\s]+)\s*,\s*([^\]\s]+)\s*\]$")


def as_text(value: object) -> str:
    """A configured value as Clarify prints it (`str`): 0 → "0", 0.5 → "0.5", "a" → "a"."""
    return str(value)


def as_number(value: object) -> float | None:
    """A configured or captured value as a number, None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def number_text(value: float) -> str:
    """A number read from data as Clarify prints it: integers without a decimal point."""
    return str(int(value)) if value.is_integer() else repr(value)


def interval_lower_bound(text: str) -> float | None:
    """The threshold of a continuous facet's `"(threshold, max]"`; None for category values."""
    match = _INTERVAL.match(text)
    return None if match is None else as_number(match.group(1))


@dataclass(frozen=True)
class FacetGroup:
    """Facet d of one analysis.json entry (module docstring)."""

    facet: str
    value_or_threshold: str
    values: tuple[str, ...] = ()  # categorical, String column
    numbers: tuple[float, ...] = ()  # categorical, numeric column
    threshold: float | None = None  # continuous: facet d is above it

    @property
    def label(self) -> str:
        """The facet as events name it: `c0=a`, `c0=a,b`, `age>40`."""
        if self.threshold is not None:
            return f"{self.facet}>{number_text(self.threshold)}"
        return f"{self.facet}={self.value_or_threshold}"

    def numeric(self, x: FloatArray) -> tuple[BoolArray, BoolArray]:
        """(in facet d, facet present) of a numeric column's values (NaN: missing)."""
        present = ~np.isnan(x)
        if self.threshold is not None:
            return present & (x > self.threshold), present
        return np.isin(x, np.asarray(self.numbers, dtype=np.float64)), present

    def strings(self, cells: ObjectArray) -> tuple[BoolArray, BoolArray]:
        """(in facet d, facet present) of a String column's values (None or "": missing)."""
        return _membership(cells, frozenset(self.values))


def _membership(cells: ObjectArray, chosen: frozenset[str]) -> tuple[BoolArray, BoolArray]:
    """(one of `chosen`, present) of text cells (None or "": missing); a set lookup, as
    np.isin would sort a column holding None beside text."""
    n = len(cells)
    present = np.fromiter((c is not None and c != "" for c in cells), np.bool_, n)
    member = np.fromiter((c in chosen for c in cells), np.bool_, n)
    return member & present, present


def group_for_entry(
    facet: str, value_or_threshold: str, *, numeric: bool, configured: list[object] | None
) -> FacetGroup:
    """The FacetGroup of an analysis.json entry, for a numeric or a String facet column.

    `configured`: the facet's `value_or_threshold` in the analysis config, when known; it gives
    the exact values where the joined text is ambiguous (a value holding a comma). Raises
    ValueError when a numeric column's entry names something that is not a number."""
    threshold = interval_lower_bound(value_or_threshold) if numeric else None
    if threshold is not None:
        return FacetGroup(facet, value_or_threshold, threshold=threshold)
    if configured is not None and ",".join(as_text(v) for v in configured) == value_or_threshold:
        parts = [as_text(v) for v in configured]
    else:
        parts = value_or_threshold.split(",")
    if not numeric:
        return FacetGroup(facet, value_or_threshold, values=tuple(parts))
    numbers = [as_number(p) for p in parts]
    if any(n is None for n in numbers):
        raise ValueError(
            f"facet {facet!r} is numeric, but its value_or_threshold {value_or_threshold!r} "
            "is neither numbers nor an interval"
        )
    return FacetGroup(facet, value_or_threshold, numbers=tuple(n for n in numbers if n is not None))


@dataclass(frozen=True)
class PredictedPositive:
    """Which model outputs are positive predicted labels (module docstring)."""

    labels: tuple[str, ...] = ()  # positive label values, as text
    probability_threshold: float | None = None
    label_threshold: float | None = None  # continuous label: positive above it

    def __post_init__(self) -> None:
        if self.probability_threshold is not None and not any(self._score_labels()):
            raise ValueError(
                "with probability_threshold the predicted label is 1 (score above it) or 0; "
                f"label_values_or_threshold {list(self.labels)} holds neither"
            )

    def _score_labels(self) -> tuple[bool, bool]:
        """(predicted label 1 is positive, predicted label 0 is positive)."""
        numbers = {as_number(v) for v in self.labels}
        return (1.0 in numbers, 0.0 in numbers)

    def numeric(self, x: FloatArray) -> tuple[BoolArray, BoolArray]:
        """(positive, present) of a numeric model output (NaN: missing)."""
        present = ~np.isnan(x)
        if self.probability_threshold is not None:
            one, zero = self._score_labels()
            above = x > self.probability_threshold
            positive = (above & one) | (~above & zero)
        elif self.label_threshold is not None:
            positive = x > self.label_threshold
        else:
            numbers = [n for n in (as_number(v) for v in self.labels) if n is not None]
            positive = np.isin(x, np.asarray(numbers, dtype=np.float64))
        return positive & present, present

    def strings(self, cells: ObjectArray) -> tuple[BoolArray, BoolArray]:
        """(positive, present) of a String model output (None or "": missing)."""
        return _membership(cells, frozenset(self.labels))

    def describe(self) -> str:
        """The label_value_or_threshold analysis.json writes (for a continuous label, the
        interval is written by the baseline, which knows the largest output)."""
        return ",".join(self.labels)


def predicted_positive(
    labels: Sequence[object], probability_threshold: float | None, output_type: str
) -> PredictedPositive:
    """The rule for a model output of `output_type` (statistics.json's inferred_type) under
    `label_values_or_threshold` and `probability_threshold` (module docstring); ValueError (one
    line) when no output could ever be positive under them."""
    texts = tuple(as_text(v) for v in labels)
    numeric = output_type in ("Integral", "Fractional")
    if probability_threshold is not None:
        if not numeric:
            raise ValueError(
                f"probability_threshold: the model output is {output_type}, not a numeric score"
            )
        return PredictedPositive(texts, probability_threshold=probability_threshold)
    if output_type == "Fractional" and len(texts) == 1:
        number = as_number(texts[0])
        if number is not None:
            return PredictedPositive(texts, label_threshold=number)
    if numeric and all(as_number(v) is None for v in texts):
        raise ValueError(
            f"label_values_or_threshold {list(texts)}: the model output is numeric, so no "
            "output can be one of these labels"
        )
    return PredictedPositive(texts)
