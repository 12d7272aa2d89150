"""Model Monitor's data-quality checks of one window against constraints.json.

`evaluate` compares a window's statistics with the baseline's constraints and returns the
violations in the order of `constraint_violations.json`: per feature (the baseline's order)
data_type_check, completeness_check, baseline_drift_check, categorical_values_check; then
missing_column_check and extra_column_check. What is compared (reference §2.4, §3; where Model
Monitor's rule is unconfirmed, the choice is docs/model-monitor-reports.md's):

- data_type_check, of an Integral feature: the share of its present values that are whole
  numbers, below `datatype_check_threshold`;
- completeness_check: the share of the window's rows where the feature is present, below the
  feature's `completeness`;
- baseline_drift_check: the distance of detectors/constraints/distance.py above
  `comparison_threshold` (numeric) or `categorical_comparison_threshold` (LInfinity); with
  `categorical_drift_method` ChiSquared, the p-value below `categorical_comparison_threshold`;
  only when `perform_comparison` is on and both sides have a distribution;
- categorical_values_check, of a feature with a domain: the share of present values inside it,
  below `domain_content_threshold`;
- missing_column_check / extra_column_check: records of the window whose row had fewer / more
  input columns than the baseline (the decoder rejects them as `column_count`): any at all.

A feature's checks run when its `evaluate_constraints` is on (its monitoring_config_overrides,
else the baseline's), with its own monitoring config (`Baseline.monitoring_of`); the column
checks follow the baseline's `evaluate_constraints`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from driftstream.detectors.baseline.kll import flatten_levels
from driftstream.detectors.baseline.model import Baseline, FeatureBaseline, MonitoringConfig
from driftstream.detectors.baseline.profile import ColumnProfile, DatasetProfile
from driftstream.detectors.constraints.distance import (
    categorical_linf,
    chi_squared_p_value,
    sketch_linf,
)
from driftstream.detectors.constraints.profile import NumericColumn, StringColumn, WindowProfile
from driftstream.detectors.distance import robust

DATA_TYPE_CHECK = "data_type_check"
COMPLETENESS_CHECK = "completeness_check"
BASELINE_DRIFT_CHECK = "baseline_drift_check"
CATEGORICAL_VALUES_CHECK = "categorical_values_check"
MISSING_COLUMN_CHECK = "missing_column_check"
EXTRA_COLUMN_CHECK = "extra_column_check"
CHECKS = (
    DATA_TYPE_CHECK,
    COMPLETENESS_CHECK,
    BASELINE_DRIFT_CHECK,
    CATEGORICAL_VALUES_CHECK,
    MISSING_COLUMN_CHECK,
    EXTRA_COLUMN_CHECK,
)


@dataclass(frozen=True)
class Violation:
    """One entry of constraint_violations.json, with the value and threshold it compared."""

    feature_name: str
    constraint_check_type: str
    description: str
    value: float
    threshold: float

    def to_json(self) -> dict[str, str]:
        """The entry as Model Monitor writes it."""
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": self.constraint_check_type,
            "description": self.description,
        }


@dataclass
class ColumnCounts:
    """A window's records, and those rejected for too few or too many input columns."""

    records: int = 0
    short: int = 0
    fewest: int | None = None  # the fewest input columns a short record had
    long: int = 0
    most: int | None = None  # the most input columns a long record had

    def add_rejected(self, columns: int, expected: int) -> None:
        if columns < expected:
            self.short += 1
            self.fewest = columns if self.fewest is None else min(self.fewest, columns)
        elif columns > expected:
            self.long += 1
            self.most = columns if self.most is None else max(self.most, columns)


def evaluate(
    baseline: Baseline, window: WindowProfile, profile: DatasetProfile, counts: ColumnCounts
) -> list[Violation]:
    """The window's violations (see the module docstring); `profile` is `window.profile()`."""
    profiles = {column.name: column for column in profile.columns}
    columns = {column.name: column for column in window.columns}
    found: list[Violation] = []
    for feature in baseline.features:
        column = columns.get(feature.name)
        if column is None or not feature.evaluate_constraints:
            continue
        config = baseline.monitoring_of(feature)
        if isinstance(column, NumericColumn):
            found += _numeric(feature, column, profiles[feature.name], config)
        else:
            found += _categorical(feature, column, config)
    if baseline.monitoring.evaluate_constraints:
        found += _columns(baseline, counts)
    return found


def _numeric(
    feature: FeatureBaseline,
    column: NumericColumn,
    profile: ColumnProfile,
    config: MonitoringConfig,
) -> list[Violation]:
    found: list[Violation] = []
    present = column.present
    if feature.inferred_type == "Integral" and present:
        share = column.whole / present
        if share < config.datatype_check_threshold:
            found.append(_data_type(feature, share, config.datatype_check_threshold))
    found += _completeness(feature, present, column.missing)
    stats, window = feature.numeric, profile.numeric
    if config.perform_comparison and stats is not None and window is not None and present:
        items, weights = flatten_levels([list(level) for level in window.sketch_levels])
        m = float(stats.sketch_weights.sum())
        if m > 0:
            d = sketch_linf(stats.sketch_items, stats.sketch_weights, items, weights)
            value = robust(d, present, m) if config.comparison_method == "Robust" else d
            if value > config.comparison_threshold:
                found.append(_drift(feature.name, value, config.comparison_threshold))
    return found


def _categorical(
    feature: FeatureBaseline, column: StringColumn, config: MonitoringConfig
) -> list[Violation]:
    found: list[Violation] = []
    present = column.present
    found += _completeness(feature, present, column.missing)
    stats = feature.categorical
    threshold = config.categorical_comparison_threshold
    if (
        config.perform_comparison
        and stats is not None
        and stats.counts
        and column.counts is not None
        and present
    ):
        window = {value: float(n) for value, n in column.counts.items()}
        if config.categorical_drift_method == "ChiSquared":
            p = chi_squared_p_value(window, stats.counts)
            if not math.isnan(p) and p < threshold:
                found.append(
                    Violation(
                        feature.name,
                        BASELINE_DRIFT_CHECK,
                        f"Baseline drift chi-squared p-value: {java_double(p)} is below "
                        f"threshold: {java_double(threshold)}",
                        p,
                        threshold,
                    )
                )
        else:
            d = categorical_linf(window, stats.counts)
            m = float(sum(stats.counts.values()))
            value = robust(d, present, m) if config.comparison_method == "Robust" else d
            if value > threshold:
                found.append(_drift(feature.name, value, threshold))
    if feature.domain and present:
        share = column.in_domain / present
        if share < config.domain_content_threshold:
            found.append(
                Violation(
                    feature.name,
                    CATEGORICAL_VALUES_CHECK,
                    _generic(share),
                    share,
                    config.domain_content_threshold,
                )
            )
    return found


def _completeness(feature: FeatureBaseline, present: int, missing: int) -> list[Violation]:
    rows = present + missing
    if not rows:
        return []
    share = present / rows
    if share >= feature.completeness:
        return []
    return [
        Violation(feature.name, COMPLETENESS_CHECK, _generic(share), share, feature.completeness)
    ]


def _columns(baseline: Baseline, counts: ColumnCounts) -> list[Violation]:
    inputs = baseline.inputs
    found: list[Violation] = []
    if counts.short and counts.fewest is not None and counts.records:
        share = counts.short / counts.records
        found.append(
            Violation(
                # the first input column the short rows lacked
                inputs[counts.fewest].name,
                MISSING_COLUMN_CHECK,
                f"Missing columns: {counts.short} of {counts.records} records have fewer input "
                f"columns than the baseline's {len(inputs)} (as few as {counts.fewest}).",
                share,
                0.0,
            )
        )
    if counts.long and counts.most is not None and counts.records:
        share = counts.long / counts.records
        found.append(
            Violation(
                # what Spark names the first extra column of a row (outputs first, then inputs)
                f"_c{len(baseline.features)}",
                EXTRA_COLUMN_CHECK,
                f"Extra columns: {counts.long} of {counts.records} records have more input "
                f"columns than the baseline's {len(inputs)} (as many as {counts.most}).",
                share,
                0.0,
            )
        )
    return found


def _data_type(feature: FeatureBaseline, share: float, threshold: float) -> Violation:
    kind = feature.inferred_type
    return Violation(
        feature.name,
        DATA_TYPE_CHECK,
        # Model Monitor's wording (reference §3.1, a real report)
        f"Data type match requirement is not met. Expected data type: {kind}, Expected match: "
        f"{java_double(threshold * 100.0)}%. Observed: Only {java_double(share * 100.0)}% of "
        f"data is {kind}.",
        share,
        threshold,
    )


def _drift(feature: str, value: float, threshold: float) -> Violation:
    # contains "distance: <x> exceeds threshold: <y>", what AWS's own parsers look for
    return Violation(
        feature,
        BASELINE_DRIFT_CHECK,
        f"Baseline drift distance: {java_double(value)} exceeds threshold: "
        f"{java_double(threshold)}",
        value,
        threshold,
    )


def _generic(value: float) -> str:
    # the older wording, trailing space included (the SDK's fixture; AWS's parsers expect it)
    return f"Value: {java_double(value)} does not meet the constraint requirement! "


def java_double(x: float) -> str:
    """`x` as Java's Double.toString writes it, as Model Monitor (Scala) does in descriptions:
    the shortest digits that read back as x; `1.0E-5` and `1.0E7` outside [10^-3, 10^7)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = repr(float(x))
        return text if "e" not in text else format(Decimal(text), "f")
    sign, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    shown = "".join(map(str, digits))
    mantissa = shown[0] + "." + (shown[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{exponent + len(digits) - 1}"
