"""Bias drift (docs/bias-drift.md): Clarify's post-training bias metrics of the predicted labels.

`build_bias_baseline` (`baseline --bias-config FILE`) writes the baseline folder's analysis.json
(baseline.py); `BiasDrift` (watcher.py) tests DPPL and DI of every facet group per report window
against it (metrics.py), with the baseline as `load_bias_drift_baseline` reads it (load.py). The
Clarify config (config.py), Clarify's files (analysis.py), and who is in a facet and which
outputs are positive (groups.py) sit beside them.
"""

from driftstream.detectors.bias.analysis import ANALYSIS, BiasAnalysis, read_analysis
from driftstream.detectors.bias.baseline import BiasBaseline, build_bias_baseline
from driftstream.detectors.bias.config import AnalysisConfig, BiasConfigError, load_bias_config
from driftstream.detectors.bias.load import (
    BiasDriftBaseline,
    has_bias_baseline,
    load_bias_drift_baseline,
)
from driftstream.detectors.bias.watcher import BiasDrift

__all__ = [
    "ANALYSIS",
    "AnalysisConfig",
    "BiasAnalysis",
    "BiasBaseline",
    "BiasConfigError",
    "BiasDrift",
    "BiasDriftBaseline",
    "build_bias_baseline",
    "has_bias_baseline",
    "load_bias_config",
    "load_bias_drift_baseline",
    "read_analysis",
]
