"""Every reading's statistic and threshold over the stream, kept to a bounded number of points.

The monitor adds each reading (a sequential detector or window check of one feature) every `hop`
rows; the run's `summary` event carries the result, from which `driftstream report` draws the
statistic against its threshold over record position.

Memory is bounded per series: when a series holds `capacity` points, neighbouring pairs merge
into one, and from then on each point stands for twice as many readings. A merge keeps the
reading furthest past its threshold (nearest to it while within), not an average: a breach that
lasted one hop stays visible however long the run. Share checks (LOWER_BOUND_CHECKS) breach
below their threshold, every other reading above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from driftstream.detectors.window_checks import LOWER_BOUND_CHECKS

Key = tuple[str, str]  # (feature, detector)
Point = tuple[int, float, float]  # (record index, statistic, threshold)


def excess(statistic: float, threshold: float, lower_bound: bool) -> float:
    """How far `statistic` is past `threshold` on the breaching side (negative while within);
    -inf while either is undefined."""
    gap = threshold - statistic if lower_bound else statistic - threshold
    return -math.inf if math.isnan(gap) else gap


@dataclass
class _Series:
    lower_bound: bool
    capacity: int
    points: npt.NDArray[np.float64] = field(init=False)
    n: int = 0
    stride: int = 1  # readings per stored point
    pending: Point | None = None  # the stronger of the readings since the last stored point
    pending_count: int = 0

    def __post_init__(self) -> None:
        self.points = np.empty((self.capacity, 3))

    def add(self, point: Point) -> None:
        self.pending = point if self.pending is None else self._stronger(self.pending, point)
        self.pending_count += 1
        if self.pending_count < self.stride:
            return
        if self.n == self.capacity:
            self._halve()
        self.points[self.n] = self.pending
        self.n += 1
        self.pending, self.pending_count = None, 0

    def _stronger(self, a: Point, b: Point) -> Point:
        """The reading further past (or nearer to) its threshold; the later one on a tie."""
        lower = self.lower_bound
        return a if excess(a[1], a[2], lower) > excess(b[1], b[2], lower) else b

    def _halve(self) -> None:
        merged = [
            self._stronger(_point(self.points[i]), _point(self.points[i + 1]))
            for i in range(0, self.n - 1, 2)
        ]
        if self.n % 2:
            merged.append(_point(self.points[self.n - 1]))
        self.n = len(merged)
        self.points[: self.n] = merged
        self.stride *= 2

    def to_json(self) -> list[list[float | None]]:
        rows = [_point(row) for row in self.points[: self.n]]
        if self.pending is not None:
            rows.append(self.pending)
        return [[record, _null(s), _null(t)] for record, s, t in rows]


def _point(row: npt.NDArray[np.float64]) -> Point:
    return (int(row[0]), float(row[1]), float(row[2]))


def _null(value: float) -> float | None:
    return None if math.isnan(value) else value


class Trace:
    """The readings of one monitor, at most `capacity` points per (feature, detector) (at least
    2); a capacity of 0 keeps nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 2) if capacity > 0 else 0
        self._series: dict[Key, _Series] = {}

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def add(self, key: Key, record: int, statistic: float, threshold: float) -> None:
        if not self.capacity:
            return
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(key[1] in LOWER_BOUND_CHECKS, self.capacity)
        series.add((record, statistic, threshold))

    def to_json(self) -> list[dict[str, Any]]:
        """One object per series: feature, detector, lower_bound, points [[record, statistic,
        threshold], ...] in record order (NaN as null)."""
        return [
            {
                "feature": feature,
                "detector": detector,
                "lower_bound": series.lower_bound,
                "points": series.to_json(),
            }
            for (feature, detector), series in self._series.items()
        ]
