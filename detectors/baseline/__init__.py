"""Model Monitor baselines: profile training data, write and read statistics.json/constraints.json.

`build_baseline` is the CLI's entry point; `load_baseline` gives the frozen `Baseline` that the
decoder schema, detector calibration and distribution checks read.
"""

from driftstream.detectors.baseline.build import build_baseline
from driftstream.detectors.baseline.errors import BaselineError
from driftstream.detectors.baseline.files import load_baseline, write_baseline
from driftstream.detectors.baseline.model import (
    NUMERIC_TYPES,
    PREDICTION,
    Baseline,
    CategoricalStats,
    FeatureBaseline,
    InferredType,
    MonitoringConfig,
    NumericStats,
    is_output_name,
)
from driftstream.detectors.baseline.profile import BaselineWarning, DatasetProfile, profile_rows

__all__ = [
    "NUMERIC_TYPES",
    "PREDICTION",
    "Baseline",
    "BaselineError",
    "BaselineWarning",
    "CategoricalStats",
    "DatasetProfile",
    "FeatureBaseline",
    "InferredType",
    "MonitoringConfig",
    "NumericStats",
    "build_baseline",
    "is_output_name",
    "load_baseline",
    "profile_rows",
    "write_baseline",
]
