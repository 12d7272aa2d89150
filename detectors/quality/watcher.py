"""Model quality from delayed ground truth: a Watcher that joins labels to predictions, checks
each window's Model Monitor metrics against the model-quality constraints, and watches the
error stream online.

What it sees (detectors/base.py RowBatch): every captured row with its prediction (the feature
`prediction`, or the first model output), inferenceId and eventId, and the labels released with
the batch (`ground_truth`, detectors/ground_truth.py: each with the capture record at which it
became available). Per position in the stream, a record's rows come first, then the labels
released at it; nothing depends on how the stream was cut into batches.

The join (bounded; checkpointed with the monitor): a captured row waits under its inferenceId,
else its eventId, until its label arrives; a label that arrives before its prediction waits
under its eventId until the prediction does. A prediction waiting longer than `ttl_seconds` of
inferenceTime or `ttl_records` records, or pushed out as the oldest of more than
`max_pending_predictions`, expires (`predictions_expired`); a label likewise goes unmatched
(`labels_unmatched`). So memory is bounded whatever the labels do. A record of several rows is
paired row by row with a label of as many values; values that cannot be read as the problem
type's (`labels.py`) are `labels_unusable`.

Per window (a duration of inferenceTime or a record count, `WindowSpec`; a window holds the pairs
*matched* while its records were read): with at least `min_pairs` pairs (fewer carry over to the
next window), every metric is computed (readings `(metric, "model_quality")`, CloudWatch's
model-metrics) and each constrained metric compared with its constraint. Model Monitor compares
as is; a window is a small sample, so (unless `sampling_aware` is off) a metric must be past its
threshold by more than z·SE·sqrt(1 + n/N): SE the metric's bootstrap standard error on the n
pairs, N the baseline's pairs (its own sampling error), z the normal quantile of the window's
share of the false-alarm budget (β per record, this check one alarm source, Bonferroni over the
metrics). A metric that goes from within to violated is a `violation` event, detector
`model_quality_check`, `metric`, its value and the constraint's threshold, at the window's last
record (record windows) or the record that closed it (duration windows). Its reading is
(excess past the threshold, allowance): the drift score is above 1 exactly while violated.

Online: every matched pair's error (0/1 misclassification, or the absolute error) feeds a
Page-Hinkley detector in mode "up", standardised with the baseline's error rate (or its absolute
errors' mean and σ) and its threshold calibrated to its share of the budget exactly as a
feature's is (detectors/calibration.py, on a stationary stream drawn from the baseline's
errors). An alarm is a `drift` event, detector `model_quality_page_hinkley`, metric `accuracy`
(`mae` for regression), at the position of the label that raised it: the last captured record
read when it arrived.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import StrictStr

from driftstream.detectors import registry
from driftstream.detectors.base import DriftDetector, RowBatch, Watcher
from driftstream.detectors.baseline.model import NumericStats, is_output_name
from driftstream.detectors.calibration import (
    fit_feature,
    fit_page_hinkley,
    page_hinkley_threshold,
    per_source_rate,
    standardise,
)
from driftstream.detectors.constraints.window import WindowSpec, epoch_seconds
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.page_hinkley import PageHinkley
from driftstream.detectors.quality.files import ModelQualityBaseline
from driftstream.detectors.quality.labels import make_pairs, prediction_value, truth_value
from driftstream.detectors.quality.metrics import (
    SCALARS,
    Pairs,
    ProblemType,
    standard_errors,
)
from driftstream.detectors.quality.settings import ModelQualitySettings
from driftstream.detectors.settings import DetectorSettings
from driftstream.detectors.state import Index, MaybeFinite, StateError, StateModel, parse

NAME = "model_quality"
CHECK = "model_quality_check"
VALUES = "model_quality"
ONLINE = "model_quality_page_hinkley"
STATE_VERSION = 1

COUNTS = (
    "labels_received",
    "labels_rejected",
    "labels_matched",
    "labels_unmatched",
    "labels_duplicate",
    "labels_unusable",
    "labels_pending_at_end",
    "predictions_expired",
    "predictions_duplicate",
    "predictions_without_id",
    "predictions_pending_at_end",
    "pairs",
)

Value = float | str | None
Waiting = tuple[int, float | None, tuple[Any, ...]]  # record, clock when it came, values


class _State(StateModel):
    version: Literal[1]
    identity: StrictStr
    window: StrictStr
    position: Index
    clock: MaybeFinite
    predictions: list[tuple[StrictStr, Index, MaybeFinite, list[StrictStr | float | None]]]
    labels: list[tuple[StrictStr, Index, MaybeFinite, list[StrictStr]]]
    truth: list[StrictStr | float]
    prediction: list[StrictStr | float]
    window_end: int | None
    evaluated_at: int | None
    windows: Index
    active: list[StrictStr]
    counts: dict[StrictStr, Index]
    detector: dict[str, Any] | None
    readings: list[tuple[StrictStr, StrictStr, MaybeFinite, MaybeFinite]]


def prediction_column(
    numeric: Sequence[str], categorical: Sequence[str]
) -> tuple[bool, int] | None:
    """(numeric?, column) of the model output in the decoded layout: `prediction`, else the
    first output (`prediction_0`); None when the baseline has none."""
    for names, is_numeric in ((numeric, True), (categorical, False)):
        if "prediction" in names:
            return is_numeric, list(names).index("prediction")
    for names, is_numeric in ((numeric, True), (categorical, False)):
        for j, name in enumerate(names):
            if is_output_name(name):
                return is_numeric, j
    return None


def error_stats(baseline: ModelQualityBaseline) -> NumericStats | None:
    """The baseline's error stream as a distribution to calibrate from: a Bernoulli of its
    error rate (1 − accuracy; never 0: (errors + ½)/(n + 1)), or its absolute errors'
    quantiles (regression); None when the files do not say."""
    n = max(baseline.item_count, 1.0)
    if baseline.problem.is_classification:
        accuracy = baseline.metrics.get("accuracy")
        if accuracy is None or not math.isfinite(accuracy.value):
            return None
        p = ((1.0 - accuracy.value) * n + 0.5) / (n + 1.0)
        return NumericStats(
            num_present=n,
            num_missing=0.0,
            mean=p,
            sum=p * n,
            std_dev=math.sqrt(p * (1.0 - p)),
            min=0.0,
            max=1.0,
            sketch_items=np.array([0.0, 1.0]),
            sketch_weights=np.array([n * (1.0 - p), n * p]),
        )
    quantiles = np.sort(np.asarray(baseline.absolute_errors, dtype=np.float64))
    if quantiles.shape[0] < 2:
        return None
    mean = float(quantiles.mean())
    std = float(quantiles.std())
    if not std > 0:
        return None
    return NumericStats(
        num_present=n,
        num_missing=0.0,
        mean=mean,
        sum=mean * n,
        std_dev=std,
        min=float(quantiles[0]),
        max=float(quantiles[-1]),
        sketch_items=quantiles,
        sketch_weights=np.full(quantiles.shape[0], n / quantiles.shape[0]),
    )


class ModelQuality(Watcher):
    """Model quality against ground truth (see the module docstring)."""

    name: ClassVar[str] = NAME

    def __init__(
        self,
        baseline: ModelQualityBaseline,
        numeric: Sequence[str],
        categorical: Sequence[str],
        window: WindowSpec,
        settings: ModelQualitySettings,
        detectors: DetectorSettings,
    ) -> None:
        column = prediction_column(numeric, categorical)
        if column is None:
            raise ValueError(
                "model quality needs the model output: the baseline has no feature `prediction`"
            )
        self.baseline = baseline
        self.problem = baseline.problem
        self.window = window
        self.settings = settings
        self.detector_settings = detectors
        self._numeric_output, self._column = column
        self._stats = error_stats(baseline)
        self.metric = "accuracy" if self.problem.is_classification else "mae"
        self._beta = math.nan
        self._detector: DriftDetector | None = None
        self._reset()

    def _reset(self) -> None:
        self._position = 0  # the next record index expected
        self._clock: float | None = None  # latest inferenceTime seen (epoch seconds)
        self._predictions: OrderedDict[str, Waiting] = OrderedDict()
        self._labels: OrderedDict[str, Waiting] = OrderedDict()
        self._truth: list[float | str] = []
        self._prediction: list[float | str] = []
        self._window_end: int | None = None  # record index or epoch second
        self._evaluated_at: int | None = None  # position of the last evaluation
        self._windows = 0
        self._active: set[str] = set()
        self._counts: Counter[str] = Counter(dict.fromkeys(COUNTS, 0))
        self._readings: dict[tuple[str, str], tuple[float, float]] = {}
        self._events: list[Event] = []
        self._errors: list[tuple[int, float]] = []
        #: each judged window's metric values, for the retrain policy (observations)
        self._measured: list[Event] = []

    # -- calibration ------------------------------------------------------------------------

    def alarm_sources(self) -> int:
        """The window check, and the online detector when the baseline says its errors."""
        return 2 if self._stats is not None else 1

    def calibrate(self, per_source_rate: float) -> None:
        self._beta = per_source_rate
        if self._stats is None:
            return
        settings = self.detector_settings
        proto = next(p for p in registry.configure(settings) if p.name == PageHinkley.name)
        threshold = proto.configured
        if threshold is None:
            reference = proto.reference.clone(mode="up")
            fits = fit_feature(
                self._stats,
                settings.clip_sigma,
                {PageHinkley.name: (reference, fit_page_hinkley)},
                settings.calibration,
            )
            threshold = page_hinkley_threshold(fits[PageHinkley.name], 1.0 / per_source_rate)
        self._detector = proto.detector.clone(mode="up", threshold=threshold)

    def _ensure_calibrated(self) -> None:
        if math.isnan(self._beta):  # outside a Monitor: the budget alone
            rate = per_source_rate(
                self.detector_settings.false_alarms_per_million, self.alarm_sources()
            )
            self.calibrate(rate)

    # -- processing -------------------------------------------------------------------------

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        self._ensure_calibrated()
        self._events = []
        self._errors = []
        if self._window_end is None and not self.window.by_time:
            self._window_end = (batch.first_index // self.window.size + 1) * self.window.size
        rows = batch.row_record.tolist()
        truths = batch.ground_truth
        label_records = truths.record.tolist()
        self._counts["labels_rejected"] += sum(truths.rejected.values())
        if self._numeric_output:
            values: list[Any] = batch.numeric[:, self._column].tolist()
        else:
            values = batch.categorical[:, self._column].tolist()
        ids = batch.inference_id if len(batch.inference_id) == len(rows) else [None] * len(rows)
        i, k = 0, 0
        while i < len(rows) or k < len(label_records):
            if k >= len(label_records) or (i < len(rows) and rows[i] <= label_records[k]):
                j = i + 1
                while j < len(rows) and rows[j] == rows[i]:
                    j += 1
                self._record(rows[i], batch, ids, values, i, j)
                i = j
            else:
                position = label_records[k]
                self._close_record_windows(position)
                self._label(position, truths.event_id[k], truths.values[k])
                k += 1
        end = batch.first_index + batch.n_records
        self._position = max(self._position, end)
        self._close_record_windows(end)
        self._online()
        return self._events

    def _record(
        self,
        record: int,
        batch: RowBatch,
        ids: Sequence[str | None],
        values: Sequence[Any],
        start: int,
        stop: int,
    ) -> None:
        """The rows [start, stop) of one captured record."""
        self._close_record_windows(record)
        when = epoch_seconds(batch.inference_time[start])
        if when is not None:
            if self.window.by_time:
                self._close_time_windows(when, record)
            if self._clock is None or when > self._clock:
                self._clock = float(when)
        self._expire(record)
        key = ids[start] or batch.event_id[start]
        if key is None:
            self._counts["predictions_without_id"] += stop - start
            return
        predictions = tuple(values[start:stop])
        waiting = self._labels.pop(key, None)
        if waiting is not None:
            self._pair(record, predictions, waiting[2])
            return
        if key in self._predictions:
            self._counts["predictions_duplicate"] += 1
            return
        self._predictions[key] = (record, self._clock, predictions)
        while len(self._predictions) > self.settings.join.max_pending_predictions:
            self._predictions.popitem(last=False)
            self._counts["predictions_expired"] += 1

    def _label(self, position: int, key: str, values: tuple[str, ...]) -> None:
        self._counts["labels_received"] += 1
        self._expire(position)
        waiting = self._predictions.pop(key, None)
        if waiting is not None:
            self._pair(position, waiting[2], values)
            return
        if key in self._labels:
            self._counts["labels_duplicate"] += 1
            return
        self._labels[key] = (position, self._clock, values)
        while len(self._labels) > self.settings.join.max_pending_labels:
            self._labels.popitem(last=False)
            self._counts["labels_unmatched"] += 1

    def _expire(self, position: int) -> None:
        """Drop what waited longer than the time-to-live (the oldest first: both buffers are
        in arrival order)."""
        join = self.settings.join
        for buffer, count in (
            (self._predictions, "predictions_expired"),
            (self._labels, "labels_unmatched"),
        ):
            while buffer:
                record, clock, _ = next(iter(buffer.values()))
                too_old = join.ttl_records is not None and position - record > join.ttl_records
                if not too_old and join.ttl_seconds is not None and clock is not None:
                    too_old = self._clock is not None and self._clock - clock > join.ttl_seconds
                if not too_old:
                    break
                buffer.popitem(last=False)
                self._counts[count] += 1

    def _pair(self, position: int, predictions: tuple[Any, ...], labels: tuple[str, ...]) -> None:
        self._counts["labels_matched"] += 1
        if len(predictions) != len(labels):
            self._counts["labels_unusable"] += len(labels)
            return
        threshold = self.baseline.probability_threshold
        for predicted, label in zip(predictions, labels, strict=True):
            truth = truth_value(self.problem, label)
            prediction = prediction_value(self.problem, predicted)
            if truth is None or prediction is None:
                self._counts["labels_unusable"] += 1
                continue
            self._counts["pairs"] += 1
            self._truth.append(truth)
            self._prediction.append(prediction)
            if self.problem is ProblemType.BINARY:
                error = float((float(prediction) > threshold) != (float(truth) > 0.5))
            elif self.problem is ProblemType.MULTICLASS:
                error = float(truth != prediction)
            else:
                error = abs(float(prediction) - float(truth))
            self._errors.append((position, error))
            if len(self._truth) >= self.settings.max_window_pairs:
                self._evaluate(position)

    # -- windows ----------------------------------------------------------------------------

    def _close_record_windows(self, position: int) -> None:
        """Record windows: every window that ends at or before `position` is over (its last
        record and the labels released at it were handled)."""
        if self.window.by_time:
            return
        size = self.window.size
        if self._window_end is None:
            self._window_end = (position // size + 1) * size
            return
        while self._window_end <= position:
            self._evaluate(self._window_end - 1)
            self._window_end += size

    def _close_time_windows(self, when: int, record: int) -> None:
        """Duration windows: a record at or past the window's end closes it (at that record)."""
        size = self.window.size
        if self._window_end is None:
            self._window_end = (when // size + 1) * size
            return
        if when >= self._window_end:
            self._evaluate(record)
            self._window_end = (when // size + 1) * size

    def _evaluate(self, position: int) -> None:
        """Judge the pairs matched since the last evaluation, if there are enough."""
        n = len(self._truth)
        if n < self.settings.min_pairs:
            return
        pairs = make_pairs(
            self.problem, self._truth, self._prediction, self.baseline.probability_threshold
        )
        start = self._evaluated_at if self._evaluated_at is not None else -1
        records = max(position - start, 1)
        self._windows += 1
        self._evaluated_at = position
        self._truth, self._prediction = [], []
        values = pairs.metrics()
        for name in SCALARS[self.problem]:
            self._readings[(name, VALUES)] = (values[name], math.nan)
            # for the retrain policy's own thresholds, violated here or not (observations)
            self._measured.append(
                Event(
                    EventKind.VIOLATION,
                    record_index=position,
                    detector=VALUES,
                    value=values[name],
                    extra={"metric": name, "pairs": n},
                )
            )
        names = [name for name in self.baseline.constraints if name in values]
        if not names:
            return
        allowance = self._allowances(pairs, names, records)
        for name in names:
            constraint = self.baseline.constraints[name]
            value = values[name]
            self._readings[(name, CHECK)] = (constraint.excess(value), allowance[name])
            if constraint.violated(value, allowance[name]):
                if name not in self._active:
                    self._active.add(name)
                    self._events.append(
                        Event(
                            EventKind.VIOLATION,
                            record_index=position,
                            detector=CHECK,
                            value=value,
                            threshold=constraint.threshold,
                            extra={
                                "metric": name,
                                "comparison_operator": constraint.comparison_operator.value,
                                "allowance": allowance[name],
                                "pairs": n,
                            },
                        )
                    )
            else:
                self._active.discard(name)

    def _allowances(self, pairs: Pairs, names: list[str], records: int) -> dict[str, float]:
        """How far past its threshold each metric may be by sampling alone (module docstring)."""
        if not self.settings.sampling_aware:
            return dict.fromkeys(names, 0.0)
        rng = np.random.default_rng([self._windows, len(pairs)])
        errors = standard_errors(pairs, names, rng, self.settings.bootstrap_resamples)
        alpha = min(self._beta * records, 0.5) / len(names)
        z = NormalDist().inv_cdf(1.0 - alpha)
        n_baseline = self.baseline.item_count
        inflation = math.sqrt(1.0 + len(pairs) / n_baseline) if n_baseline > 0 else 1.0
        return {
            name: z * errors[name] * inflation if math.isfinite(errors[name]) else math.inf
            for name in names
        }

    # -- online -----------------------------------------------------------------------------

    def _online(self) -> None:
        detector, stats = self._detector, self._stats
        if detector is None or stats is None or not self._errors:
            return
        positions = [p for p, _ in self._errors]
        raw = np.asarray([e for _, e in self._errors], dtype=np.float64)
        xs = standardise(raw, stats.mean, stats.std_dev, self.detector_settings.clip_sigma)
        hits = detector.update_many(xs)
        alarm_values, alarm_thresholds = detector.alarm_statistics
        for h, v, t in zip(
            hits.tolist(), alarm_values.tolist(), alarm_thresholds.tolist(), strict=True
        ):
            self._events.append(
                Event(
                    EventKind.DRIFT,
                    record_index=positions[h],
                    detector=ONLINE,
                    value=v,
                    threshold=t,
                    extra={"metric": self.metric},
                )
            )
        self._readings[(self.metric, ONLINE)] = (detector.statistic, detector.threshold)

    def finish(self) -> list[Event]:
        """The stream ended: judge the pairs left (if enough), count what still waits."""
        self._events, self._errors = [], []
        last = self._position - 1
        if self._truth:
            self._evaluate(max(last, 0))
        self._counts["predictions_pending_at_end"] += len(self._predictions)
        self._counts["labels_pending_at_end"] += len(self._labels)
        self._predictions.clear()
        self._labels.clear()
        return self._events

    # -- what others read -------------------------------------------------------------------

    def observations(self) -> list[Event]:
        measured, self._measured = self._measured, []
        return measured

    def readings(self) -> dict[tuple[str, str], tuple[float, float]]:
        return dict(self._readings)

    def event_labels(self) -> list[tuple[EventKind, str | None, str | None]]:
        labels: list[tuple[EventKind, str | None, str | None]] = [
            (EventKind.VIOLATION, None, CHECK)
        ]
        if self._stats is not None:
            labels.append((EventKind.DRIFT, None, ONLINE))
        return labels

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    # -- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        def finite(x: float | None) -> float | None:
            return x if x is not None and math.isfinite(x) else None

        def values(vs: tuple[Any, ...]) -> list[Any]:
            return [finite(v) if isinstance(v, float) else v for v in vs]

        return {
            "version": STATE_VERSION,
            "identity": self.baseline.identity,
            "window": str(self.window),
            "position": self._position,
            "clock": self._clock,
            "predictions": [[k, r, c, values(v)] for k, (r, c, v) in self._predictions.items()],
            "labels": [[k, r, c, list(v)] for k, (r, c, v) in self._labels.items()],
            "truth": list(self._truth),
            "prediction": list(self._prediction),
            "window_end": self._window_end,
            "evaluated_at": self._evaluated_at,
            "windows": self._windows,
            "active": sorted(self._active),
            "counts": dict(self._counts),
            "detector": self._detector.state_dict() if self._detector is not None else None,
            "readings": [[m, d, finite(v), finite(t)] for (m, d), (v, t) in self._readings.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        doc = parse(_State, state, "model quality state")
        if doc.identity != self.baseline.identity:
            raise StateError(
                f"made with model-quality baseline {doc.identity!r}, not "
                f"{self.baseline.identity!r}; delete the checkpoint to start afresh"
            )
        if doc.window != str(self.window):
            raise StateError(
                f"made with window {doc.window}, not {self.window}; delete the checkpoint to "
                "start afresh"
            )
        if len(doc.truth) != len(doc.prediction):
            raise StateError("truth and prediction differ in length")
        unknown = sorted(set(doc.counts) - set(COUNTS))
        if unknown:
            raise StateError(f"counts: unknown count {unknown[0]!r}")
        detector = None
        if self._detector is not None:
            if doc.detector is None:
                raise StateError("detector: missing")
            detector = self._detector.clone()
            detector.load_state(doc.detector)
        # everything checked: from here on nothing can fail
        self._reset()
        self._detector = detector
        self._position = doc.position
        self._clock = doc.clock
        for key, record, clock, vs in doc.predictions:
            restored = tuple(math.nan if v is None else v for v in vs)
            self._predictions[key] = (record, clock, restored)
        for key, record, clock, labels in doc.labels:
            self._labels[key] = (record, clock, tuple(labels))
        self._truth = list(doc.truth)
        self._prediction = list(doc.prediction)
        self._window_end = doc.window_end
        self._evaluated_at = doc.evaluated_at
        self._windows = doc.windows
        self._active = set(doc.active)
        self._counts.update(doc.counts)
        self._readings = {
            (m, d): (math.nan if v is None else v, math.nan if t is None else t)
            for m, d, v, t in doc.readings
        }
