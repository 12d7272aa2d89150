"""Deequ's KLL quantile sketch (`QuantileNonSample`), as Model Monitor stores it in statistics.json.

Model Monitor's analyzer is built with Deequ 2.0.2, and `statistics.json` keeps the sketch as
Deequ's compactor buffers: `distribution.kll.sketch.data[i]` is the buffer of level `i`, each of its
items standing for 2**i values, with parameters sketch size `k` and shrinking factor `c`.

Why hand-written: no Python library writes that layout. Apache DataSketches' `kll_floats_sketch`
has its own capacities, random compaction and a binary serialisation, so its levels cannot be
written as Deequ levels, and Deequ itself is Scala on Spark. This module follows Deequ's
algorithm closely so that our baselines look like Model Monitor's and load back the same way:

- level `h` holds at most `2 * (ceil(k * c**h / 2) + 1)` items before it is compacted (the bottom
  level is the largest, as in Deequ);
- the sketch condenses only when the total number of stored items exceeds the summed capacity,
  and then compacts the lowest level that is at or over its capacity;
- compaction sorts an even number of items, keeps every other one (starting at an offset that
  alternates every second compaction of that level, Deequ's deterministic choice) and promotes
  them one level up; an odd-sized buffer keeps its last item behind, so the weights add up
  exactly to the number of values seen.

Everything is deterministic: the same values in the same order give the same levels.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, StrictFloat, StrictInt, StrictStr

from driftstream.detectors.state import StateError, StateModel, pack, parse, unpack

DEFAULT_K = 2048  # Deequ's DEFAULT_SKETCH_SIZE, written as "k" : 2048.0 by Model Monitor
DEFAULT_C = 0.64  # Deequ's DEFAULT_SHRINKING_FACTOR

FloatArray = npt.NDArray[np.float64]


class KLLSketch:
    """A streaming quantile sketch whose levels are Deequ's `QuantileNonSample` compactors.

    Fed by the baseline profiler (`update_many` per batch of a column). `levels()` is what goes
    into `statistics.json`; `count` always equals the number of values added, and the items of
    level i weigh exactly 2**i.
    """

    def __init__(self, k: int = DEFAULT_K, c: float = DEFAULT_C) -> None:
        if k < 2:
            raise ValueError(f"k must be an integer >= 2, got {k!r}")
        if not 0.0 < c <= 1.0:
            raise ValueError(f"c must be in (0, 1], got {c!r}")
        self.k = k
        self.c = c
        self._levels: list[FloatArray] = []
        self._compactions: list[int] = []  # per level, Deequ's numOfCompress
        self._offsets: list[int] = []  # per level, Deequ's alternating offset
        self._stored = 0  # items held over all levels
        self._capacity_total = 0
        self._count = 0
        self._add_level()

    @property
    def count(self) -> int:
        """Number of values added; equals the total weight of the stored items."""
        return self._count

    def capacity(self, height: int) -> int:
        """How many items level `height` holds before it becomes due for compaction."""
        return 2 * (math.ceil(self.k * self.c**height / 2) + 1)

    def update(self, value: float) -> None:
        """Add one value."""
        self.update_many(np.asarray([value], dtype=np.float64))

    def update_many(self, values: npt.ArrayLike) -> None:
        """Add values in order, with the same result as adding them one at a time.

        Deequ condenses as soon as one insertion makes the stored items exceed the total
        capacity, so values go into level 0 in runs that stop exactly at that point; each run
        is one numpy concatenation instead of a Python call per value.
        Raises ValueError on NaN, which has no rank.
        """
        arr = np.asarray(values, dtype=np.float64).ravel()
        if arr.size and np.isnan(arr).any():
            raise ValueError("KLL sketch cannot rank NaN values")
        start = 0
        while start < arr.size:
            room = self._capacity_total - self._stored + 1
            run = arr[start : start + room]
            start += run.size
            self._levels[0] = np.concatenate((self._levels[0], run))
            self._stored += run.size
            self._count += run.size
            if self._stored > self._capacity_total:
                self._condense()

    def levels(self) -> list[list[float]]:
        """The compactor buffers, level 0 first, in Deequ's order (level 0 is not sorted)."""
        return [level.tolist() for level in self._levels]

    def items_and_weights(self) -> tuple[FloatArray, FloatArray]:
        """All stored items sorted ascending, with their weights (2**level) aligned."""
        return flatten_levels(self._levels)

    def rank(self, x: npt.ArrayLike, *, inclusive: bool = True) -> FloatArray:
        """Estimated number of values <= x (or < x when not inclusive), as Deequ's getRank."""
        items, weights = self.items_and_weights()
        return weighted_rank(items, weights, x, inclusive=inclusive)

    def state_dict(self) -> dict[str, Any]:
        """The sketch as JSON-compatible data (checkpoints of a window's statistics): its
        parameters, levels, and Deequ's per-level compaction counts and offsets, so that a
        restored sketch goes on exactly as this one would."""
        return {
            "k": self.k,
            "c": self.c,
            "levels": [pack(level) for level in self._levels],
            "compactions": list(self._compactions),
            "offsets": list(self._offsets),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], what: str = "sketch") -> KLLSketch:
        """A sketch restored from `state_dict()` output; StateError naming `what` and the key
        for a state no sketch can be in (checked whole before it is used)."""
        doc = parse(_SketchState, state, what)
        try:
            sketch = cls(doc.k, doc.c)
        except ValueError as exc:
            raise StateError(f"{what}: {exc}") from None
        levels = [
            unpack(text, np.float64, f"{what}.levels[{i}]") for i, text in enumerate(doc.levels)
        ]
        if not len(levels) == len(doc.compactions) == len(doc.offsets) >= 1:
            raise StateError(
                f"{what}: levels, compactions and offsets must have one entry per level"
            )
        if any(np.isnan(level).any() for level in levels):
            raise StateError(f"{what}: a level holds NaN")
        for _ in levels[1:]:
            sketch._add_level()
        sketch._levels = levels
        sketch._compactions = list(doc.compactions)
        sketch._offsets = list(doc.offsets)
        sketch._stored = sum(level.size for level in levels)
        if sketch._stored > sketch._capacity_total:
            raise StateError(
                f"{what}: {sketch._stored} items exceed the sketch's capacity of "
                f"{sketch._capacity_total}"
            )
        sketch._count = sum(level.size << height for height, level in enumerate(levels))
        return sketch

    def _add_level(self) -> None:
        self._levels.append(np.empty(0, dtype=np.float64))
        self._compactions.append(0)
        self._offsets.append(0)
        self._capacity_total += self.capacity(len(self._levels) - 1)

    def _condense(self) -> None:
        for height, level in enumerate(self._levels):
            if level.size >= self.capacity(height):
                if height + 1 >= len(self._levels):
                    self._add_level()
                promoted = self._compact(height)
                self._levels[height + 1] = np.concatenate((self._levels[height + 1], promoted))
                self._stored = sum(lv.size for lv in self._levels)
                return

    def _compact(self, height: int) -> FloatArray:
        buffer = self._levels[height]
        even = buffer.size - buffer.size % 2
        # Deequ flips the offset before every odd-numbered compaction (0, 1, 1, 0, 0, ...),
        # which spreads the rounding error without needing a random source.
        if self._compactions[height] % 2 == 1:
            self._offsets[height] = 1 - self._offsets[height]
        promoted = np.sort(buffer[:even])[self._offsets[height] :: 2]
        # the odd item out stays behind at this level, so no weight is lost
        self._levels[height] = buffer[even:].copy()
        self._compactions[height] += 1
        return promoted


def flatten_levels(levels: list[FloatArray] | list[list[float]]) -> tuple[FloatArray, FloatArray]:
    """Items of all levels sorted ascending, with weights 2**level aligned (stable sort)."""
    parts = [np.asarray(level, dtype=np.float64) for level in levels]
    if not parts:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)
    items = np.concatenate(parts)
    weights = np.concatenate(
        [np.full(part.size, 2.0**height, dtype=np.float64) for height, part in enumerate(parts)]
    )
    order = np.argsort(items, kind="stable")
    return items[order], weights[order]


def weighted_rank(
    items: FloatArray, weights: FloatArray, x: npt.ArrayLike, *, inclusive: bool = True
) -> FloatArray:
    """Total weight of sorted `items` <= x (or < x when not inclusive), vectorised over x."""
    cum = np.concatenate(([0.0], np.cumsum(weights)))
    xs = np.asarray(x, dtype=np.float64)
    pos = np.searchsorted(items, xs, side="right" if inclusive else "left")
    return np.asarray(cum[pos], dtype=np.float64)


class _SketchState(StateModel):
    """What `KLLSketch.state_dict()` writes."""

    k: Annotated[StrictInt, Field(ge=2, le=1 << 20)]
    c: Annotated[StrictFloat, Field(gt=0.0, le=1.0)]
    levels: list[StrictStr]
    compactions: list[Annotated[StrictInt, Field(ge=0, le=1 << 62)]]
    offsets: list[Annotated[StrictInt, Field(ge=0, le=1)]]
