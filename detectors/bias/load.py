"""The bias-drift baseline as the watcher holds it: which facet groups, which metrics, the
baseline's values (and counts), and the rule for positive predicted labels.

Read from a baseline folder: `analysis.json` (required: ours or Clarify's own), and beside it,
when present, `analysis_config.json` (the Clarify analysis config: `label_values_or_threshold`,
`probability_threshold`, facet values) and `bias_counts.json` (driftstream's counts). Without
the config, the label rule is read from analysis.json's `label_value_or_threshold` (a list of
labels, or a continuous label's interval) and the output is taken as the label itself; copy a
Clarify job's analysis config beside a Clarify analysis.json to give a score's
`probability_threshold`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from driftstream.detectors.baseline.model import PREDICTION, Baseline
from driftstream.detectors.bias.analysis import (
    ANALYSIS,
    ANALYSIS_CONFIG,
    COUNTS,
    read_analysis,
    read_counts,
)
from driftstream.detectors.bias.config import BiasConfigError, load_bias_config
from driftstream.detectors.bias.groups import (
    FacetGroup,
    PredictedPositive,
    as_text,
    group_for_entry,
    interval_lower_bound,
    predicted_positive,
)
from driftstream.detectors.bias.metrics import (
    LIVE_METRICS,
    BaselineMetric,
    Metric,
    metric_value,
)


@dataclass(frozen=True)
class MonitoredGroup:
    """One facet group and the baseline of each metric monitored for it."""

    group: FacetGroup
    baseline: dict[Metric, BaselineMetric]


@dataclass(frozen=True)
class BiasDriftBaseline:
    label: str
    label_value_or_threshold: str
    positive: PredictedPositive
    groups: tuple[MonitoredGroup, ...]

    @property
    def sources(self) -> int:
        """Alarm sources sharing the false-alarm budget: metrics × facet groups."""
        return sum(len(g.baseline) for g in self.groups)


def has_bias_baseline(directory: Path) -> bool:
    return (directory / ANALYSIS).is_file()


def load_bias_drift_baseline(directory: Path, baseline: Baseline) -> BiasDriftBaseline:
    """Read the bias-drift baseline of `directory` for the data-quality `baseline` (whose
    features must hold the facet columns and the model output); BiasConfigError (one line)
    when unusable."""
    path = directory / ANALYSIS
    analysis = read_analysis(path)
    try:
        output = baseline.feature(PREDICTION)
    except KeyError:
        raise BiasConfigError(
            f"{path}: the baseline has no {PREDICTION!r} feature; bias drift needs the model "
            "output (baseline --label-column)"
        ) from None
    configured: dict[str, list[list[object]]] = {}
    config_path = directory / ANALYSIS_CONFIG
    try:
        if config_path.is_file():
            config = load_bias_config(config_path)
            for facet in config.facet:
                if facet.value_or_threshold is not None:
                    configured.setdefault(str(facet.name_or_index), []).append(
                        list(facet.value_or_threshold)
                    )
            positive = predicted_positive(
                config.label_values_or_threshold,
                config.probability_threshold,
                output.inferred_type,
            )
        else:
            positive = _rule_from_analysis(analysis.label_value_or_threshold, output.inferred_type)
    except ValueError as exc:
        raise BiasConfigError(f"{config_path if config_path.is_file() else path}: {exc}") from None
    counts = read_counts(directory / COUNTS) if (directory / COUNTS).is_file() else {}
    inputs = {f.name: f for f in baseline.inputs}
    groups: list[MonitoredGroup] = []
    for result in analysis.facets:
        feature = inputs.get(result.facet)
        if feature is None:
            raise BiasConfigError(
                f"{path}: facet {result.facet!r} is not an input feature of the baseline "
                "(statistics.json); bias drift reads it from the captured records"
            )
        values = configured.get(result.facet, [])
        exact = next(
            (v for v in values if ",".join(as_text(x) for x in v) == result.value_or_threshold),
            None,
        )
        try:
            group = group_for_entry(
                result.facet,
                result.value_or_threshold,
                numeric=feature.is_numeric,
                configured=exact,
            )
        except ValueError as exc:
            raise BiasConfigError(f"{path}: {exc}") from None
        known = counts.get((result.facet, result.value_or_threshold))
        monitored: dict[Metric, BaselineMetric] = {}
        for metric in LIVE_METRICS:
            found = result.metric(metric)
            if found is None or math.isnan(found.value):
                continue
            if known is not None and not _agrees(metric_value(metric, known), found.value):
                raise BiasConfigError(
                    f"{directory / COUNTS} does not match {path} ({metric} of {group.label}): "
                    f"rebuild the baseline, or delete {COUNTS}"
                )
            monitored[metric] = BaselineMetric(found.value, known)
        if monitored:
            groups.append(MonitoredGroup(group, monitored))
    if not groups:
        raise BiasConfigError(f"{path}: no facet has a DPPL or DI value to monitor")
    return BiasDriftBaseline(
        analysis.label, analysis.label_value_or_threshold, positive, tuple(groups)
    )


def _rule_from_analysis(label_value_or_threshold: str, output_type: str) -> PredictedPositive:
    threshold = interval_lower_bound(label_value_or_threshold)
    if threshold is not None:
        return PredictedPositive((label_value_or_threshold,), label_threshold=threshold)
    return predicted_positive(label_value_or_threshold.split(","), None, output_type)


def _agrees(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
