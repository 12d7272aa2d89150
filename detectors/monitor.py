"""The monitor: every feature's detectors and checks, fed one decoded batch at a time.

Called by the processing loop (streamer/runtime/service.py) with consecutive batches; returns the
events of each batch in record order. Results never depend on how the stream was cut into
batches: sequential detectors see the same values in the same order, and window checks are
evaluated at fixed row counts (every `hop` rows once `size` rows have been seen).

Per numeric feature with a spread in the baseline: every registered sequential detector
(detectors/registry.py: ADWIN and Page-Hinkley), cloned from its configured prototype, on values
standardised with the baseline's mean and standard deviation and clipped to ±clip_sigma, its
alarm parameter calibrated (detectors/calibration.py). Per feature: the window checks
(detectors/window_checks.py). After the checks, the retrain policy (detectors/retrain.py) sees
which features are in drift at every window evaluation, then the watchers' events, all in record
order once the batch has run (a model-quality event before a window evaluation of the same
record), so its decisions do not depend on how the stream was cut into batches either.

What metrics read (`view()`, a copy made per batch): the latest (statistic, threshold) of every
detector and evaluated window check, the samples behind each and when each was last computed
(wall clock: the verdict's age on a dashboard), the breached checks, and the numeric values of
the batch just processed, summarised per feature (CloudWatch's `feature_data_*`).

What the report reads (`report_data()`, once at the end of a run): every reading every `hop`
rows (detectors/trace.py, bounded), and the distribution of the last window's values against
the baseline's, per feature.
"""

from __future__ import annotations

import copy
import importlib.metadata
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from numba import njit

from driftstream.detectors import recent, registry
from driftstream.detectors.base import (
    CheckResult,
    Document,
    DriftDetector,
    RowBatch,
    Watcher,
    WindowCheck,
)
from driftstream.detectors.baseline.model import Baseline, FeatureBaseline
from driftstream.detectors.calibration import (
    WINDOW_SAFETY,
    Fit,
    FitFunction,
    fit_feature,
    per_source_rate,
    standardise,
)
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.retrain import Evidence, RetrainPolicy, is_bias, is_quality
from driftstream.detectors.settings import DetectorSettings
from driftstream.detectors.state import MonitorStateDocument, StateError, parse
from driftstream.detectors.trace import Trace
from driftstream.detectors.window_checks import (
    NumericWindow,
    categorical_checks,
    numeric_checks,
)

DETECTOR_ORDER = (
    *registry.names(),
    "distribution",
    "baseline_drift_check",
    "completeness_check",
    "data_type_check",
    "categorical_values_check",
)
# checks whose breach says "the data moved", as opposed to "the data broke": retrain evidence
DRIFT_EVIDENCE = frozenset({*registry.names(), "distribution", "baseline_drift_check"})


STATE_VERSION = 1

Reading = tuple[float, float]  # (statistic, threshold)
W = TypeVar("W")


def _evidence_list(ev: Evidence) -> list[Any]:
    return [ev.detector, ev.value, ev.threshold, ev.record_index]


@dataclass(frozen=True)
class _Observation:
    """One window evaluation as the retrain policy sees it (fed once the batch has run)."""

    row: int
    record: int
    time: str | None
    drifted: dict[str, Evidence]


@dataclass
class _Sequential:
    """The sequential detectors of one numeric feature, with its standardisation."""

    name: str
    column: int
    mean: float
    scale: float
    detectors: list[DriftDetector]


@dataclass
class _Alarm:
    row: int
    evidence: Evidence


@dataclass(frozen=True)
class Calibrated:
    """What calibration chose for one feature (reported in logs, metrics and docs)."""

    parameters: dict[str, float]  # "<detector>_<parameter>", e.g. "adwin_delta"
    fits: dict[str, Fit]  # by detector name


@dataclass(frozen=True)
class ValueSummary:
    """One numeric feature's present values in one batch: CloudWatch's StatisticValues."""

    count: int
    total: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class MonitorView:
    """What metrics and CloudWatch read from a monitor: a copy, safe to keep or to send."""

    rows_seen: int
    current: dict[tuple[str, str], Reading]  # latest (statistic, threshold)
    active: frozenset[tuple[str, str]]  # (feature, detector) of breached window checks
    #: capture records of the batch this view follows, malformed ones included (0: none yet)
    records: int = 0
    #: that batch's values per numeric feature, for the features that had any
    values: dict[str, ValueSummary] = field(default_factory=dict)
    #: the values each reading in `current` rests on
    samples: dict[tuple[str, str], int] = field(default_factory=dict)
    #: when each reading in `current` was last computed (time.time() of its batch)
    evaluated_at: dict[tuple[str, str], float] = field(default_factory=dict)
    #: the watchers' running totals, by (watcher, name) (Watcher.counts)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class MonitorState:
    rows_seen: int = 0
    active: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    alarms: dict[str, list[_Alarm]] = field(default_factory=dict)


@dataclass
class _Tail:
    """The last `size` rows seen, where the next windows begin (checkpointed)."""

    numeric: npt.NDArray[np.float64]
    codes: npt.NDArray[np.int64]
    record: npt.NDArray[np.int64]
    time: list[str | None]
    event_id: list[str | None]

    @classmethod
    def empty(cls, n_numeric: int, n_categorical: int) -> _Tail:
        return cls(
            np.empty((0, n_numeric)),
            np.empty((0, n_categorical), dtype=np.int64),
            np.empty(0, dtype=np.int64),
            [],
            [],
        )

    @property
    def rows(self) -> int:
        return int(self.record.shape[0])

    def extended(self, batch: RowBatch, codes: npt.NDArray[np.int64]) -> _Tail:
        """These rows followed by the batch's (its categorical values as `codes`)."""
        return _Tail(
            np.concatenate([self.numeric, batch.numeric]),
            np.concatenate([self.codes, codes]),
            np.concatenate([self.record, batch.row_record]),
            self.time + list(batch.inference_time),
            self.event_id + list(batch.event_id),
        )

    def last(self, n: int) -> _Tail:
        return _Tail(
            self.numeric[-n:], self.codes[-n:], self.record[-n:], self.time[-n:], self.event_id[-n:]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "numeric": [
                [None if math.isnan(v) else v for v in row] for row in self.numeric.tolist()
            ],
            "categorical": self.codes.tolist(),
            "record": self.record.tolist(),
            "time": self.time,
            "id": self.event_id,
        }


@njit(cache=True, nogil=True)
def _column_summaries(
    numeric: npt.NDArray[np.float64],
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]
]:  # pragma: no cover - compiled
    """One pass over the rows: per column, count, sum, min and max of the non-NaN values
    (numpy's masked reductions took four passes and as many temporaries)."""
    n_cols = numeric.shape[1]
    count = np.zeros(n_cols, dtype=np.int64)
    total = np.zeros(n_cols)
    low = np.full(n_cols, np.inf)
    high = np.full(n_cols, -np.inf)
    for i in range(numeric.shape[0]):
        for j in range(n_cols):
            x = numeric[i, j]
            if not np.isnan(x):
                count[j] += 1
                total[j] += x
                low[j] = min(low[j], x)
                high[j] = max(high[j], x)
    return count, total, low, high


def summarise_values(
    numeric: npt.NDArray[np.float64], names: Sequence[str]
) -> dict[str, ValueSummary]:
    """Count, sum, minimum and maximum of each column's present values (columns without any
    are left out), computed column-wise over the whole batch at once."""
    if numeric.shape[0] == 0:
        return {}
    count, total, low, high = _column_summaries(np.ascontiguousarray(numeric))
    return {
        name: ValueSummary(int(count[j]), float(total[j]), float(low[j]), float(high[j]))
        for j, name in enumerate(names)
        if count[j] > 0
    }


def _evaluate(checks: Sequence[WindowCheck[W]], window: W) -> list[CheckResult]:
    results = (check.evaluate(window) for check in checks)
    return [r for r in results if r is not None]


class Monitor:
    """All detectors of one endpoint (see the module docstring)."""

    def __init__(
        self,
        baseline: Baseline,
        numeric_columns: tuple[str, ...],
        categorical_columns: tuple[str, ...],
        settings: DetectorSettings,
        *,
        endpoint: str = "",
        config_identity: str = "",
        watchers: Sequence[Watcher] = (),
        lineage: Mapping[str, Any] | None = None,
        approval_required: bool = False,
    ) -> None:
        """`lineage` and `approval_required` go into retrain signals (detectors/retrain.py):
        where the baseline came from, and whether a person approves each signal."""
        self.baseline = baseline
        #: constraint reports, model quality, bias drift (detectors/base.py: Watcher)
        self.watchers = list(watchers)
        self.settings = settings
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.window = settings.window.size
        self.hop = settings.window.hop
        self._order = {name: i for i, name in enumerate(f.name for f in baseline.features)}
        by_name = {f.name: f for f in baseline.features}
        spread = [n for n in numeric_columns if _has_spread(by_name[n])]

        self.prototypes = registry.configure(settings)
        # the watchers' alarm sources share the budget (a monitor without any is unchanged)
        watched = sum(watcher.alarm_sources() for watcher in self.watchers)
        self.n_sources = self._count_sources(by_name, spread) + watched
        self.beta = per_source_rate(settings.false_alarms_per_million, self.n_sources)
        for watcher in self.watchers:
            watcher.calibrate(self.beta)
        self.target_arl0 = 1.0 / self.beta
        self.calibration: dict[str, Calibrated] = {}
        self._sequential = [
            self._build_sequential(by_name[n], numeric_columns.index(n)) for n in spread
        ]
        alpha = min(self.beta * self.hop / WINDOW_SAFETY, 0.5)
        monitoring = baseline.monitoring
        self._numeric_checks = [
            numeric_checks(by_name[n], monitoring, alpha, self.window) for n in numeric_columns
        ]
        categorical = [
            categorical_checks(by_name[n], monitoring, alpha, self.window)
            for n in categorical_columns
        ]
        self._codes = [codes for codes, _ in categorical]
        self._categorical_checks = [checks for _, checks in categorical]
        self.policy = RetrainPolicy(
            settings.retrain,
            [*numeric_columns, *categorical_columns],
            baseline_identity=baseline.identity,
            config_identity=config_identity,
            endpoint=endpoint,
            lineage={**(lineage or {}), "detectors": self._detectors_lineage()},
            approval_required=approval_required,
        )
        self._observations: list[_Observation] = []
        self.state = MonitorState()
        self._tail = _Tail.empty(len(numeric_columns), len(categorical_columns))
        #: latest (statistic, threshold) per (feature, detector), replaced after every batch
        #: (never changed in place: readers on other threads keep a consistent copy)
        self.current: dict[tuple[str, str], Reading] = {}
        self.samples: dict[tuple[str, str], int] = {}
        self.evaluated_at: dict[tuple[str, str], float] = {}
        self._evaluated: set[tuple[str, str]] = set()
        #: the wall clock of `evaluated_at` (the age of a verdict on dashboards); nothing else
        #: here reads the time
        self.clock: Callable[[], float] = time.time
        self._records = 0
        self._values: dict[str, ValueSummary] = {}
        #: readings every `hop` rows for the report (not checkpointed: it covers this run)
        self.trace = Trace(settings.trace_points)

    # -- construction ---------------------------------------------------------------------

    def _detectors_lineage(self) -> dict[str, Any]:
        """What a retrain signal says about the detectors that decided it: the version, the
        registered detectors, the watchers and the settings (calibrated parameters follow from
        these and the baseline)."""
        try:
            version = importlib.metadata.version("driftstream")
        except importlib.metadata.PackageNotFoundError:  # a checkout that is not installed
            version = "unknown"
        settings = self.settings.model_dump(mode="json", exclude={"calibration": {"cache_dir"}})
        return {
            "driftstream": version,
            "registered": list(registry.names()),
            "watchers": [w.name for w in self.watchers],
            "settings": settings,
        }

    def _count_sources(self, by_name: dict[str, FeatureBaseline], spread: list[str]) -> int:
        """Alarm sources sharing the false-alarm budget: every sequential detector of each
        numeric feature with spread, one distribution test per feature that has a baseline
        distribution, one completeness test per feature."""
        with_sketch = [n for n in self.numeric_columns if by_name[n].numeric is not None]
        with_counts = [n for n in self.categorical_columns if _has_counts(by_name[n])]
        return (
            len(self.prototypes) * len(spread)
            + len(with_sketch)
            + len(with_counts)
            + len(self.numeric_columns + self.categorical_columns)
        )

    def _build_sequential(self, feature: FeatureBaseline, column: int) -> _Sequential:
        """Clone every prototype for `feature`, its alarm parameter calibrated on the feature's
        baseline (or as configured)."""
        stats = feature.numeric
        assert stats is not None
        calibrated: dict[str, tuple[DriftDetector, FitFunction]] = {
            p.name: (p.reference, p.calibration.fit)
            for p in self.prototypes
            if p.calibration is not None
        }
        fits = fit_feature(stats, self.settings.clip_sigma, calibrated, self.settings.calibration)
        detectors: list[DriftDetector] = []
        parameters: dict[str, float] = {}
        for proto in self.prototypes:
            detector, chosen = proto.clone_for(fits.get(proto.name), self.target_arl0)
            detectors.append(detector)
            parameters.update({f"{proto.name}_{k}": v for k, v in chosen.items()})
        self.calibration[feature.name] = Calibrated(parameters, fits)
        return _Sequential(feature.name, column, stats.mean, stats.std_dev, detectors)

    # -- processing -----------------------------------------------------------------------

    def process(self, batch: RowBatch) -> list[Event]:
        """Run one batch through every detector; return its events in record order."""
        n_rows = int(batch.row_record.shape[0])
        self._records = batch.n_records
        self._values = summarise_values(batch.numeric, self.numeric_columns)
        self._evaluated = set()
        if n_rows == 0 and not self.watchers:
            return []
        first_row = self.state.rows_seen
        events: list[Event] = []
        if n_rows:
            events = self._run_sequential(batch, first_row, n_rows)
            events.extend(self._run_windows(batch, first_row, n_rows))
        # watchers see every batch, one of rejected records only included (they count them)
        watched: list[Event] = []
        for watcher in self.watchers:
            watched.extend(watcher.process(batch, first_row))
        events.extend(watched)
        measured = [m for watcher in self.watchers for m in watcher.observations()]
        events.extend(self._decide(watched, batch, first_row, measured))
        self.state.rows_seen += n_rows
        self.current, self.samples = self._readings()
        now = self.clock()
        self.evaluated_at.update((key, now) for key in self._evaluated)
        events.sort(key=self._event_order)
        return events

    def _event_order(self, e: Event) -> tuple[int, int, int, int]:
        kind_last = 1 if e.kind is EventKind.RETRAIN_SIGNAL else 0
        return (
            e.record_index or 0,
            kind_last,
            self._order.get(e.feature or "", len(self._order)),
            DETECTOR_ORDER.index(e.detector) if e.detector in DETECTOR_ORDER else 99,
        )

    def _run_sequential(self, batch: RowBatch, first_row: int, n_rows: int) -> list[Event]:
        """Every sequential detector over the batch's values; while the trace is on, fed in
        pieces that end at the `hop` boundaries, where the trace takes their readings (the
        alarms are the same however the values are cut)."""
        events: list[Event] = []
        ends = self._hop_ends(first_row, n_rows) if self.trace.enabled else []
        for seq in self._sequential:
            col = batch.numeric[:, seq.column]
            present = ~np.isnan(col)
            rows = np.flatnonzero(present) if not present.all() else None
            values = col if rows is None else col[rows]
            if values.shape[0]:
                self._evaluated.update((seq.name, det.name) for det in seq.detectors)
            z = standardise(values, seq.mean, seq.scale, self.settings.clip_sigma)
            # values before each hop boundary, then all of them
            cuts = ends if rows is None else np.searchsorted(rows, ends).tolist()
            for det in seq.detectors:
                start = 0
                for i, stop in enumerate([*cuts, z.shape[0]]):
                    if stop > start:
                        hits = det.update_many(z[start:stop]) + start
                        if hits.shape[0]:
                            positions = hits if rows is None else rows[hits]
                            events.extend(self._alarms(seq.name, det, positions, batch, first_row))
                        start = stop
                    if i < len(ends):
                        record = int(batch.row_record[ends[i] - 1])
                        self.trace.add((seq.name, det.name), record, det.statistic, det.threshold)
        return events

    def _hop_ends(self, first_row: int, n_rows: int) -> list[int]:
        """Batch rows before each `hop` boundary the batch reaches (1 = after its first row)."""
        first = (first_row // self.hop + 1) * self.hop
        return list(range(first - first_row, n_rows + 1, self.hop))

    def _alarms(
        self,
        feature: str,
        det: DriftDetector,
        positions: npt.NDArray[np.int64],
        batch: RowBatch,
        first_row: int,
    ) -> list[Event]:
        """The drift events of `det`'s alarms at batch rows `positions`; each one is also kept
        as retrain evidence."""
        events: list[Event] = []
        stat_values, stat_thresholds = det.alarm_statistics
        for i, row in enumerate(positions.tolist()):
            value, threshold = float(stat_values[i]), float(stat_thresholds[i])
            record = int(batch.row_record[row])
            events.append(
                Event(
                    EventKind.DRIFT,
                    record_index=record,
                    feature=feature,
                    detector=det.name,
                    value=None if np.isnan(value) else value,
                    threshold=None if np.isnan(threshold) else threshold,
                    event_id=batch.event_id[row],
                    inference_time=batch.inference_time[row],
                )
            )
            self.state.alarms.setdefault(feature, []).append(
                _Alarm(first_row + row, Evidence(det.name, value, threshold, record))
            )
        return events

    def _run_windows(self, batch: RowBatch, first_row: int, n_rows: int) -> list[Event]:
        codes = np.empty((n_rows, len(self.categorical_columns)), dtype=np.int64)
        for j, encoder in enumerate(self._codes):
            codes[:, j] = encoder.encode(batch.categorical[:, j].tolist())
        rows = self._tail.extended(batch, codes)
        offset = first_row - self._tail.rows  # global row of rows.numeric[0]
        events: list[Event] = []
        b = (first_row // self.hop + 1) * self.hop
        while b <= first_row + n_rows:
            if b >= self.window:
                lo, hi = b - self.window - offset, b - offset
                events.extend(
                    self._evaluate_window(
                        rows.numeric[lo:hi],
                        rows.codes[lo:hi],
                        b,
                        int(rows.record[hi - 1]),
                        rows.time[hi - 1],
                        rows.event_id[hi - 1],
                    )
                )
            b += self.hop
        self._tail = rows.last(self.window)
        return events

    def _evaluate_window(
        self,
        numeric: npt.NDArray[np.float64],
        categorical: npt.NDArray[np.int64],
        row: int,
        record: int,
        time: str | None,
        event_id: str | None,
    ) -> list[Event]:
        results: list[CheckResult] = []
        # one contiguous row per feature sorts faster than strided columns; NaN sorts last
        ordered = np.sort(np.ascontiguousarray(numeric.T), axis=1)
        missing = np.isnan(numeric).sum(axis=0)
        for j, num_checks in enumerate(self._numeric_checks):
            n_missing = int(missing[j])
            window = NumericWindow(ordered[j, : numeric.shape[0] - n_missing], n_missing)
            results.extend(_evaluate(num_checks, window))
        for j, cat_checks in enumerate(self._categorical_checks):
            results.extend(_evaluate(cat_checks, self._codes[j].window(categorical[:, j])))
        for r in results:
            self._evaluated.add((r.feature, r.detector))
            self.trace.add((r.feature, r.detector), record, r.value, r.threshold)
        events = self._breaches(results, record, time, event_id)
        self._observations.append(_Observation(row, record, time, self._drifted(row, record)))
        return events

    def _decide(
        self,
        watched: list[Event],
        batch: RowBatch,
        first_row: int,
        measured: Sequence[Event] = (),
    ) -> list[Event]:
        """The retrain policy's decisions on this batch: its window evaluations, the
        watchers' model-quality and bias events, and their measurements (Watcher.observations:
        judged by the policy's quality thresholds only), in record order (an event before a
        window evaluation of the same record)."""
        quiet = {id(m) for m in measured}
        evidence = sorted(
            [*(e for e in watched if is_quality(e) or is_bias(e)), *measured],
            key=lambda e: e.record_index or 0,
        )
        observations, self._observations = self._observations, []
        records = batch.row_record
        decisions: list[Event | None] = []
        for event in evidence:
            record = event.record_index or 0
            while observations and observations[0].record < record:
                decisions.append(self._observe(observations.pop(0)))
            # the rows read up to its record, and that record's inferenceTime (or the last one
            # before it: a label's event may sit at a rejected record)
            rows = int(np.searchsorted(records, record, side="right"))
            time = batch.inference_time[rows - 1] if rows else None
            decisions.append(
                self.policy.observe_event(
                    event, first_row + rows, time, measurement=id(event) in quiet
                )
            )
        decisions.extend(self._observe(o) for o in observations)
        return [d for d in decisions if d is not None]

    def _observe(self, o: _Observation) -> Event | None:
        return self.policy.observe(o.row, o.record, o.time, o.drifted)

    def _breaches(
        self, results: list[CheckResult], record: int, time: str | None, event_id: str | None
    ) -> list[Event]:
        """One event per check that went from "within" to "breached"; the breached set kept."""
        events: list[Event] = []
        for r in results:
            key = (r.feature, r.detector)
            was = key in self.state.active
            if r.breached:
                self.state.active[key] = r
                if not was:
                    events.append(
                        Event(
                            r.kind,
                            record_index=record,
                            feature=r.feature,
                            detector=r.detector,
                            value=r.value,
                            threshold=r.threshold,
                            event_id=event_id,
                            inference_time=time,
                        )
                    )
            elif was:
                del self.state.active[key]
        return events

    def _drifted(self, row: int, record: int) -> dict[str, Evidence]:
        """Features in drift at `row`: an active drift check, or an alarm in the last window;
        each with its strongest evidence (the largest statistic / threshold, the first of
        equals: active checks, then the latest alarm)."""
        found: dict[str, list[Evidence]] = {}
        for (feature, detector), r in self.state.active.items():
            if detector in DRIFT_EVIDENCE:
                found.setdefault(feature, []).append(
                    Evidence(detector, r.value, r.threshold, record)
                )
        for feature, alarms in list(self.state.alarms.items()):
            recent = [a for a in alarms if a.row > row - self.window]
            self.state.alarms[feature] = recent
            before = [a.evidence for a in recent if a.row < row]
            if before:
                found.setdefault(feature, []).extend(reversed(before))
        return {
            feature: max(candidates, key=lambda ev: ev.effect_size)
            for feature, candidates in found.items()
        }

    # -- readings and state ---------------------------------------------------------------

    def _readings(self) -> tuple[dict[tuple[str, str], Reading], dict[tuple[str, str], int]]:
        """(statistic, threshold) of every sequential detector (NaN while undefined) and of
        every window check evaluated at least once; and the samples behind each."""
        out: dict[tuple[str, str], Reading] = {}
        samples: dict[tuple[str, str], int] = {}
        for seq in self._sequential:
            for det in seq.detectors:
                out[(seq.name, det.name)] = (det.statistic, det.threshold)
                samples[(seq.name, det.name)] = det.samples
        for check in self._window_checks():
            if not math.isnan(check.statistic):
                out[(check.feature, check.name)] = (check.statistic, check.threshold)
                samples[(check.feature, check.name)] = check.samples
        for watcher in self.watchers:
            out.update(watcher.readings())
        return out, samples

    def finish(self) -> list[Event]:
        """The stream has ended: the watchers close what they hold open (Watcher.finish);
        their events in record order, their files through `take_documents`."""
        events = [event for watcher in self.watchers for event in watcher.finish()]
        # the view after this is of no batch: sinks that add up each batch's records and
        # values (CloudWatch) must not count the last batch twice
        self._records, self._values = 0, {}
        if events:
            self.current, self.samples = self._readings()
        rows = self.state.rows_seen
        measured = [m for watcher in self.watchers for m in watcher.observations()]
        judged = [(e, False) for e in events] + [(m, True) for m in measured]
        for event, measurement in sorted(judged, key=lambda j: j[0].record_index or 0):
            decision = self.policy.observe_event(
                event, rows, event.inference_time, measurement=measurement
            )
            if decision is not None:
                events.append(decision)
        events.sort(key=self._event_order)
        return events

    def take_documents(self) -> list[Document]:
        """The watchers' files made since the last call, for the report folder."""
        return [doc for watcher in self.watchers for doc in watcher.documents()]

    def _window_checks(self) -> Iterator[WindowCheck[Any]]:
        for num_checks in self._numeric_checks:
            yield from num_checks
        for cat_checks in self._categorical_checks:
            yield from cat_checks

    def event_labels(self) -> list[tuple[EventKind, str | None, str | None]]:
        """(kind, feature, detector) of every event `process` can emit: drift from each
        sequential detector, each window check's own kind, the retrain signal (no feature or
        detector). Fixed at construction; metrics create their counters from it at start-up,
        so that an alert on the increase of a counter sees its first event."""
        labels: list[tuple[EventKind, str | None, str | None]] = [
            (EventKind.DRIFT, seq.name, det.name)
            for seq in self._sequential
            for det in seq.detectors
        ]
        labels += [(check.kind, check.feature, check.name) for check in self._window_checks()]
        for watcher in self.watchers:
            labels += watcher.event_labels()
        labels.append((EventKind.RETRAIN_SIGNAL, None, None))
        return labels

    def view(self) -> MonitorView:
        return MonitorView(
            self.state.rows_seen,
            dict(self.current),
            frozenset(self.state.active),
            self._records,
            dict(self._values),
            dict(self.samples),
            dict(self.evaluated_at),
            {(w.name, name): n for w in self.watchers for name, n in w.counts().items()},
        )

    def report_data(self) -> dict[str, Any]:
        """What the report draws (module docstring): `trace`, the readings every `hop` rows
        (detectors/trace.py), and `distributions`, the last window's values per feature against
        the baseline's (detectors/recent.py); `watchers`, their counts (the run summary)."""
        by_name = {f.name: f for f in self.baseline.features}
        tail = self._tail
        numeric = (
            recent.numeric(by_name[name], tail.numeric[:, j])
            for j, name in enumerate(self.numeric_columns)
        )
        categorical = (
            recent.categorical(by_name[name], self._codes[j], tail.codes[:, j])
            for j, name in enumerate(self.categorical_columns)
        )
        features = [d for d in (*numeric, *categorical) if d is not None]
        counts = {w.name: w.counts() for w in self.watchers if w.counts()}
        return {
            "trace": self.trace.to_json(),
            "distributions": {"window": tail.rows, "features": features},
            **({"watchers": counts} if counts else {}),
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything the monitor has learnt, as JSON-compatible data (NaN written as null)."""
        return {
            "version": STATE_VERSION,
            "baseline": self.baseline.identity,
            "rows_seen": self.state.rows_seen,
            "active": [
                [r.feature, r.detector, r.kind.value, r.value, r.threshold]
                for r in self.state.active.values()
            ],
            "alarms": {
                feature: [[a.row, *_evidence_list(a.evidence)] for a in alarms]
                for feature, alarms in self.state.alarms.items()
            },
            "sequential": {
                seq.name: {det.name: det.state_dict() for det in seq.detectors}
                for seq in self._sequential
            },
            "policy": self.policy.state_dict(),
            "tail": self._tail.to_json(),
            "watchers": {w.name: w.state_dict() for w in self.watchers},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()` output made with the same baseline, or change nothing.

        The whole document is checked before anything is restored (detectors/state.py): its
        schema, then this monitor's features, detectors, columns and window. A document that
        fails raises StateError (a ValueError) with one line naming the key at fault."""
        version = state.get("version") if isinstance(state, dict) else None
        if type(version) is not int or version != STATE_VERSION:
            raise StateError(
                f"monitor state version {version!r} is not "
                f"{STATE_VERSION}; delete the checkpoint to start afresh"
            )
        doc = parse(MonitorStateDocument, state, "monitor state")
        if doc.baseline != self.baseline.identity:
            raise StateError(
                f"checkpoint was made with baseline {doc.baseline!r}, not "
                f"{self.baseline.identity}; delete the checkpoint to start afresh"
            )
        tail = self._restored_tail(doc)
        active = self._restored_active(doc)
        alarms = self._restored_alarms(doc)
        detectors = self._restored_detectors(doc)
        watchers = self._restored_watchers(doc)
        self._check_policy(doc)
        # everything checked: from here on nothing can fail
        self.state = MonitorState(doc.rows_seen, active, alarms)
        for seq, restored in zip(self._sequential, detectors, strict=True):
            seq.detectors = restored
        self.policy.load_state(doc.policy.model_dump())
        self._tail = tail
        self.watchers = watchers
        self.current, self.samples = self._readings()

    def _check_policy(self, doc: MonitorStateDocument) -> None:
        """The retrain policy's evidence names features of this monitor, each once."""
        names = set(self.numeric_columns + self.categorical_columns)
        seen: set[str] = set()
        for i, (feature, *_) in enumerate(doc.policy.drifted):
            if feature not in names or feature in seen:
                problem = "twice" if feature in seen else "is not a feature here"
                raise StateError(f"monitor state: policy.drifted[{i}]: {feature!r} {problem}")
            seen.add(feature)

    def _restored_tail(self, doc: MonitorStateDocument) -> _Tail:
        tail, expected = doc.tail, min(doc.rows_seen, self.window)
        if len(tail.record) != expected:
            raise StateError(
                f"monitor state: tail: {len(tail.record)} rows, expected {expected} (rows_seen "
                f"{doc.rows_seen}, window.size {self.window}); if window.size was changed, "
                "delete the checkpoint to start afresh"
            )
        n_numeric, n_categorical = len(self.numeric_columns), len(self.categorical_columns)
        for part, rows, width in (
            ("numeric", tail.numeric, n_numeric),
            ("categorical", tail.categorical, n_categorical),
        ):
            if any(len(row) != width for row in rows):
                raise StateError(
                    f"monitor state: tail.{part}: every row must hold {width} values, one per "
                    f"{part} feature"
                )
        codes = np.asarray(tail.categorical, dtype=np.int64).reshape(expected, n_categorical)
        for j, encoder in enumerate(self._codes):
            if expected and int(codes[:, j].max()) > encoder.other:
                raise StateError(
                    f"monitor state: tail.categorical: a code of {self.categorical_columns[j]!r} "
                    f"beyond its {encoder.other + 1} categories"
                )
        numeric = np.asarray(
            [[math.nan if v is None else v for v in row] for row in tail.numeric],
            dtype=np.float64,
        ).reshape(expected, n_numeric)
        record = np.asarray(tail.record, dtype=np.int64)
        return _Tail(numeric, codes, record, list(tail.time), list(tail.id))

    def _restored_active(self, doc: MonitorStateDocument) -> dict[tuple[str, str], CheckResult]:
        checks = {(check.feature, check.name) for check in self._window_checks()}
        active: dict[tuple[str, str], CheckResult] = {}
        for i, (feature, detector, kind, value, threshold) in enumerate(doc.active):
            if (feature, detector) not in checks:
                raise StateError(
                    f"monitor state: active[{i}]: this monitor has no {detector!r} check of "
                    f"a feature {feature!r}"
                )
            if (feature, detector) in active:
                raise StateError(f"monitor state: active[{i}]: {detector!r} of {feature!r} twice")
            active[(feature, detector)] = CheckResult(
                feature, detector, EventKind(kind), True, _nan(value), _nan(threshold)
            )
        return active

    def _restored_alarms(self, doc: MonitorStateDocument) -> dict[str, list[_Alarm]]:
        features = {seq.name for seq in self._sequential}
        detectors = {proto.name for proto in self.prototypes}
        alarms: dict[str, list[_Alarm]] = {}
        for feature, entries in doc.alarms.items():
            if feature not in features:
                raise StateError(
                    f"monitor state: alarms: {feature!r} is not a feature with sequential "
                    "detectors here"
                )
            alarms[feature] = []
            for i, (row, detector, value, threshold, record) in enumerate(entries):
                if detector not in detectors:
                    raise StateError(
                        f"monitor state: alarms[{feature!r}][{i}]: no detector {detector!r} "
                        "is registered"
                    )
                evidence = Evidence(detector, _nan(value), _nan(threshold), record)
                alarms[feature].append(_Alarm(row, evidence))
        return alarms

    def _restored_watchers(self, doc: MonitorStateDocument) -> list[Watcher]:
        """Copies of the watchers loaded from `doc` (a watcher without saved state, new since
        the checkpoint, starts fresh)."""
        unknown = sorted(doc.watchers.keys() - {w.name for w in self.watchers})
        if unknown:
            raise StateError(f"monitor state: watchers: no watcher {unknown[0]!r} runs here")
        restored: list[Watcher] = []
        for watcher in self.watchers:
            fresh = copy.deepcopy(watcher)
            if watcher.name in doc.watchers:
                try:
                    fresh.load_state(doc.watchers[watcher.name])
                except StateError as exc:
                    raise StateError(f"monitor state: watchers[{watcher.name!r}]: {exc}") from None
            restored.append(fresh)
        return restored

    def _restored_detectors(self, doc: MonitorStateDocument) -> list[list[DriftDetector]]:
        """Each sequential feature's detectors, fresh clones loaded from `doc`; a detector
        registered since the checkpoint starts fresh."""
        unknown = sorted(doc.sequential.keys() - {seq.name for seq in self._sequential})
        if unknown:
            raise StateError(
                f"monitor state: sequential: {unknown[0]!r} is not a feature with sequential "
                "detectors here"
            )
        registered = {proto.name for proto in self.prototypes}
        restored: list[list[DriftDetector]] = []
        for seq in self._sequential:
            if seq.name not in doc.sequential:
                raise StateError(f"monitor state: sequential: no state for feature {seq.name!r}")
            saved = doc.sequential[seq.name]
            unregistered = sorted(saved.keys() - registered)
            if unregistered:
                raise StateError(
                    f"monitor state: sequential[{seq.name!r}]: no detector {unregistered[0]!r} "
                    f"is registered (registered: {', '.join(sorted(registered))})"
                )
            detectors = [det.clone() for det in seq.detectors]
            for det in detectors:
                if det.name in saved:
                    try:
                        det.load_state(saved[det.name])
                    except StateError as exc:
                        raise StateError(
                            f"monitor state: sequential[{seq.name!r}]: {exc}"
                        ) from None
            restored.append(detectors)
        return restored

    def summary(self) -> dict[str, Any]:
        """Calibration figures for logs and the run summary."""
        return {
            "alarm_sources": self.n_sources,
            "per_source_arl0": self.target_arl0,
            "features": {
                name: {key: float(f"{value:.4g}") for key, value in c.parameters.items()}
                for name, c in self.calibration.items()
            },
        }


def _nan(value: float | None) -> float:
    """A state's null as the NaN it stands for."""
    return math.nan if value is None else value


def _has_spread(feature: FeatureBaseline) -> bool:
    return feature.numeric is not None and feature.numeric.std_dev > 0


def _has_counts(feature: FeatureBaseline) -> bool:
    return feature.categorical is not None and bool(feature.categorical.counts)
