"""What the report knows of one run: the events of an events.jsonl, typed.

`read.py` builds a `RunEvents` from the file; the plots and the page read only these frozen
objects, never JSON. Everything the summary event may lack (an interrupted run, an events file
written before the trace and distributions were added) is `None` or empty here, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Checks whose statistic is a share of good values: breached when it falls *below* the threshold.
LOWER_BOUND_CHECKS = frozenset(
    {"completeness_check", "data_type_check", "categorical_values_check"}
)
# A violation of Model Monitor's distribution comparison is drift, not a data-quality finding.
DRIFT_CHECKS = frozenset({"baseline_drift_check"})
MODEL_QUALITY_PREFIX = "model_quality"
BIAS_DETECTOR = "bias_drift"


@dataclass(frozen=True)
class Detection:
    """A `drift` or `violation` event: `value` crossed `threshold` at `record_index`."""

    kind: str
    detector: str
    feature: str | None = None
    record_index: int | None = None
    value: float | None = None
    threshold: float | None = None
    metric: str | None = None  # model quality and bias
    facet: str | None = None  # bias
    partition: str | None = None  # "topic/3" for events of a live run of several partitions

    @property
    def area(self) -> str:
        """Which panel of the report it belongs to: model_quality, bias, drift or data_quality."""
        if self.detector.startswith(MODEL_QUALITY_PREFIX):
            return "model_quality"
        if self.detector == BIAS_DETECTOR:
            return "bias"
        if self.kind == "drift" or self.detector in DRIFT_CHECKS:
            return "drift"
        return "data_quality"


@dataclass
class RejectionReason:
    """The `rejected` events of one reason, counted (a damaged capture may hold millions)."""

    reason: str
    count: int = 0
    first_record: int | None = None
    example: str | None = None  # the detail of the first one


@dataclass
class Anomalies:
    """The `anomaly` events, counted."""

    count: int = 0
    first_record: int | None = None
    top_score: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class RetrainSignal:
    record_index: int | None
    features: tuple[str, ...]
    feature_share: float | None = None
    record_range: tuple[int, int] | None = None
    decision: str | None = None
    key: str | None = None
    #: `drift` or `quality`; for quality, the breach: (detector, metric, value, threshold)
    trigger: str | None = None
    breach: tuple[str, str, float | None, float | None] | None = None


@dataclass(frozen=True)
class Point:
    record_index: int
    statistic: float | None
    threshold: float | None


@dataclass(frozen=True)
class Series:
    """One detector's statistic and threshold over the run, for one feature (summary `trace`)."""

    feature: str
    detector: str
    points: tuple[Point, ...]
    lower_bound: bool = False  # a share check: breached when the statistic is below
    partition: str | None = None


@dataclass(frozen=True)
class NumericDistribution:
    """Baseline probabilities and recent counts over the bins between `edges` (summary
    `distributions`); `below`/`above` count recent values outside [edges[0], edges[-1]]."""

    feature: str
    edges: tuple[float, ...]
    baseline: tuple[float, ...] | None
    recent: tuple[int, ...]
    below: int = 0
    above: int = 0
    missing: int = 0


@dataclass(frozen=True)
class CategoricalDistribution:
    feature: str
    categories: tuple[str, ...]
    baseline: tuple[float, ...] | None
    recent: tuple[int, ...]
    missing: int = 0


Distribution = NumericDistribution | CategoricalDistribution


@dataclass(frozen=True)
class Summary:
    """The counts of the `summary` event (the last line of a finished or stopped run)."""

    records_read: int | None = None
    records_used: int | None = None
    records_rejected: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None
    interrupted: bool = False


@dataclass
class RunEvents:
    """Everything an events.jsonl says, as the report reads it."""

    source: str  # the events file's name, for the page title
    summary: Summary | None = None
    detections: list[Detection] = field(default_factory=list)
    rejections: dict[str, RejectionReason] = field(default_factory=dict)
    anomalies: Anomalies = field(default_factory=Anomalies)
    signals: list[RetrainSignal] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    window: int | None = None  # rows of the recent window of `distributions`
    lines: int = 0  # non-blank lines read
    malformed_lines: int = 0  # not a JSON object with a `kind`: skipped
    skipped_parts: int = 0  # trace series or distributions not in the expected shape: skipped
    last_record: int | None = None  # the highest record_index seen in any event or trace

    def in_area(self, area: str) -> list[Detection]:
        return [d for d in self.detections if d.area == area]

    def drifted_features(self) -> list[str]:
        """Features with a drift detection, in the order of their first detection."""
        firsts: dict[str, int] = {}
        for d in self.in_area("drift"):
            if d.feature is not None:
                at = d.record_index if d.record_index is not None else -1
                firsts[d.feature] = min(firsts.get(d.feature, at), at)
        return sorted(firsts, key=lambda name: (firsts[name], name))

    def series_of(self, feature: str) -> list[Series]:
        return [s for s in self.series if s.feature == feature]
