"""Page-Hinkley (Page 1954): river's reference class, and a batched twin compiled with numba.

The statistic is river's: a running mean of the values since the last reset, fading cumulative
sums m_T = α·m_(T−1) + (x_T − x̄_T) ∓ δ for increases and decreases, and an alarm when either sum
has moved more than `threshold` (λ) from its extreme. δ and λ are in the units of the input, so
the monitor feeds standardised values and calibrates λ (detectors/calibration.py).

The statistic (base.py's readings) is the distance the watched sum has moved from its extreme
(both sums' larger in mode "both"); its threshold is λ, the hyperparameter itself, which is
therefore a read-only property here rather than a plain attribute.

Both classes checkpoint the same state, `{"state": [n, mean, sum_inc, sum_dec, min_inc, max_dec],
"drift_detected": bool}`, and `load_state` accepts only what a detector can be in: n a whole
count, and either the fresh state (n = 0) or finite sums within their extremes.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np
from numba import njit
from pydantic import StrictBool, model_validator

from driftstream.detectors.base import (
    DriftDetector,
    FloatArray,
    IndexArray,
    check_choice,
    check_positive,
)
from driftstream.detectors.state import Finite, StateModel, parse

MODES = ("up", "down", "both")
_UP, _DOWN, _BOTH = 0, 1, 2
# state slots: running-mean count and value, the two fading sums and their extremes
_N, _MEAN, _SUM_INC, _SUM_DEC, _MIN_INC, _MAX_DEC = range(6)


def _statistic(mode: str, n: float, rise: float, fall: float) -> float:
    """The value compared with λ in `mode`, given the sums' moves from their extremes; NaN
    before the first value."""
    if n < 1:
        return math.nan
    if mode == "up":
        return rise
    if mode == "down":
        return fall
    return max(rise, fall)


@njit(cache=True, nogil=True)
def _reset_state(state: np.ndarray) -> None:
    state[_N] = 0.0
    state[_MEAN] = 0.0
    state[_SUM_INC] = 0.0
    state[_SUM_DEC] = 0.0
    state[_MIN_INC] = np.inf
    state[_MAX_DEC] = -1.0  # river starts the maximum at -1, not -inf


@njit(cache=True, nogil=True)
def _run(
    xs: np.ndarray,
    state: np.ndarray,
    min_instances: float,
    delta: float,
    threshold: float,
    alpha: float,
    mode: int,
    out: np.ndarray,
    out_value: np.ndarray,
) -> int:
    n_hits = 0
    for i in range(xs.shape[0]):
        x = xs[i]
        state[_N] += 1.0
        state[_MEAN] += (1.0 / state[_N]) * (x - state[_MEAN])
        dev = x - state[_MEAN]
        state[_SUM_INC] = alpha * state[_SUM_INC] + dev - delta
        state[_SUM_DEC] = alpha * state[_SUM_DEC] + dev + delta
        state[_MIN_INC] = min(state[_MIN_INC], state[_SUM_INC])
        state[_MAX_DEC] = max(state[_MAX_DEC], state[_SUM_DEC])
        if state[_N] >= min_instances:
            up = state[_SUM_INC] - state[_MIN_INC] > threshold
            down = state[_MAX_DEC] - state[_SUM_DEC] > threshold
            if (mode == _UP and up) or (mode == _DOWN and down) or (mode == _BOTH and (up or down)):
                out[n_hits] = i
                out_value[n_hits] = max(
                    state[_SUM_INC] - state[_MIN_INC], state[_MAX_DEC] - state[_SUM_DEC]
                )
                n_hits += 1
                _reset_state(state)
    return n_hits


_FRESH = (0.0, 0.0, 0.0, 0.0, None, -1.0)  # _reset_state as JSON: no value seen yet
_MAX_COUNT = 2.0**53  # n counts in a float: whole numbers are exact up to here


class _State(StateModel):
    """The checkpointed state of either class (see the module docstring)."""

    state: tuple[Finite, Finite, Finite, Finite, Finite | None, Finite]
    drift_detected: StrictBool

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        n, _, sum_inc, sum_dec, min_inc, max_dec = self.state
        if not (0 <= n <= _MAX_COUNT and n.is_integer()):
            raise ValueError(f"state[0], the count of values, must be a whole number >= 0: {n}")
        if n == 0:
            if self.state != _FRESH:
                raise ValueError(f"with no value seen the state must be {list(_FRESH)}")
        elif min_inc is None or min_inc > sum_inc or max_dec < sum_dec:
            raise ValueError(
                "the sums must lie within their extremes (min_inc <= sum_inc, max_dec >= sum_dec)"
            )
        return self


def _parsed(state: object) -> tuple[list[float], bool]:
    """A checkpointed state checked (StateError if it cannot be one), as (slots, alarm)."""
    checked = parse(_State, state, "page_hinkley state")
    return _from_json(list(checked.state)), checked.drift_detected


def _to_json(values: list[float]) -> list[float | None]:
    """Strict JSON has no infinity: the untouched minimum (+inf) is written as null."""
    return [None if v == np.inf else float(v) for v in values]


def _from_json(values: list[float | None]) -> list[float]:
    return [np.inf if v is None else float(v) for v in values]


class PageHinkley(DriftDetector):
    """Page-Hinkley over numpy batches; same parameters and alarms as river's `drift.PageHinkley`.

    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> xs = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> PageHinkley(delta=0.25, threshold=20.0, alpha=1.0).update_many(xs).tolist()
    [1021]
    """

    name: ClassVar[str] = "page_hinkley"
    warm_up: ClassVar[str] = "min_instances"

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        super().__init__()
        check_positive("min_instances", min_instances, strict=False)
        check_positive("delta", delta, strict=False)
        check_positive("threshold", threshold)
        check_positive("alpha", alpha)
        check_choice("mode", mode, MODES)
        self.min_instances = min_instances
        self.delta = delta
        self._threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self._state = np.zeros(6)
        _reset_state(self._state)

    def _reset(self) -> None:
        _reset_state(self._state)
        self._drift_detected = False

    def update(self, x: float) -> None:
        self.update_many(np.array([x], dtype=np.float64))

    def update_many(self, xs: FloatArray) -> IndexArray:
        if self._drift_detected:
            self._reset()
        out = np.empty(xs.shape[0], dtype=np.int64)
        values = np.empty(xs.shape[0], dtype=np.float64)
        n = _run(
            np.ascontiguousarray(xs, dtype=np.float64),
            self._state,
            float(self.min_instances),
            float(self.delta),
            float(self.threshold),
            float(self.alpha),
            MODES.index(self.mode),
            out,
            values,
        )
        hits = out[:n].copy()
        self._alarm_values = values[:n].copy()
        self._alarm_thresholds = np.full(n, float(self.threshold))
        self._drift_detected = bool(n) and int(hits[-1]) == xs.shape[0] - 1
        return hits

    @property
    def threshold(self) -> float:
        """λ: the hyperparameter, and what `statistic` must exceed."""
        return self._threshold

    @property
    def samples(self) -> int:
        """Values seen since the last reset."""
        return int(self._state[_N])

    @property
    def statistic(self) -> float:
        """m_T − min m_t (increases), max m_t − m_T (decreases), or the larger of the two."""
        s = self._state
        rise, fall = s[_SUM_INC] - s[_MIN_INC], s[_MAX_DEC] - s[_SUM_DEC]
        return _statistic(self.mode, float(s[_N]), float(rise), float(fall))

    def state_dict(self) -> dict[str, Any]:
        return {"state": _to_json(self._state.tolist()), "drift_detected": self._drift_detected}

    def load_state(self, state: dict[str, Any]) -> None:
        slots, self._drift_detected = _parsed(state)
        self._state[:] = slots


class RiverPageHinkley(DriftDetector):
    """river's `drift.PageHinkley`, one value per call: the reference implementation."""

    name: ClassVar[str] = "page_hinkley"
    warm_up: ClassVar[str] = "min_instances"

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        super().__init__()
        self.min_instances = min_instances
        self.delta = delta
        self._threshold = threshold
        self.alpha = alpha
        self.mode = mode
        # imported here: river (and the scipy.stats it pulls in) costs ~1 s of start-up
        from river import drift as river_drift

        self._river: Any = river_drift.PageHinkley(
            min_instances=min_instances, delta=delta, threshold=threshold, alpha=alpha, mode=mode
        )

    def _reset(self) -> None:
        self._river._reset()
        self._drift_detected = False

    def update(self, x: float) -> None:
        self._river.update(x)
        self._drift_detected = bool(self._river.drift_detected)

    @property
    def threshold(self) -> float:
        """λ: the hyperparameter, and what `statistic` must exceed."""
        return self._threshold

    @property
    def samples(self) -> int:
        """Values seen since the last reset (river's running mean counts them)."""
        return int(self._river._x_mean.n)

    @property
    def statistic(self) -> float:
        """As PageHinkley's; NaN right after an alarm (river resets at the next update)."""
        if self._drift_detected:
            return math.nan
        r = self._river
        rise, fall = r._sum_increase - r._min_increase, r._max_decrease - r._sum_decrease
        return _statistic(self.mode, float(r._x_mean.n), float(rise), float(fall))

    def _alarm_statistic(self) -> tuple[float, float]:
        r = self._river
        value = max(r._sum_increase - r._min_increase, r._max_decrease - r._sum_decrease)
        return (float(value), float(self.threshold))

    def state_dict(self) -> dict[str, Any]:
        r = self._river
        return {
            "state": _to_json(
                [
                    r._x_mean.n,
                    r._x_mean._mean,
                    r._sum_increase,
                    r._sum_decrease,
                    r._min_increase,
                    r._max_decrease,
                ]
            ),
            "drift_detected": self._drift_detected,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        (n, mean, s_inc, s_dec, min_inc, max_dec), drift_detected = _parsed(state)
        r = self._river
        r._x_mean.n, r._x_mean._mean = n, mean
        r._sum_increase, r._sum_decrease = s_inc, s_dec
        r._min_increase, r._max_decrease = min_inc, max_dec
        r._drift_detected = drift_detected
        self._drift_detected = drift_detected
