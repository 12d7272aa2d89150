"""Bias drift per window: the Watcher behind the baseline's `analysis.json`.

Records are cut into the report windows of `--violations-window` (detectors/constraints/
window.py: the same windows, closed at the same records, filed under the same folders as the
constraint reports). Per window and facet group, the rows of facet d and of facet a and their
positive predicted labels are counted; when the window closes, DPPL and DI are tested against
the baseline (metrics.py: `judge`), and the window hands over, under its folder's `model_bias/`
(Model Monitor files a bias-drift job's output apart from the data-quality job's):

- `analysis.json`: the window's DPPL and DI per facet group, in Clarify's format (null with an
  `error` where a group had no row), readable back as a bias baseline;
- `constraint_violations.json`: Clarify's bias-drift violations (`bias_drift_check`), an empty
  list when none.

Each violation is also a `drift` event of detector `bias_drift` with `metric`, `facet`, `value`
(the window's metric) and `threshold` (the edge of the range the baseline allows, on the value's
side: docs/bias-drift.md); its `record_index` is the record that closed the window (a record
window: its last record).

False alarms: the budget F of `detectors.false_alarms_per_million` is split over the metrics ×
facet groups (calibration.per_source_rate), and a window of n rows tests each at
α = min(β·n, ALPHA_CAP), so false alarms stay at most F per million rows of the stream whatever
the window's length. The open window's counts are checkpointed with the monitor; the readings
for metrics reappear with the next closed window after a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, StrictInt, StrictStr

from driftstream.detectors.base import Document, RowBatch, Watcher
from driftstream.detectors.bias.analysis import (
    ANALYSIS,
    VIOLATIONS,
    BiasAnalysis,
    FacetResult,
    MetricResult,
    violation,
    violations_document,
)
from driftstream.detectors.bias.load import BiasDriftBaseline
from driftstream.detectors.bias.metrics import GroupCounts, Verdict, judge, metric_value
from driftstream.detectors.calibration import per_source_rate
from driftstream.detectors.constraints.window import (
    NO_KEY,
    REMEMBERED_FOLDERS,
    WindowFolders,
    WindowSpec,
    duration_folder,
    epoch_seconds,
    iso,
    window_keys,
)
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.state import Index, StateError, StateModel, parse

DETECTOR = "bias_drift"
#: the window folder's subfolder for the bias-drift files
SUBFOLDER = "model_bias"
#: a window is never tested more loosely than a 95 % interval, however long it is
ALPHA_CAP = 0.05

_NONE = NO_KEY  # no window key known (no inferenceTime yet)
BoolArray = npt.NDArray[np.bool_]
#: (positive, prediction present, facet d per group, facet present per group) of a batch's rows
Tallies = tuple[BoolArray, BoolArray, list[BoolArray], list[BoolArray]]


@dataclass
class _Window:
    key: int | None  # inferenceTime // size, or record index // size; None: not known yet
    first_record: int
    last_record: int
    counts: npt.NDArray[np.int64]  # (groups, 4): rows_a, positive_a, rows_d, positive_d
    rows: int = 0
    start: int | None = None  # record windows: inferenceTime of the first record having one
    last_time: str | None = None


class BiasDrift(Watcher):
    """DPPL and DI of the predicted labels per facet group and window, against the bias
    baseline (module docstring). `numeric` and `categorical` are the decoded matrices' columns
    (FeatureLayout); the facet columns and `prediction` must be among them."""

    name: ClassVar[str] = DETECTOR

    def __init__(
        self,
        baseline: BiasDriftBaseline,
        numeric: Sequence[str],
        categorical: Sequence[str],
        window: WindowSpec,
        *,
        false_alarms_per_million: float = 1.0,
    ) -> None:
        self.baseline = baseline
        self.window = window
        self.false_alarms_per_million = false_alarms_per_million
        self._beta = per_source_rate(false_alarms_per_million, baseline.sources)
        self._numeric = tuple(numeric)
        self._categorical = tuple(categorical)
        for column in {g.group.facet for g in baseline.groups} | {"prediction"}:
            if column not in self._numeric and column not in self._categorical:
                raise ValueError(f"bias drift: column {column!r} is not decoded")
        self.labels = [g.group.label for g in baseline.groups]
        self._open: _Window | None = None
        self._latest_time: int | None = None
        self._folders = WindowFolders()
        self._documents: list[Document] = []
        self._readings: dict[tuple[str, str], tuple[float, float]] = {}
        self._seconds: dict[str, int | None] = {}

    # -- the Watcher contract ------------------------------------------------------------------

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        rows = batch.row_record
        n_rows = int(rows.shape[0])
        rejections = list(batch.rejections)
        records = np.concatenate(
            [rows, np.fromiter((r.record_index for r in rejections), np.int64, len(rejections))]
        )
        if records.shape[0] == 0:
            return []
        times = [*batch.inference_time, *(r.inference_time for r in rejections)]
        seconds = np.fromiter(
            (s if (s := self._epoch(t)) is not None else _NONE for t in times),
            np.int64,
            len(times),
        )
        order = np.argsort(records, kind="stable")
        records, seconds = records[order], seconds[order]
        keys = self._keys(records, seconds)
        known = seconds != _NONE
        if known.any():
            latest = int(seconds[known].max())
            if self._latest_time is None or latest > self._latest_time:
                self._latest_time = latest
        tallies = self._tallies(batch) if n_rows else None
        events: list[Event] = []
        cuts = np.flatnonzero(np.diff(keys)) + 1
        for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(keys)], strict=True):
            key = int(keys[a])
            events += self._enter(None if key == _NONE else key, int(records[a]), times[order[a]])
            window = self._open
            assert window is not None
            part = order[a:b]
            in_rows = part[part < n_rows]
            if in_rows.shape[0] and tallies is not None:
                r0, r1 = int(in_rows[0]), int(in_rows[-1]) + 1
                window.counts += _count(tallies, r0, r1)
                window.rows += r1 - r0
            window.last_record = int(records[b - 1])
            timed = np.flatnonzero(known[a:b])
            if timed.shape[0]:
                if window.start is None:
                    window.start = int(seconds[a + timed[0]])
                window.last_time = times[int(order[a + timed[-1]])]
            if not self.window.by_time and window.last_record == self._last_index(window):
                events += self._close(window.last_record, times[int(order[b - 1])])
        return events

    def finish(self) -> list[Event]:
        if self._open is None:
            return []
        return self._close(self._open.last_record, self._open.last_time)

    def documents(self) -> list[Document]:
        docs, self._documents = self._documents, []
        return docs

    def readings(self) -> dict[tuple[str, str], tuple[float, float]]:
        return dict(self._readings)

    def event_labels(self) -> list[tuple[EventKind, str | None, str | None]]:
        return [(EventKind.DRIFT, None, DETECTOR)]

    # -- counting -------------------------------------------------------------------------------

    def _column(self, batch: RowBatch, name: str) -> tuple[Any, bool]:
        if name in self._numeric:
            return batch.numeric[:, self._numeric.index(name)], True
        return batch.categorical[:, self._categorical.index(name)], False

    def _tallies(self, batch: RowBatch) -> Tallies:
        output, numeric = self._column(batch, "prediction")
        rule = self.baseline.positive
        positive, present = rule.numeric(output) if numeric else rule.strings(output)
        in_d: list[BoolArray] = []
        facet_present: list[BoolArray] = []
        cache: dict[str, tuple[Any, bool]] = {}
        for monitored in self.baseline.groups:
            group = monitored.group
            if group.facet not in cache:
                cache[group.facet] = self._column(batch, group.facet)
            column, is_numeric = cache[group.facet]
            d, here = group.numeric(column) if is_numeric else group.strings(column)
            in_d.append(d)
            facet_present.append(here)
        return positive, present, in_d, facet_present

    # -- windows -------------------------------------------------------------------------------

    def _epoch(self, text: str | None) -> int | None:
        if text is None:
            return None
        if text not in self._seconds:
            if len(self._seconds) > 100_000:  # a stream of distinct seconds: keep it bounded
                self._seconds.clear()
            self._seconds[text] = epoch_seconds(text)
        return self._seconds[text]

    def _keys(
        self, records: npt.NDArray[np.int64], seconds: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        current = self._open.key if self._open is not None else None
        return window_keys(self.window, current, records, seconds)

    def _last_index(self, window: _Window) -> int:
        assert window.key is not None  # record windows always know theirs
        return (window.key + 1) * self.window.size - 1

    def _enter(self, key: int | None, record: int, time: str | None) -> list[Event]:
        events: list[Event] = []
        window = self._open
        if window is not None and window.key is not None and key != window.key:
            events = self._close(record, time)
            window = None
        if window is None:
            counts = np.zeros((len(self.baseline.groups), 4), dtype=np.int64)
            self._open = _Window(key, record, record, counts)
        elif window.key is None:
            window.key = key
        return events

    def _start(self, window: _Window) -> int:
        if self.window.by_time:
            return window.key * self.window.size if window.key is not None else 0
        if window.start is not None:
            return window.start
        return self._latest_time if self._latest_time is not None else 0

    def _folder(self, window: _Window) -> str:
        start = self._start(window)
        if self.window.by_time:
            return duration_folder(start, self.window)
        return self._folders.folder(start, window.first_record)

    def _close(self, trigger: int, trigger_time: str | None) -> list[Event]:
        """Test the open window (module docstring): its files, its readings, and an event per
        violation, of the record `trigger` (inferenceTime `trigger_time`)."""
        window = self._open
        assert window is not None
        self._open = None
        folder = f"{self._folder(window)}/{SUBFOLDER}"
        alpha = min(self._beta * max(window.rows, 1), ALPHA_CAP)
        results: list[FacetResult] = []
        found: list[dict[str, str]] = []
        events: list[Event] = []
        for monitored, counts_row in zip(self.baseline.groups, window.counts, strict=True):
            group = monitored.group
            counts = GroupCounts(*(int(c) for c in counts_row))
            metrics: list[MetricResult] = []
            for metric, base in monitored.baseline.items():
                verdict = judge(metric, counts, base, alpha)
                metrics.append(
                    MetricResult(metric, metric_value(metric, counts), counts.empty_group)
                )
                if verdict is None:
                    continue
                self._readings[(f"{metric}[{group.label}]", DETECTOR)] = (
                    verdict.statistic,
                    verdict.threshold,
                )
                if verdict.breached:
                    found.append(
                        violation(
                            group.facet, group.value_or_threshold, metric, verdict.value, base.value
                        )
                    )
                    events.append(
                        self._event(verdict, group.label, trigger, trigger_time, window, folder)
                    )
            results.append(FacetResult(group.facet, group.value_or_threshold, tuple(metrics)))
        analysis = BiasAnalysis(
            self.baseline.label, self.baseline.label_value_or_threshold, tuple(results)
        )
        self._documents += [
            Document(f"{folder}/{ANALYSIS}", analysis.to_json()),
            Document(f"{folder}/{VIOLATIONS}", violations_document(found)),
        ]
        return events

    def _event(
        self,
        verdict: Verdict,
        facet: str,
        trigger: int,
        trigger_time: str | None,
        window: _Window,
        folder: str,
    ) -> Event:
        return Event(
            EventKind.DRIFT,
            record_index=trigger,
            detector=DETECTOR,
            value=verdict.value,
            threshold=verdict.boundary,
            inference_time=trigger_time,
            extra={
                "metric": verdict.metric,
                "facet": facet,
                "baseline_value": verdict.baseline,
                "interval": list(verdict.interval),
                "window_start": iso(self._start(window)),
                "window_records": [window.first_record, window.last_record],
                "report": f"{folder}/{VIOLATIONS}",
            },
        )

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        window = self._open
        return {
            "groups": list(self.labels),
            "latest_time": self._latest_time,
            "folders": list(self._folders.used),
            "window": None
            if window is None
            else {
                "key": window.key,
                "first_record": window.first_record,
                "last_record": window.last_record,
                "rows": window.rows,
                "start": window.start,
                "last_time": window.last_time,
                "counts": window.counts.tolist(),
            },
        }

    def load_state(self, state: dict[str, Any]) -> None:
        doc = parse(_State, state, "bias_drift")
        if doc.groups != self.labels:
            raise StateError(
                "bias_drift: groups: the checkpoint's facet groups are not analysis.json's"
            )
        window = None
        if doc.window is not None:
            w = doc.window
            if len(w.counts) != len(self.labels):
                raise StateError("bias_drift: window.counts: one row per facet group expected")
            for row in w.counts:
                if row[1] > row[0] or row[3] > row[2]:
                    raise StateError("bias_drift: window.counts: more positive than rows")
            if w.last_record < w.first_record:
                raise StateError("bias_drift: window: last_record before first_record")
            counts = np.asarray(w.counts, dtype=np.int64).reshape(len(self.labels), 4)
            window = _Window(
                w.key, w.first_record, w.last_record, counts, w.rows, w.start, w.last_time
            )
        self._open = window
        self._latest_time = doc.latest_time
        self._folders = WindowFolders(list(doc.folders))
        self._readings = {}


def _count(tallies: Tallies, r0: int, r1: int) -> npt.NDArray[np.int64]:
    """(groups, 4) counts of rows r0:r1: rows_a, positive_a, rows_d, positive_d."""
    positive, present, in_d, facet_present = tallies
    pos = positive[r0:r1]
    out = np.zeros((len(in_d), 4), dtype=np.int64)
    for g, (d_all, here) in enumerate(zip(in_d, facet_present, strict=True)):
        use = present[r0:r1] & here[r0:r1]
        d = use & d_all[r0:r1]
        a = use & ~d_all[r0:r1]
        out[g] = (
            np.count_nonzero(a),
            np.count_nonzero(a & pos),
            np.count_nonzero(d),
            np.count_nonzero(d & pos),
        )
    return out


Count = Annotated[list[Index], Field(min_length=4, max_length=4)]


class _WindowState(StateModel):
    key: StrictInt | None
    first_record: Index
    last_record: Index
    rows: Index
    start: StrictInt | None
    last_time: StrictStr | None
    counts: list[Count]


class _State(StateModel):
    groups: list[StrictStr]
    latest_time: StrictInt | None
    folders: Annotated[list[StrictStr], Field(max_length=REMEMBERED_FOLDERS)]
    window: _WindowState | None
