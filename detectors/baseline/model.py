"""The baseline as driftstream holds it in memory: Model Monitor's statistics and constraints.

Read from (and written to) `statistics.json` + `constraints.json` by `detectors.baseline.files`.
Everything downstream (decoder schema, detector calibration, distribution checks) reads these
frozen objects only, never the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

InferredType = Literal["Integral", "Fractional", "String", "Unknown"]
NUMERIC_TYPES: frozenset[str] = frozenset({"Integral", "Fractional"})
PREDICTION = "prediction"


def is_output_name(name: str) -> bool:
    """True for the model-output feature names of the CLI contract: `prediction`, `prediction_N`."""
    if name == PREDICTION:
        return True
    prefix = PREDICTION + "_"
    return name.startswith(prefix) and name[len(prefix) :].isdigit()


@dataclass(frozen=True)
class NumericStats:
    """numerical_statistics of one feature; the KLL sketch flattened to (items, weights)."""

    num_present: float
    num_missing: float
    mean: float
    sum: float
    std_dev: float  # population standard deviation, as Model Monitor writes it
    min: float
    max: float
    sketch_items: npt.NDArray[np.float64]  # sorted ascending
    sketch_weights: npt.NDArray[np.float64]  # 2**level of each item, aligned with sketch_items
    sketch_k: float = 2048.0
    sketch_c: float = 0.64

    def cdf(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Baseline CDF at x: weight of sketch items <= x over the total weight."""
        # a leading 0 makes "no item <= x" an ordinary lookup, and keeps an empty sketch
        # (a feature with no present values) from indexing an empty array
        cum = np.concatenate(([0.0], np.cumsum(self.sketch_weights)))
        pos = np.searchsorted(self.sketch_items, np.asarray(x, dtype=np.float64), side="right")
        total = cum[-1] if cum[-1] > 0 else 1.0
        return np.asarray(cum[pos] / total, dtype=np.float64)

    def sample(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        """Draw n values from the sketch's weighted empirical distribution (for calibration)."""
        p = self.sketch_weights / self.sketch_weights.sum()
        return np.asarray(rng.choice(self.sketch_items, size=n, p=p), dtype=np.float64)


@dataclass(frozen=True)
class CategoricalStats:
    """string_statistics of one feature: per-category counts from the categorical buckets."""

    num_present: float
    num_missing: float
    distinct_count: float
    counts: dict[str, float] = field(default_factory=dict)  # empty for high-cardinality strings


@dataclass(frozen=True)
class FeatureBaseline:
    """One feature: statistics plus the constraints.json entry for it."""

    name: str
    inferred_type: InferredType
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    completeness: float = 1.0  # constraint: minimum fraction of non-null values
    domain: tuple[str, ...] | None = None  # string_constraints.domains
    is_non_negative: bool | None = None  # num_constraints.is_non_negative
    evaluate_constraints: bool = True  # per-feature monitoring_config_overrides
    #: this feature's monitoring_config where its overrides change the baseline's; None: the
    #: baseline's (`Baseline.monitoring_of`)
    monitoring: MonitoringConfig | None = None

    @property
    def is_numeric(self) -> bool:
        return self.inferred_type in NUMERIC_TYPES

    @property
    def is_output(self) -> bool:
        return is_output_name(self.name)


@dataclass(frozen=True)
class MonitoringConfig:
    """constraints.json `monitoring_config`, with Model Monitor's suggested defaults."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: Literal["Robust", "Simple"] = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] = "LInfinity"


@dataclass(frozen=True)
class Baseline:
    """Both baseline files, in statistics.json feature order."""

    features: tuple[FeatureBaseline, ...]
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    item_count: float = 0.0
    identity: str = ""  # short sha256 over both files' bytes; names the baseline in signals

    @property
    def inputs(self) -> tuple[FeatureBaseline, ...]:
        """Input features, in captured CSV column order."""
        return tuple(f for f in self.features if not f.is_output)

    @property
    def outputs(self) -> tuple[FeatureBaseline, ...]:
        """Model-output features (`prediction`, `prediction_0`, ...), in order."""
        return tuple(f for f in self.features if f.is_output)

    def monitoring_of(self, feature: FeatureBaseline) -> MonitoringConfig:
        """The monitoring config that applies to `feature`: its overrides, else the baseline's."""
        return feature.monitoring if feature.monitoring is not None else self.monitoring

    def feature(self, name: str) -> FeatureBaseline:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)
