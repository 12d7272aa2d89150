"""Drift of the anomaly rate: a Bernoulli CUSUM on the 0/1 stream of flags.

Each record adds its log-likelihood ratio of "flagged at p1" against "flagged at p0":
ln(p1/p0) when flagged, ln((1 − p1)/(1 − p0)) (negative) when not; the statistic is
S = max(0, S + that) and an alarm is S > h. Lorden's bound gives the average run length
between false alarms at ≥ e^h while the true rate is at most p0, so h = ln(1/β) spends β, the
per-record share of the false-alarm budget (detectors/calibration.py), with no simulation.
p0 is the configured rate times a tolerance (the threshold is calibrated as if the features were
independent), p1 the rate the test is tuned to catch.

After an alarm the statistic is held at h and no further alarm is raised until S returns to 0,
i.e. until the rate has been back near p0 for a while: a rise that persists raises one alarm.

Between flags S only falls, by the same amount per record, so a batch costs one step per flagged
record, not per record; the fall is applied at the next flag (or when read), in one step, so the
result does not depend on where batches begin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from driftstream.detectors.state import Finite, Index, StateError, StateModel, parse


class _State(StateModel):
    statistic: Finite
    alarmed: bool
    since: Index
    samples: Index


class RateCusum:
    """The Bernoulli CUSUM of the module docstring; `threshold` is set by `calibrate`."""

    def __init__(self, p0: float, p1: float) -> None:
        if not 0.0 < p0 < p1 < 1.0:
            raise ValueError(f"invalid rates p0={p0!r}, p1={p1!r}; need 0 < p0 < p1 < 1")
        self.p0 = p0
        self.p1 = p1
        self._up = math.log(p1 / p0)
        self._down = math.log((1.0 - p1) / (1.0 - p0))
        self.threshold = math.nan
        self._statistic = 0.0
        self._alarmed = False
        self._since = 0  # records since the last flag, whose fall is not applied yet
        self._samples = 0

    def calibrate(self, per_record_rate: float) -> None:
        """h = ln(1/β): at most one false alarm per 1/β records in expectation (Lorden)."""
        self.threshold = math.log(1.0 / per_record_rate)

    @property
    def statistic(self) -> float:
        return max(0.0, self._statistic + self._since * self._down)

    @property
    def samples(self) -> int:
        return self._samples

    def _settle(self) -> None:
        """Apply the fall of the records since the last flag (at once, whatever the batches)."""
        self._statistic = self.statistic
        self._since = 0
        if self._statistic == 0.0:
            self._alarmed = False

    def update_many(self, flagged: npt.NDArray[np.int64], n: int) -> list[tuple[int, float]]:
        """Add n records, those at positions `flagged` (sorted, in [0, n)) flagged; return
        (position, statistic) of each alarm raised."""
        alarms: list[tuple[int, float]] = []
        previous = -1
        for position in flagged.tolist():
            self._since += position - previous - 1
            self._settle()
            self._statistic += self._up
            if not self._alarmed and self._statistic > self.threshold:
                alarms.append((position, self._statistic))
                self._alarmed = True
            if self._alarmed:
                self._statistic = min(self._statistic, self.threshold)
            previous = position
        self._since += n - previous - 1
        self._samples += n
        return alarms

    def state_dict(self) -> dict[str, Any]:
        return {
            "statistic": self._statistic,
            "alarmed": self._alarmed,
            "since": self._since,
            "samples": self._samples,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        doc = parse(_State, state, "anomaly rate state")
        if doc.statistic < 0:
            raise StateError("anomaly rate state: statistic: must be >= 0")
        self._statistic = doc.statistic
        self._alarmed = doc.alarmed
        self._since = doc.since
        self._samples = doc.samples
