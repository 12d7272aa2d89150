"""The retrain policy: decide when retraining is warranted, and say why not when it is not.

Called by the monitor (detectors/monitor.py) in record order with two kinds of evidence:

- `observe`, at every window evaluation: the features currently in drift, each with its
  strongest evidence (detector, statistic, threshold);
- `observe_event`, for every event the monitor's watchers return: model-quality events
  (detector `model_quality…`, with a `metric`) may decide a signal; they and bias-drift events
  are also kept as context for the next signal's evidence.

Drift decides a signal when, checked in this order (the first that fails is the reason given;
docs/detection.md):
1. material: the weighted share of the features in drift whose effect size (statistic /
   threshold of their strongest evidence) is at least `min_effect_size` reaches
   `min_feature_share` (weights per feature, 1 unless configured);
2. not cooling down: `cooldown_rows` rows (and `cooldown_seconds` of inferenceTime, when
   configured) have passed since the last signal;
3. persistent: 1 has held for `persistence_rows` rows (and `persistence_seconds` of
   inferenceTime, when configured and the records carry it);
4. within budget: fewer than `max_signals_per_day` signals in the last 24 hours of inferenceTime
   (the wall clock for records without it).
A model-quality breach (a window's metric past `quality.thresholds`, or, for a metric without
one, any model-quality alarm while `quality.alarms` is on) takes precedence: it needs neither 1
nor 3, and is held by 2 and 4 only.

Every decision is a `retrain_signal` event. `decision: "retrain"` is a signal (its idempotency
key depends only on the baseline, the endpoint, where the evidence began and what it names, so a
replay of the same records yields the same key and every sink drops the duplicate).
`decision: "deferred"` with a `reason` (`below_effect_size`, `not_persistent`, `cooling_down`,
`over_budget`, `quality_within_threshold`, `quality_alarms_off`) is a candidate not signalled
now: for drift, emitted when the reason changes (a stream in sustained drift gets a few such
events, not one per window); for quality, one per model-quality alarm.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from driftstream.detectors.constraints.window import epoch_seconds
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.settings import RetrainSettings

RETRAIN, DEFERRED = "retrain", "deferred"
DRIFT, QUALITY = "drift", "quality"
#: why a drift candidate was not signalled, in the order the conditions are checked
BELOW_EFFECT_SIZE, NOT_PERSISTENT = "below_effect_size", "not_persistent"
COOLING_DOWN, OVER_BUDGET = "cooling_down", "over_budget"
#: why a model-quality alarm was not a breach
QUALITY_WITHIN_THRESHOLD, QUALITY_ALARMS_OFF = "quality_within_threshold", "quality_alarms_off"
DRIFT_REASONS = (BELOW_EFFECT_SIZE, NOT_PERSISTENT, COOLING_DOWN, OVER_BUDGET)

QUALITY_PREFIX = "model_quality"
BIAS_DETECTOR = "bias_drift"
DAY_SECONDS = 86_400.0
#: quality and bias events kept as context, the latest per (detector, metric, facet)
MAX_CONTEXT = 32


class PolicyError(ValueError):
    """The retrain settings do not fit this baseline (one line naming the key)."""


@dataclass(frozen=True)
class Evidence:
    """Why one feature counts as drifted: the strongest statistic and its threshold."""

    detector: str
    value: float
    threshold: float
    record_index: int  # where that detector last fired or was evaluated

    @property
    def effect_size(self) -> float:
        """How far past its threshold: statistic / threshold (1 when either is undefined)."""
        if math.isfinite(self.value) and math.isfinite(self.threshold) and self.threshold > 0:
            return self.value / self.threshold
        return 1.0


@dataclass(frozen=True)
class Context:
    """A model-quality or bias-drift event, kept for the evidence of the next signal."""

    detector: str
    metric: str
    facet: str | None
    value: float | None
    threshold: float | None
    record_index: int
    inference_time: str | None

    @classmethod
    def of(cls, event: Event, inference_time: str | None) -> Context:
        facet = event.extra.get("facet")
        return cls(
            str(event.detector),
            str(event.extra.get("metric", "")),
            None if facet is None else str(facet),
            event.value,
            event.threshold,
            event.record_index or 0,
            event.inference_time or inference_time,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "detector": self.detector,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "record_index": self.record_index,
            "inference_time": self.inference_time,
        }
        if self.facet is not None:
            out["facet"] = self.facet
        return out


def is_deferral(event: Event) -> bool:
    """A `retrain_signal` event saying "not now" (no signal to deliver or count as one)."""
    return event.kind is EventKind.RETRAIN_SIGNAL and event.extra.get("decision") == DEFERRED


def is_quality(event: Event) -> bool:
    """A model-quality event (contract: detector `model_quality…` with a `metric`)."""
    return (event.detector or "").startswith(QUALITY_PREFIX) and "metric" in event.extra


def is_bias(event: Event) -> bool:
    return event.detector == BIAS_DETECTOR


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


class RetrainPolicy:
    """Decides retrain signals (see the module docstring)."""

    def __init__(
        self,
        settings: RetrainSettings,
        features: Sequence[str],
        *,
        baseline_identity: str,
        config_identity: str,
        endpoint: str,
        lineage: Mapping[str, Any] | None = None,
        approval_required: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unknown = sorted(set(settings.weights) - set(features))
        if unknown:
            raise PolicyError(
                f"detectors.retrain.weights: no feature {unknown[0]!r} in the baseline"
            )
        self.settings = settings
        self.weights = {name: settings.weights.get(name, 1.0) for name in features}
        self.total_weight = sum(self.weights.values())
        if self.total_weight <= 0:
            raise PolicyError("detectors.retrain.weights: at least one feature must weigh > 0")
        self.baseline_identity = baseline_identity
        self.config_identity = config_identity
        self.endpoint = endpoint
        self.lineage = dict(lineage or {})
        self.approval_required = approval_required
        #: the budget's clock when a record carries no inferenceTime (nothing else reads it)
        self.clock = clock
        self._streak_row: int | None = None  # row where the current streak began
        self._streak_record: int | None = None
        self._streak_time: str | None = None
        self._cooldown_until = -1  # row
        self._cooldown_until_seconds: float | None = None
        self._signal_seconds: list[float] = []  # when recent signals were decided (budget)
        self._deferred: str | None = None  # the drift deferral last emitted
        self._drifted: dict[str, Evidence] = {}  # at the last window evaluation
        self._context: dict[tuple[str, str, str | None], Context] = {}

    # -- drift ----------------------------------------------------------------------------

    def share(self, features: Mapping[str, Evidence] | Sequence[str]) -> float:
        """The weighted share of `features` among all."""
        return sum(self.weights.get(name, 0.0) for name in features) / self.total_weight

    def material(self, drifted: Mapping[str, Evidence]) -> dict[str, Evidence]:
        """The drifted features whose effect size reaches the minimum (all at the default 1)."""
        if self.settings.min_effect_size <= 1.0:
            return dict(drifted)
        return {
            name: ev
            for name, ev in drifted.items()
            if ev.effect_size >= self.settings.min_effect_size
        }

    def observe(
        self,
        row: int,
        record_index: int,
        inference_time: str | None,
        drifted: dict[str, Evidence],
    ) -> Event | None:
        """One window evaluation at global row `row`: a decision event, or None (no candidate,
        or the same deferral as last time)."""
        self._drifted = dict(drifted)
        s = self.settings
        material = self.material(drifted)
        share = self.share(material)
        if share < s.min_feature_share:
            self._streak_row = self._streak_record = self._streak_time = None
            if self.share(drifted) >= s.min_feature_share:
                return self._defer(BELOW_EFFECT_SIZE, record_index, inference_time, share, row)
            self._deferred = None
            return None
        if self._streak_row is None:
            self._streak_row, self._streak_record = row, record_index
            self._streak_time = inference_time
        now = epoch_seconds(inference_time)
        if self._cooling(row, now):
            return self._defer(COOLING_DOWN, record_index, inference_time, share, row)
        if not self._persistent(row, now):
            return self._defer(NOT_PERSISTENT, record_index, inference_time, share, row)
        if self._budget_left(now) == 0:
            return self._defer(OVER_BUDGET, record_index, inference_time, share, row)
        start = self._streak_record if self._streak_record is not None else record_index
        start_time = self._streak_time
        persisted = self._persistence(row, now)
        # the next streak starts afresh after the cool-down
        self._streak_row = self._streak_record = self._streak_time = None
        features = sorted(material)
        evidence: dict[str, Any] = {
            "features": self._features_json(drifted),
            "feature_share": share,
            "min_feature_share": s.min_feature_share,
            "min_effect_size": s.min_effect_size,
            "record_range": [start, record_index],
            "time_range": [start_time, inference_time],
            "persistence": persisted,
        }
        key = _key(self.baseline_identity, self.endpoint, start, ",".join(features))
        return self._signal(
            key, DRIFT, features, evidence, record_index, inference_time, share, row, now
        )

    def _persistence(self, row: int, now: float | None) -> dict[str, Any]:
        assert self._streak_row is not None
        began = epoch_seconds(self._streak_time)
        return {
            "rows": row - self._streak_row,
            "seconds": None if now is None or began is None else now - began,
            "required_rows": self.settings.persistence_rows,
            "required_seconds": self.settings.persistence_seconds,
        }

    def _persistent(self, row: int, now: float | None) -> bool:
        held = self._persistence(row, now)
        if held["rows"] < self.settings.persistence_rows:
            return False
        required = self.settings.persistence_seconds
        # records without inferenceTime: the rows alone say how long it lasted
        return required is None or held["seconds"] is None or held["seconds"] >= required

    def _cooling(self, row: int, now: float | None) -> bool:
        if row < self._cooldown_until:
            return True
        until = self._cooldown_until_seconds
        return until is not None and now is not None and now < until

    def _budget_left(self, now: float | None) -> int | None:
        """Signals the budget allows now (None: no budget)."""
        limit = self.settings.max_signals_per_day
        if limit is None:
            return None
        when = self.clock() if now is None else now
        used = sum(1 for t in self._signal_seconds if when - DAY_SECONDS < t <= when)
        return max(limit - used, 0)

    def _defer(
        self,
        reason: str,
        record_index: int,
        inference_time: str | None,
        share: float,
        row: int,
    ) -> Event | None:
        """A drift deferral: an event when its reason differs from the last one emitted."""
        if reason == self._deferred:
            return None
        self._deferred = reason
        now = epoch_seconds(inference_time)
        weighed: dict[str, Any] = {
            "min_effect_size": self.settings.min_effect_size,
            "budget": self._budget(now),
        }
        if self._streak_row is not None:
            weighed["persistence"] = self._persistence(row, now)
            weighed["since"] = {"record_index": self._streak_record, "time": self._streak_time}
        if reason == COOLING_DOWN:
            weighed["cooldown_until"] = {
                "row": self._cooldown_until,
                "seconds": self._cooldown_until_seconds,
            }
        return Event(
            EventKind.RETRAIN_SIGNAL,
            record_index=record_index,
            value=share,
            threshold=self.settings.min_feature_share,
            reason=reason,
            inference_time=inference_time,
            extra={
                "decision": DEFERRED,
                "trigger": DRIFT,
                "endpoint": self.endpoint,
                "features": sorted(self._drifted),
                "policy": weighed,
            },
        )

    # -- watchers' events -----------------------------------------------------------------

    def observe_event(
        self,
        event: Event,
        row: int,
        inference_time: str | None,
        *,
        measurement: bool = False,
    ) -> Event | None:
        """One event of the monitor's watchers, at global row `row` (the rows read so far) and
        the inferenceTime of its record: model quality may decide; bias drift is context.

        `measurement`: a window's metric value that is no event of the run (Watcher.
        observations): it decides only through `quality.thresholds`, and says nothing while
        within them (one per window and metric would flood the events)."""
        quality = is_quality(event)
        if not quality and not is_bias(event):
            return None
        if measurement and (
            event.value is None
            or (limit := self.settings.quality.thresholds.get(str(event.extra.get("metric"))))
            is None
            or not limit.breached(float(event.value))
        ):
            return None
        context = Context.of(event, inference_time)
        self._keep(context)
        if not quality:
            return None
        record = event.record_index or 0
        when = context.inference_time
        metric = context.metric
        limit = self.settings.quality.thresholds.get(metric)
        if limit is not None:
            # a window check reports the metric's value; an online detector's alarm a statistic;
            # a measurement is a window's value
            measured = (measurement or event.kind is EventKind.VIOLATION) and (
                event.value is not None
            )
            breach = measured and limit.breached(float(event.value or 0.0))
            reason = QUALITY_WITHIN_THRESHOLD
        else:
            breach = self.settings.quality.alarms
            reason = QUALITY_ALARMS_OFF
        now = epoch_seconds(when)
        if breach:
            if self._cooling(row, now):
                reason = COOLING_DOWN
            elif self._budget_left(now) == 0:
                reason = OVER_BUDGET
            else:
                evidence: dict[str, Any] = {
                    "features": self._features_json(self._drifted),
                    "feature_share": self.share(self.material(self._drifted)),
                    "min_feature_share": self.settings.min_feature_share,
                    "min_effect_size": self.settings.min_effect_size,
                    "record_range": [record, record],
                    "time_range": [when, when],
                    "quality_breach": {
                        **context.to_json(),
                        "kind": event.kind.value,
                        "policy_threshold": None if limit is None else limit.model_dump(),
                    },
                }
                key = _key(self.baseline_identity, self.endpoint, QUALITY, record, metric)
                value = event.value if limit is None else float(event.value or 0.0)
                return self._signal(
                    key,
                    QUALITY,
                    sorted(self.material(self._drifted)),
                    evidence,
                    record,
                    when,
                    value,
                    row,
                    now,
                    threshold=event.threshold if limit is None else limit.threshold,
                )
        return Event(
            EventKind.RETRAIN_SIGNAL,
            record_index=record,
            value=event.value,
            threshold=event.threshold if limit is None else limit.threshold,
            reason=reason,
            inference_time=when,
            extra={
                "decision": DEFERRED,
                "trigger": QUALITY,
                "endpoint": self.endpoint,
                "metric": metric,
                "policy": {
                    "quality_detector": context.detector,
                    "policy_threshold": None if limit is None else limit.model_dump(),
                    "budget": self._budget(now),
                    **(
                        {
                            "cooldown_until": {
                                "row": self._cooldown_until,
                                "seconds": self._cooldown_until_seconds,
                            }
                        }
                        if reason == COOLING_DOWN
                        else {}
                    ),
                },
            },
        )

    def _keep(self, context: Context) -> None:
        key = (context.detector, context.metric, context.facet)
        self._context.pop(key, None)
        self._context[key] = context
        while len(self._context) > MAX_CONTEXT:
            del self._context[next(iter(self._context))]

    # -- the signal -----------------------------------------------------------------------

    def _signal(
        self,
        key: str,
        trigger: str,
        features: list[str],
        evidence: dict[str, Any],
        record_index: int,
        inference_time: str | None,
        value: float | None,
        row: int,
        now: float | None,
        threshold: float | None = None,
    ) -> Event:
        """Decide a signal: start the cool-down, spend the budget, reset the deferrals."""
        s = self.settings
        self._cooldown_until = row + s.cooldown_rows
        self._cooldown_until_seconds = (
            None if s.cooldown_seconds is None or now is None else now + s.cooldown_seconds
        )
        if s.max_signals_per_day is not None:
            when = self.clock() if now is None else now
            recent = [t for t in self._signal_seconds if when - DAY_SECONDS < t <= when]
            self._signal_seconds = [*recent, when][-s.max_signals_per_day :]
        self._deferred = None
        evidence.update(
            {
                "cooldown": {"rows": s.cooldown_rows, "seconds": s.cooldown_seconds},
                "budget": self._budget(now, spent=True),
                "quality": [c.to_json() for c in self._context.values() if not _bias(c)],
                "bias": [c.to_json() for c in self._context.values() if _bias(c)],
                "baseline": self.baseline_identity,
                "config": self.config_identity,
            }
        )
        extra: dict[str, Any] = {
            "idempotency_key": key,
            "endpoint": self.endpoint,
            "decision": RETRAIN,
            "trigger": trigger,
            "features": features,
            "evidence": evidence,
            "lineage": {
                **self.lineage,
                "baseline": {
                    **self.lineage.get("baseline", {}),
                    "identity": self.baseline_identity,
                },
                "config": self.config_identity,
                "endpoint": self.endpoint,
            },
        }
        if self.approval_required:
            extra["approval"] = "required"
        return Event(
            kind=EventKind.RETRAIN_SIGNAL,
            record_index=record_index,
            value=value,
            threshold=s.min_feature_share if threshold is None else threshold,
            inference_time=inference_time,
            extra=extra,
        )

    def _budget(self, now: float | None, *, spent: bool = False) -> dict[str, Any]:
        """The budget as a reviewer reads it: the limit, and what is left (after this signal
        when `spent`)."""
        left = self._budget_left(now)
        return {
            "max_signals_per_day": self.settings.max_signals_per_day,
            "left": left,
            "clock": "inference_time" if now is not None else "wall_clock",
            **({"after_this_signal": True} if spent else {}),
        }

    def _features_json(self, drifted: Mapping[str, Evidence]) -> dict[str, Any]:
        return {
            name: {
                "detector": ev.detector,
                "value": ev.value,
                "threshold": ev.threshold,
                "record_index": ev.record_index,
                "effect_size": ev.effect_size,
                "weight": self.weights.get(name, 0.0),
                "material": ev.effect_size >= self.settings.min_effect_size
                or self.settings.min_effect_size <= 1.0,
            }
            for name, ev in sorted(drifted.items())
        }

    # -- checkpoint -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """JSON-compatible state (detectors/state.py PolicyState validates it)."""
        return {
            "streak_row": self._streak_row,
            "streak_record": self._streak_record,
            "streak_time": self._streak_time,
            "cooldown_until": self._cooldown_until,
            "cooldown_until_seconds": self._cooldown_until_seconds,
            "signal_seconds": list(self._signal_seconds),
            "deferred": self._deferred,
            "drifted": [
                [name, ev.detector, _null(ev.value), _null(ev.threshold), ev.record_index]
                for name, ev in self._drifted.items()
            ],
            "context": [
                [
                    c.detector,
                    c.metric,
                    c.facet,
                    _null(c.value),
                    _null(c.threshold),
                    c.record_index,
                    c.inference_time,
                ]
                for c in self._context.values()
            ],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a state validated as detectors/state.py PolicyState (older checkpoints lack
        the keys after `cooldown_until`: their defaults are a fresh policy's)."""
        self._streak_row = state["streak_row"]
        self._streak_record = state["streak_record"]
        self._streak_time = state["streak_time"]
        self._cooldown_until = int(state["cooldown_until"])
        self._cooldown_until_seconds = state.get("cooldown_until_seconds")
        self._signal_seconds = [float(t) for t in state.get("signal_seconds", [])]
        self._deferred = state.get("deferred")
        self._drifted = {
            name: Evidence(detector, _nan(value), _nan(threshold), int(record))
            for name, detector, value, threshold, record in state.get("drifted", [])
        }
        self._context = {}
        for detector, metric, facet, value, threshold, record, when in state.get("context", []):
            self._keep(Context(detector, metric, facet, value, threshold, int(record), when))


def _bias(context: Context) -> bool:
    return context.detector == BIAS_DETECTOR


def _null(value: float | None) -> float | None:
    """A value as the state writes it: null unless finite."""
    return value if value is not None and math.isfinite(value) else None


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
