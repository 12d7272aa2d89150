"""The monitor: every feature's detectors and checks, fed one decoded batch at a time.

Called by the processing loop (streamer/pipeline.py) with consecutive batches; returns the events
of each batch in record order. Results never depend on how the stream was cut into batches:
sequential detectors see the same values in the same order, and window checks are evaluated at
fixed row counts (every `hop` rows once `size` rows have been seen).

Per numeric feature with a spread in the baseline: ADWIN and Page-Hinkley on values standardised
with the baseline's mean and standard deviation and clipped to ±clip_sigma, thresholds
calibrated (detectors/calibration.py). Per feature: the window checks (detectors/window_checks.py).
After the checks, the retrain policy sees which features are in drift.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from driftstream.detectors.adwin import ADWIN, RiverADWIN
from driftstream.detectors.base import DriftDetector
from driftstream.detectors.baseline.model import Baseline, FeatureBaseline
from driftstream.detectors.calibration import (
    WINDOW_SAFETY,
    CalibrationCache,
    FeatureFits,
    adwin_delta,
    fit_adwin,
    fit_page_hinkley,
    page_hinkley_threshold,
    per_source_rate,
)
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.page_hinkley import PageHinkley, RiverPageHinkley
from driftstream.detectors.retrain import Evidence, RetrainPolicy
from driftstream.detectors.settings import DetectorSettings
from driftstream.detectors.window_checks import (
    CategoricalChecks,
    CheckResult,
    CompletenessCheck,
    NumericChecks,
)

DETECTOR_ORDER = (
    "adwin",
    "page_hinkley",
    "distribution",
    "baseline_drift_check",
    "completeness_check",
    "data_type_check",
    "categorical_values_check",
)
# checks whose breach says "the data moved", as opposed to "the data broke": retrain evidence
DRIFT_EVIDENCE = frozenset({"adwin", "page_hinkley", "distribution", "baseline_drift_check"})


STATE_VERSION = 1


def _evidence_list(ev: Evidence) -> list[Any]:
    return [ev.detector, ev.value, ev.threshold, ev.record_index]


class RowBatch(Protocol):
    """What the monitor reads from a decoded batch (streamer.batch.DecodedBatch fits)."""

    @property
    def row_record(self) -> npt.NDArray[np.int64]: ...
    @property
    def numeric(self) -> npt.NDArray[np.float64]: ...
    @property
    def categorical(self) -> npt.NDArray[np.object_]: ...
    @property
    def inference_time(self) -> list[str | None]: ...
    @property
    def event_id(self) -> list[str | None]: ...


@dataclass
class _Sequential:
    """ADWIN + Page-Hinkley of one numeric feature, with its standardisation."""

    name: str
    column: int
    mean: float
    scale: float
    detectors: list[DriftDetector]


@dataclass
class _Alarm:
    row: int
    evidence: Evidence


@dataclass
class Calibrated:
    """What calibration chose for one feature (reported in logs, metrics and docs)."""

    page_hinkley_threshold: float
    adwin_delta: float
    fits: FeatureFits


@dataclass(frozen=True)
class MonitorView:
    """What metrics and CloudWatch read from a monitor: a copy, safe to keep or to send."""

    rows_seen: int
    current: dict[tuple[str, str], tuple[float, float]]  # latest (value, threshold)
    active: frozenset[tuple[str, str]]  # (feature, detector) of breached window checks


@dataclass
class MonitorState:
    rows_seen: int = 0
    active: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    alarms: dict[str, list[_Alarm]] = field(default_factory=dict)


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
    ) -> None:
        self.baseline = baseline
        self.settings = settings
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.window = settings.window.size
        self.hop = settings.window.hop
        by_name = {f.name: f for f in baseline.features}
        self._order = {name: i for i, name in enumerate(f.name for f in baseline.features)}

        spread = [
            n
            for n in numeric_columns
            if by_name[n].numeric is not None and by_name[n].numeric.std_dev > 0  # type: ignore[union-attr]
        ]
        with_sketch = [n for n in numeric_columns if by_name[n].numeric is not None]
        with_counts = [
            n
            for n in categorical_columns
            if by_name[n].categorical is not None and by_name[n].categorical.counts  # type: ignore[union-attr]
        ]
        # alarm sources sharing the false-alarm budget: 2 sequential detectors per numeric
        # feature with spread, one distribution test per feature that has a baseline
        # distribution, one completeness test per feature
        self.n_sources = (
            2 * len(spread)
            + len(with_sketch)
            + len(with_counts)
            + len(numeric_columns + categorical_columns)
        )
        self.beta = per_source_rate(settings.false_alarms_per_million, self.n_sources)
        self.target_arl0 = 1.0 / self.beta
        alpha = min(self.beta * self.hop / WINDOW_SAFETY, 0.5)

        self.calibration: dict[str, Calibrated] = {}
        self._sequential = [
            self._build_sequential(by_name[n], numeric_columns.index(n)) for n in spread
        ]
        self._numeric_checks = {
            n: NumericChecks(by_name[n], baseline.monitoring, alpha) for n in with_sketch
        }
        self._categorical_checks = {
            n: CategoricalChecks(by_name[n], baseline.monitoring, alpha)
            for n in categorical_columns
        }
        self._completeness = {
            n: CompletenessCheck(by_name[n], self.window, alpha)
            for n in numeric_columns + categorical_columns
        }
        self.policy = RetrainPolicy(
            settings.retrain,
            len(numeric_columns) + len(categorical_columns),
            baseline_identity=baseline.identity,
            config_identity=config_identity,
            endpoint=endpoint,
        )
        self.state = MonitorState()
        self._tail_numeric = np.empty((0, len(numeric_columns)))
        self._tail_codes = np.empty((0, len(categorical_columns)), dtype=np.int64)
        self._tail_record = np.empty(0, dtype=np.int64)
        self._tail_time: list[str | None] = []
        self._tail_id: list[str | None] = []
        #: latest (value, threshold) per (feature, detector), read by the metrics collector
        self.current: dict[tuple[str, str], tuple[float, float]] = {}

    # -- construction ---------------------------------------------------------------------

    def _build_sequential(self, feature: FeatureBaseline, column: int) -> _Sequential:
        stats = feature.numeric
        assert stats is not None
        s = self.settings
        ph_proto = PageHinkley(
            min_instances=s.page_hinkley.min_instances,
            delta=s.page_hinkley.delta,
            threshold=1.0,
            alpha=s.page_hinkley.alpha,
            mode=s.page_hinkley.mode,
        )
        ad = s.adwin
        adwin_proto = ADWIN(
            delta=0.002,
            clock=ad.clock,
            max_buckets=ad.max_buckets,
            min_window_length=ad.min_window_length,
            grace_period=ad.grace_period,
        )
        fits = self._fits(feature, ph_proto, adwin_proto)
        lam = s.page_hinkley.threshold or page_hinkley_threshold(
            fits.page_hinkley, self.target_arl0
        )
        delta = ad.delta or adwin_delta(fits.adwin, self.target_arl0)
        self.calibration[feature.name] = Calibrated(lam, delta, fits)
        ph: DriftDetector = ph_proto.clone(threshold=lam)
        adwin: DriftDetector = adwin_proto.clone(delta=delta)
        if s.engine == "river":
            ph = RiverPageHinkley(**ph._get_params())
            adwin = RiverADWIN(**adwin._get_params())
        return _Sequential(feature.name, column, stats.mean, stats.std_dev, [adwin, ph])

    def _fits(self, feature: FeatureBaseline, ph: PageHinkley, adwin: ADWIN) -> FeatureFits:
        stats = feature.numeric
        assert stats is not None
        cal = self.settings.calibration
        digest = hashlib.sha256(stats.sketch_items.tobytes() + stats.sketch_weights.tobytes())
        key = CalibrationCache.key(
            digest.hexdigest(),
            stats.mean,
            stats.std_dev,
            self.settings.clip_sigma,
            repr(ph),
            repr(adwin),
            cal.samples,
            cal.seed,
        )
        cache = CalibrationCache(cal.cache_dir)
        cached = cache.get(key)
        if cached is not None:
            return cached
        rng = np.random.default_rng([cal.seed, int(digest.hexdigest()[:8], 16)])
        sample = self._standardise(stats.sample(cal.samples, rng), stats.mean, stats.std_dev)
        fits = FeatureFits(fit_page_hinkley(sample, ph), fit_adwin(sample, adwin))
        cache.put(key, fits)
        return fits

    def _standardise(
        self, x: npt.NDArray[np.float64], mean: float, scale: float
    ) -> npt.NDArray[np.float64]:
        c = self.settings.clip_sigma
        return np.clip((x - mean) / scale, -c, c)

    # -- processing -----------------------------------------------------------------------

    def process(self, batch: RowBatch) -> list[Event]:
        """Run one batch through every detector; return its events in record order."""
        n_rows = int(batch.row_record.shape[0])
        if n_rows == 0:
            return []
        first_row = self.state.rows_seen
        events = self._run_sequential(batch, first_row)
        events.extend(self._run_windows(batch, first_row, n_rows))
        self.state.rows_seen += n_rows
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

    def _run_sequential(self, batch: RowBatch, first_row: int) -> list[Event]:
        events: list[Event] = []
        for seq in self._sequential:
            col = batch.numeric[:, seq.column]
            present = ~np.isnan(col)
            rows = np.flatnonzero(present) if not present.all() else None
            values = col if rows is None else col[rows]
            z = self._standardise(values, seq.mean, seq.scale)
            for det in seq.detectors:
                hits = det.update_many(z)
                if hits.shape[0] == 0:
                    continue
                stat_values, stat_thresholds = det.alarm_statistics
                for i, hit in enumerate(hits.tolist()):
                    row = hit if rows is None else int(rows[hit])
                    value, threshold = float(stat_values[i]), float(stat_thresholds[i])
                    record = int(batch.row_record[row])
                    events.append(
                        Event(
                            EventKind.DRIFT,
                            record_index=record,
                            feature=seq.name,
                            detector=det.name,
                            value=None if np.isnan(value) else value,
                            threshold=None if np.isnan(threshold) else threshold,
                            event_id=batch.event_id[row],
                            inference_time=batch.inference_time[row],
                        )
                    )
                    self.state.alarms.setdefault(seq.name, []).append(
                        _Alarm(first_row + row, Evidence(det.name, value, threshold, record))
                    )
            for det in seq.detectors:
                if isinstance(det, PageHinkley):
                    self.current[(seq.name, det.name)] = (det.statistic, det.threshold)
        return events

    def _run_windows(self, batch: RowBatch, first_row: int, n_rows: int) -> list[Event]:
        numeric = np.concatenate([self._tail_numeric, batch.numeric])
        codes = np.empty((n_rows, len(self.categorical_columns)), dtype=np.int64)
        for j, name in enumerate(self.categorical_columns):
            codes[:, j] = self._categorical_checks[name].encode(batch.categorical[:, j].tolist())
        categorical = np.concatenate([self._tail_codes, codes])
        records = np.concatenate([self._tail_record, batch.row_record])
        times = self._tail_time + list(batch.inference_time)
        ids = self._tail_id + list(batch.event_id)
        offset = first_row - self._tail_record.shape[0]  # global row of numeric[0]
        end = first_row + n_rows
        events: list[Event] = []
        b = (first_row // self.hop + 1) * self.hop
        while b <= end:
            if b >= self.window:
                lo, hi = b - self.window - offset, b - offset
                events.extend(
                    self._evaluate_window(
                        numeric[lo:hi],
                        categorical[lo:hi],
                        b,
                        int(records[hi - 1]),
                        times[hi - 1],
                        ids[hi - 1],
                    )
                )
            b += self.hop
        keep = self.window
        self._tail_numeric = numeric[-keep:]
        self._tail_codes = categorical[-keep:]
        self._tail_record = records[-keep:]
        self._tail_time = times[-keep:]
        self._tail_id = ids[-keep:]
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
        for j, name in enumerate(self.numeric_columns):
            results.append(self._completeness[name].evaluate(int(missing[j])))
            checks = self._numeric_checks.get(name)
            if checks is not None:
                results.extend(checks.evaluate(ordered[j, : numeric.shape[0] - missing[j]]))
        for j, name in enumerate(self.categorical_columns):
            col = categorical[:, j]
            results.append(self._completeness[name].evaluate(int(np.count_nonzero(col < 0))))
            results.extend(self._categorical_checks[name].evaluate(col))

        events: list[Event] = []
        for r in results:
            key = (r.feature, r.detector)
            self.current[key] = (r.value, r.threshold)
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
        signal = self.policy.observe(row, record, time, self._drifted(row, record))
        if signal is not None:
            events.append(signal)
        return events

    def _drifted(self, row: int, record: int) -> dict[str, Evidence]:
        """Features in drift at `row`: an active drift check, or an alarm in the last window."""
        out: dict[str, Evidence] = {}
        for (feature, detector), r in self.state.active.items():
            if detector in DRIFT_EVIDENCE:
                out.setdefault(feature, Evidence(detector, r.value, r.threshold, record))
        for feature, alarms in list(self.state.alarms.items()):
            recent = [a for a in alarms if a.row > row - self.window]
            self.state.alarms[feature] = recent
            before = [a for a in recent if a.row < row]
            if before and feature not in out:
                out[feature] = before[-1].evidence
        return out

    # -- state ------------------------------------------------------------------------------

    def view(self) -> MonitorView:
        return MonitorView(self.state.rows_seen, dict(self.current), frozenset(self.state.active))

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
            "tail": {
                "numeric": [
                    [None if math.isnan(v) else v for v in row]
                    for row in self._tail_numeric.tolist()
                ],
                "categorical": self._tail_codes.tolist(),
                "record": self._tail_record.tolist(),
                "time": self._tail_time,
                "id": self._tail_id,
            },
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()` output; the baseline must be the same one."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"monitor state version {state.get('version')!r} is not "
                f"{STATE_VERSION}; delete the checkpoint to start afresh"
            )
        if state["baseline"] != self.baseline.identity:
            raise ValueError(
                f"checkpoint was made with baseline {state['baseline']}, not "
                f"{self.baseline.identity}; delete the checkpoint to start afresh"
            )
        self.state = MonitorState(rows_seen=int(state["rows_seen"]))
        for feature, detector, kind, value, threshold in state["active"]:
            self.state.active[(feature, detector)] = CheckResult(
                feature, detector, EventKind(kind), True, value, threshold
            )
        for feature, alarms in state["alarms"].items():
            self.state.alarms[feature] = [
                _Alarm(int(a[0]), Evidence(a[1], a[2], a[3], int(a[4]))) for a in alarms
            ]
        for seq in self._sequential:
            saved = state["sequential"][seq.name]
            for det in seq.detectors:
                det.load_state(saved[det.name])
        self.policy.load_state(state["policy"])
        tail = state["tail"]
        n_num = len(self.numeric_columns)
        self._tail_numeric = np.asarray(
            [[np.nan if v is None else v for v in row] for row in tail["numeric"]],
            dtype=np.float64,
        ).reshape(-1, n_num)
        self._tail_codes = np.asarray(tail["categorical"], dtype=np.int64).reshape(
            -1, len(self.categorical_columns)
        )
        self._tail_record = np.asarray(tail["record"], dtype=np.int64)
        self._tail_time = list(tail["time"])
        self._tail_id = list(tail["id"])

    def summary(self) -> dict[str, Any]:
        """Calibration figures for logs and the run summary."""
        return {
            "alarm_sources": self.n_sources,
            "per_source_arl0": self.target_arl0,
            "features": {
                name: {
                    "page_hinkley_threshold": round(c.page_hinkley_threshold, 3),
                    "adwin_delta": float(f"{c.adwin_delta:.3g}"),
                }
                for name, c in self.calibration.items()
            },
        }
