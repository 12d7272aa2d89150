"""ADWIN (Bifet & Gavaldà 2007): river's reference class, and a batched twin compiled with numba.

`RiverADWIN` wraps `river.drift.ADWIN` by composition: one Python call per value. `ADWIN` runs the
same algorithm, with the same arithmetic in the same order, over a whole numpy batch in one
compiled call; tests/detectors/test_equivalence.py checks that both raise alarms at exactly the
same positions on the same input. Both reset after an alarm, as river does (the whole window is
dropped, see detectors/base.py for the lifecycle).

ADWIN's bound assumes values in [0, 1] and δ is a per-check confidence, not a false-alarm rate:
the monitor feeds standardised values and picks δ by calibration (detectors/calibration.py).

The statistic (base.py's readings): ADWIN compares, at every cut point of its window, the
difference of the two sub-window means |Δμ| with a bound ε that depends on both sides' lengths,
so no single number is "the" statistic. Reported: the cut with the largest |Δμ|/ε, as its
(|Δμ|, ε), so `statistic > threshold` exactly when ADWIN would cut now, and the units are those
of the alarm events' `value` and `threshold` (|Δμ| and ε of a cut, in the monitor's σ units).
It is computed when read, by one walk over the bucket summaries (about 5·log2(width) cut points),
never on the per-value path; NaN while no cut leaves `min_window_length` values on each side,
and right after an alarm (the window is about to be dropped).

Checkpoints: ADWIN saves its bucket rows, RiverADWIN river's serialised window. Either is loaded
only if it is a window ADWIN can have (`_check_window`: bucket rows of `max_buckets + 1`, counts
within them, the newest level in use, a width equal to the buckets' sizes and totals that add up
to the window's), since the compiled kernels and river's Rust code index by these numbers
unchecked. The parameters are the detector's own: river's window is re-encoded with them, so
both engines restore the same window under the same (configured) parameters.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Annotated, Any, ClassVar

import numpy as np
from numba import njit
from pydantic import Field, StrictBool, StrictInt, StrictStr

from driftstream.detectors.base import DriftDetector, FloatArray, IndexArray, check_positive
from driftstream.detectors.state import Finite, Index, StateError, StateModel, parse

_LEVELS = 64  # bucket rows: level i holds 2**i values, far beyond any window length

# fstate slots
_TOTAL, _VARIANCE, _WIDTH = 0, 1, 2
# istate slots
_TICK, _LEVELS_USED = 0, 1


@njit(cache=True, nogil=True)
def _insert(
    value: float,
    totals: np.ndarray,
    variances: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
    max_buckets: int,
) -> None:
    totals[0, counts[0]] = value
    variances[0, counts[0]] = 0.0
    counts[0] += 1
    fstate[_WIDTH] += 1.0
    width = fstate[_WIDTH]
    incremental_variance = 0.0
    if width > 1.0:
        delta_v = value - fstate[_TOTAL] / (width - 1.0)
        incremental_variance = (width - 1.0) * delta_v * delta_v / width
    fstate[_VARIANCE] += incremental_variance
    fstate[_TOTAL] += value
    # merge the two oldest summaries of a full level into one of the next level
    idx = 0
    while counts[idx] == max_buckets + 1:
        n1 = float(1 << idx)
        t0 = totals[idx, 0]
        t1 = totals[idx, 1]
        mu1 = t0 / n1
        mu2 = t1 / n1
        total12 = t0 + t1
        temp = n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
        v12 = variances[idx, 0] + variances[idx, 1] + temp
        if idx + 1 >= istate[_LEVELS_USED]:
            istate[_LEVELS_USED] += 1
        nxt = counts[idx + 1]
        totals[idx + 1, nxt] = total12
        variances[idx + 1, nxt] = v12
        counts[idx + 1] = nxt + 1
        _drop_oldest(totals, variances, counts, idx, 2)
        if counts[idx + 1] <= max_buckets:
            break
        idx += 1


@njit(cache=True, nogil=True)
def _drop_oldest(
    totals: np.ndarray, variances: np.ndarray, counts: np.ndarray, level: int, n: int
) -> None:
    used = counts[level]
    for j in range(used - n):
        totals[level, j] = totals[level, j + n]
        variances[level, j] = variances[level, j + n]
    for j in range(used - n, used):
        totals[level, j] = 0.0
        variances[level, j] = 0.0
    counts[level] = used - n


@njit(cache=True, nogil=True)
def _delete_oldest_bucket(
    totals: np.ndarray,
    variances: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
) -> None:
    last = istate[_LEVELS_USED] - 1
    n = float(1 << last)
    u = totals[last, 0]
    v = variances[last, 0]
    mu = u / n
    fstate[_WIDTH] -= n
    fstate[_TOTAL] -= u
    width = fstate[_WIDTH]
    mu_window = fstate[_TOTAL] / width
    inc = v + n * width * (mu - mu_window) * (mu - mu_window) / (n + width)
    fstate[_VARIANCE] -= inc
    _drop_oldest(totals, variances, counts, last, 1)
    if counts[last] == 0:
        istate[_LEVELS_USED] -= 1


@njit(cache=True, nogil=True)
def _epsilon(
    n0: float, n1: float, delta: float, width: float, variance: float, min_window_length: float
) -> float:
    delta_prime = math.log(2.0 * math.log(width) / delta)
    m_recip = 1.0 / (n0 - min_window_length + 1.0) + 1.0 / (n1 - min_window_length + 1.0)
    return (
        math.sqrt(2.0 * m_recip * (variance / width) * delta_prime)
        + 2.0 / 3.0 * delta_prime * m_recip
    )


@njit(cache=True, nogil=True)
def _scan_cuts(
    totals: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
    delta: float,
    min_window_length: float,
    first: bool,
    out: np.ndarray,
) -> bool:
    """Walk the window's cut points, oldest boundary first, comparing |Δμ| with ε at each.

    `first`: stop at the first cut whose |Δμ| exceeds ε, out[0:2] = its (|Δμ|, ε), True; False
    if there is none. Otherwise: out[0:2] = (|Δμ|, ε) of the cut with the largest |Δμ|/ε (NaN
    when no cut leaves `min_window_length` values on both sides), True if it exceeds.
    """
    width = fstate[_WIDTH]
    variance = fstate[_VARIANCE]
    best = -1.0
    out[0] = np.nan
    out[1] = np.nan
    n0 = 0.0
    n1 = width
    u0 = 0.0
    u1 = fstate[_TOTAL]
    for idx in range(istate[_LEVELS_USED] - 1, -1, -1):
        bucket_size = float(1 << idx)
        used = counts[idx]
        for k in range(used):
            n0 += bucket_size
            n1 -= bucket_size
            t = totals[idx, k]
            u0 += t
            u1 -= t
            if idx == 0 and k == used - 1:
                return best > 1.0
            delta_mean = (u0 / n0) - (u1 / n1)
            if n1 >= min_window_length and n0 >= min_window_length:
                epsilon = _epsilon(n0, n1, delta, width, variance, min_window_length)
                if first:
                    if abs(delta_mean) > epsilon:
                        out[0] = abs(delta_mean)
                        out[1] = epsilon
                        return True
                elif abs(delta_mean) / epsilon > best:
                    best = abs(delta_mean) / epsilon
                    out[0] = abs(delta_mean)
                    out[1] = epsilon
    return best > 1.0


@njit(cache=True, nogil=True)
def _detect(
    totals: np.ndarray,
    variances: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
    delta: float,
    clock: int,
    min_window_length: float,
    grace_period: float,
    stats: np.ndarray,
    cut: np.ndarray,
) -> bool:
    """One ADWIN check: drop the oldest bucket while a cut exceeds its bound; on a change,
    stats[0:2] = (|Δμ|, ε) of the first cut found (`cut`: scratch space for two values)."""
    istate[_TICK] += 1
    if istate[_TICK] % clock != 0 or fstate[_WIDTH] <= grace_period:
        return False
    change = False
    while _scan_cuts(totals, counts, fstate, istate, delta, min_window_length, True, cut):
        if not change:
            stats[0] = cut[0]
            stats[1] = cut[1]
        change = True
        _delete_oldest_bucket(totals, variances, counts, fstate, istate)
    return change


@njit(cache=True, nogil=True)
def _reset_state(
    totals: np.ndarray,
    variances: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
) -> None:
    totals[:] = 0.0
    variances[:] = 0.0
    counts[:] = 0
    fstate[:] = 0.0
    istate[_TICK] = 0
    istate[_LEVELS_USED] = 1


@njit(cache=True, nogil=True)
def _run(
    xs: np.ndarray,
    totals: np.ndarray,
    variances: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
    delta: float,
    clock: int,
    max_buckets: int,
    min_window_length: float,
    grace_period: float,
    out: np.ndarray,
    out_value: np.ndarray,
    out_threshold: np.ndarray,
) -> int:
    n_hits = 0
    stats = np.zeros(2)
    cut = np.empty(2)
    for i in range(xs.shape[0]):
        _insert(xs[i], totals, variances, counts, fstate, istate, max_buckets)
        if _detect(
            totals,
            variances,
            counts,
            fstate,
            istate,
            delta,
            clock,
            min_window_length,
            grace_period,
            stats,
            cut,
        ):
            out[n_hits] = i
            out_value[n_hits] = stats[0]
            out_threshold[n_hits] = stats[1]
            n_hits += 1
            # river resets at the next update; resetting now is the same thing
            _reset_state(totals, variances, counts, fstate, istate)
    return n_hits


class ADWIN(DriftDetector):
    """ADWIN over numpy batches; same parameters and alarms as river's `drift.ADWIN`.

    >>> import numpy as np
    >>> rng = np.random.default_rng(42)
    >>> xs = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> ADWIN(delta=0.002).update_many(xs).tolist()
    [1055]
    """

    name: ClassVar[str] = "adwin"
    warm_up: ClassVar[str] = "grace_period"

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        super().__init__()
        check_positive("delta", delta)
        check_positive("clock", clock)
        check_positive("max_buckets", max_buckets)
        check_positive("min_window_length", min_window_length)
        check_positive("grace_period", grace_period, strict=False)
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self._totals = np.zeros((_LEVELS, max_buckets + 1))
        self._variances = np.zeros((_LEVELS, max_buckets + 1))
        self._counts = np.zeros(_LEVELS, dtype=np.int64)
        self._fstate = np.zeros(3)
        self._istate = np.array([0, 1], dtype=np.int64)
        self._reading: tuple[float, float] | None = None

    def _reset(self) -> None:
        _reset_state(self._totals, self._variances, self._counts, self._fstate, self._istate)
        self._drift_detected = False
        self._reading = None

    @property
    def statistic(self) -> float:
        """|Δμ| of the most significant cut of the current window (module docstring)."""
        return self._read()[0]

    @property
    def threshold(self) -> float:
        """ε of that cut."""
        return self._read()[1]

    @property
    def samples(self) -> int:
        """The window's width: the values ADWIN still holds."""
        return int(self._fstate[_WIDTH])

    def _read(self) -> tuple[float, float]:
        if self._reading is None:
            self._reading = _most_significant_cut(
                self._totals,
                self._counts,
                self._fstate,
                self._istate,
                self.delta,
                self.min_window_length,
            )
        return self._reading

    def update(self, x: float) -> None:
        self.update_many(np.array([x], dtype=np.float64))

    def update_many(self, xs: FloatArray) -> IndexArray:
        if self._drift_detected:
            self._reset()
        self._reading = None
        out = np.empty(xs.shape[0], dtype=np.int64)
        values = np.empty(xs.shape[0], dtype=np.float64)
        thresholds = np.empty(xs.shape[0], dtype=np.float64)
        n = _run(
            np.ascontiguousarray(xs, dtype=np.float64),
            self._totals,
            self._variances,
            self._counts,
            self._fstate,
            self._istate,
            float(self.delta),
            int(self.clock),
            int(self.max_buckets),
            float(self.min_window_length),
            float(self.grace_period),
            out,
            values,
            thresholds,
        )
        hits = out[:n].copy()
        self._alarm_values = values[:n].copy()
        self._alarm_thresholds = thresholds[:n].copy()
        # the kernel already reset after each alarm; remember an alarm on the last value only
        self._drift_detected = bool(n) and int(hits[-1]) == xs.shape[0] - 1
        return hits

    def state_dict(self) -> dict[str, Any]:
        used = int(self._istate[_LEVELS_USED])
        return {
            "totals": self._totals[:used].tolist(),
            "variances": self._variances[:used].tolist(),
            "counts": self._counts[:used].tolist(),
            "total": float(self._fstate[_TOTAL]),
            "variance": float(self._fstate[_VARIANCE]),
            "width": float(self._fstate[_WIDTH]),
            "tick": int(self._istate[_TICK]),
            "drift_detected": self._drift_detected,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        saved = parse(_State, state, "adwin state")
        window = _Window(
            saved.counts, saved.totals, saved.variances, saved.total, saved.variance, saved.width
        )
        _check_window(window, saved.tick, self.max_buckets, "adwin state")
        self._reset()
        used = len(saved.counts)
        self._totals[:used] = np.asarray(saved.totals, dtype=np.float64)
        self._variances[:used] = np.asarray(saved.variances, dtype=np.float64)
        self._counts[:used] = np.asarray(saved.counts, dtype=np.int64)
        self._fstate[:] = (saved.total, saved.variance, saved.width)
        self._istate[:] = (saved.tick, used)
        self._drift_detected = saved.drift_detected


class _State(StateModel):
    """ADWIN's checkpoint: the bucket rows of the levels in use, level 0 (single values) first."""

    totals: list[list[Finite]]
    variances: list[list[Finite]]
    counts: list[Annotated[StrictInt, Field(ge=0, le=2**31)]]
    total: Finite
    variance: Finite
    width: Finite
    tick: Index
    drift_detected: StrictBool


class _RiverState(StateModel):
    """RiverADWIN's checkpoint: river's window, serialised (bincode), in base64."""

    window: StrictStr
    drift_detected: StrictBool


@dataclass(frozen=True)
class _Window:
    """An ADWIN window as both engines keep it: per level (2**level values per bucket) the
    buckets in use and the rows of bucket totals and variances, and the window's sums."""

    counts: Sequence[int]
    totals: Sequence[Sequence[float]]
    variances: Sequence[Sequence[float]]
    total: float
    variance: float
    width: float


_MAX_WIDTH = 2**53  # values in a window: counted exactly in a float
_SUM_TOLERANCE = 1e-6  # relative: the window's running sums against its buckets' sums


def _check_window(window: _Window, tick: int, max_buckets: int, what: str) -> None:
    """StateError unless `window` is one ADWIN with `max_buckets` can have after `tick` values."""
    levels, row = len(window.counts), max_buckets + 1
    problem = None
    if (
        not 1 <= levels <= _LEVELS
        or levels != len(window.totals)
        or levels != len(window.variances)
    ):
        problem = f"1 to {_LEVELS} levels, each with a row of totals and of variances"
    elif any(len(r) != row for r in (*window.totals, *window.variances)):
        problem = f"rows of max_buckets + 1 = {row} bucket totals and variances"
    elif not all(
        math.isfinite(x)
        for x in (
            window.total,
            window.variance,
            window.width,
            *chain(*window.totals, *window.variances),
        )
    ):
        problem = "finite numbers"
    elif any(c > max_buckets for c in window.counts) or (levels > 1 and not window.counts[-1]):
        problem = f"at most max_buckets = {max_buckets} buckets a level, the oldest level in use"
    elif window.width != sum(c << level for level, c in enumerate(window.counts)):
        problem = "a width equal to the values its buckets hold"
    elif not window.width <= min(tick, _MAX_WIDTH):
        problem = f"a width of at most tick = {tick} values"
    else:
        problem = _buckets_problem(window) or _sums_problem(window)
    if problem is not None:
        raise StateError(f"{what}: not a window ADWIN can have: it needs {problem}")


def _buckets_problem(window: _Window) -> str | None:
    for used, totals, variances in zip(window.counts, window.totals, window.variances, strict=True):
        if any(totals[used:]) or any(variances[used:]):
            return "unused buckets empty (0.0)"
        if any(v < 0 for v in variances[:used]):
            return "bucket variances >= 0"
    return None


def _sums_problem(window: _Window) -> str | None:
    pairs = list(zip(window.counts, window.totals, window.variances, strict=True))
    buckets = [t for used, totals, _ in pairs for t in totals[:used]]
    magnitude = 1.0 + math.fsum(map(abs, buckets))
    spread = 1.0 + math.fsum(v for used, _, variances in pairs for v in variances[:used])
    if not (math.isfinite(magnitude) and math.isfinite(spread)):
        return "bucket sums within the range of a float"
    if abs(window.total - math.fsum(buckets)) > _SUM_TOLERANCE * magnitude:
        return "a total equal to its buckets' totals"
    if window.variance < -_SUM_TOLERANCE * spread:
        return "a variance >= 0"
    return None


def _most_significant_cut(
    totals: np.ndarray,
    counts: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray,
    delta: float,
    min_window_length: int,
) -> tuple[float, float]:
    """(|Δμ|, ε) of the window's cut with the largest |Δμ|/ε; NaNs when there is none."""
    out = np.empty(2)
    _scan_cuts(totals, counts, fstate, istate, float(delta), float(min_window_length), False, out)
    return float(out[0]), float(out[1])


# river's ADWIN window as its Python binding serialises it (serde's bincode, little-endian;
# river 0.26, rust_src/adwin.rs): the AdaptiveWindowing struct (delta, clock, max_buckets,
# min_window_length, grace_period, total, variance, width, total_width, n_buckets,
# max_n_buckets, tick, n_detections, then the bucket list: its length, and per level max_size,
# current_idx, totals, variances), followed by the binding's copy of the five parameters
_RIVER_HEADER = struct.Struct("<diQ6d4iQ")
_RIVER_TRAILER = struct.Struct("<diQii")
_RIVER_TOTAL = 5  # positions in the header
_RIVER_VARIANCE = 6
_RIVER_WIDTH = 7
_RIVER_TICK = 11
_RIVER_LEVELS = 13
_RIVER_MAX_I32 = 2**31 - 1
_RIVER_TOTAL_WIDTH = 8
_RIVER_I32S = slice(9, 13)  # n_buckets, max_n_buckets, tick, n_detections
_U64 = struct.Struct("<Q")


def _river_window(raw: bytes, max_buckets: int) -> tuple[np.ndarray, ...]:
    """river's ADWIN window, from its serialised form, as ADWIN's arrays (totals, counts,
    fstate, istate); ValueError if the bytes do not have the layout above."""
    header = _RIVER_HEADER.unpack_from(raw)
    totals = np.zeros((_LEVELS, max_buckets + 1))
    counts = np.zeros(_LEVELS, dtype=np.int64)
    levels = header[_RIVER_LEVELS]
    at = _RIVER_HEADER.size
    for level in range(levels):
        _max_size, used, n_totals = struct.unpack_from("<3Q", raw, at)
        at += 24
        totals[level, :n_totals] = np.frombuffer(raw, "<f8", n_totals, at)
        at += 8 * n_totals
        (n_variances,) = _U64.unpack_from(raw, at)
        at += 8 + 8 * n_variances
        counts[level] = used
    if at + _RIVER_TRAILER.size != len(raw) or levels > _LEVELS:
        raise ValueError("river's ADWIN window does not have the expected layout")
    fstate = np.array(
        [header[_RIVER_TOTAL], header[_RIVER_VARIANCE], header[_RIVER_WIDTH]], dtype=np.float64
    )
    istate = np.array([0, max(levels, 1)], dtype=np.int64)
    return totals, counts, fstate, istate


@dataclass(frozen=True)
class _RiverWindow:
    """river's serialised ADWIN window, read in full (the layout above), to be checked."""

    header: tuple[Any, ...]
    window: _Window

    @property
    def tick(self) -> int:
        return int(self.header[_RIVER_TICK])

    @classmethod
    def read(cls, text: str, max_buckets: int) -> _RiverWindow:
        """The window in base64 `text`, or StateError when it is not river's layout with
        `max_buckets`-sized rows (checked before any length in it is trusted)."""
        try:
            raw = base64.b64decode(text, validate=True)
            header = _RIVER_HEADER.unpack_from(raw)
            at, levels = _RIVER_HEADER.size, header[_RIVER_LEVELS]
            if not 1 <= levels <= _LEVELS:
                raise ValueError(f"{levels} levels")
            counts, totals, variances = [], [], []
            for _ in range(levels):
                max_size, used, n_totals = struct.unpack_from("<3Q", raw, at)
                if max_size != max_buckets or n_totals != max_buckets + 1:
                    raise ValueError(f"a level of {n_totals} buckets")
                totals.append(np.frombuffer(raw, "<f8", n_totals, at + 24).tolist())
                at += 24 + 8 * n_totals
                (n_variances,) = _U64.unpack_from(raw, at)
                if n_variances != n_totals:
                    raise ValueError(f"{n_variances} variances for {n_totals} totals")
                variances.append(np.frombuffer(raw, "<f8", n_variances, at + 8).tolist())
                at += 8 + 8 * n_variances
                counts.append(used)
            if at + _RIVER_TRAILER.size != len(raw):
                raise ValueError(
                    f"{len(raw) - at} bytes after the buckets, not {_RIVER_TRAILER.size}"
                )
        except (ValueError, struct.error) as exc:  # binascii.Error is a ValueError
            raise StateError(
                f"adwin state: window: not river's ADWIN window for max_buckets = "
                f"{max_buckets} ({exc})"
            ) from None
        sums = header[_RIVER_TOTAL], header[_RIVER_VARIANCE], header[_RIVER_WIDTH]
        return cls(header, _Window(counts, totals, variances, *sums))

    def encode(self, detector: RiverADWIN) -> bytes:
        """These bytes with `detector`'s parameters, as river would serialise them."""
        d = detector
        params = (float(d.delta), d.clock, d.max_buckets, float(d.min_window_length))
        header = _RIVER_HEADER.pack(*params, float(d.grace_period), *self.header[_RIVER_TOTAL:])
        parts = [header]
        for used, totals, variances in zip(
            self.window.counts, self.window.totals, self.window.variances, strict=True
        ):
            parts.append(struct.pack("<3Q", d.max_buckets, used, len(totals)))
            parts.append(np.asarray(totals, dtype="<f8").tobytes())
            parts.append(_U64.pack(len(variances)))
            parts.append(np.asarray(variances, dtype="<f8").tobytes())
        trailer = (float(d.delta), d.clock, d.max_buckets, d.min_window_length, d.grace_period)
        parts.append(_RIVER_TRAILER.pack(*trailer))
        return b"".join(parts)


class RiverADWIN(DriftDetector):
    """river's `drift.ADWIN`, one value per call: the reference implementation.

    Its readings are ADWIN's (same definition, same numbers), computed from river's window
    when read: river does not expose its cut points, so they are taken from the serialised
    window that `state_dict` checkpoints anyway.
    """

    name: ClassVar[str] = "adwin"
    warm_up: ClassVar[str] = "grace_period"

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        super().__init__()
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self._reading: tuple[float, float] | None = None
        # imported here: river (and the scipy.stats it pulls in) costs ~1 s of start-up
        from river import drift as river_drift

        self._river: Any = river_drift.ADWIN(  # type: ignore[no-untyped-call]
            delta=delta,
            clock=clock,
            max_buckets=max_buckets,
            min_window_length=min_window_length,
            grace_period=grace_period,
        )

    def _reset(self) -> None:
        self._river._reset()
        self._drift_detected = False
        self._reading = None

    @property
    def statistic(self) -> float:
        """As ADWIN's."""
        return self._read()[0]

    @property
    def threshold(self) -> float:
        """As ADWIN's."""
        return self._read()[1]

    @property
    def samples(self) -> int:
        """river's window width."""
        return int(self._river.width)

    def _read(self) -> tuple[float, float]:
        if self._drift_detected:
            return (math.nan, math.nan)  # river drops the window at the next update
        if self._reading is None:
            totals, counts, fstate, istate = _river_window(
                self._river._helper.__getstate__(), self.max_buckets
            )
            self._reading = _most_significant_cut(
                totals, counts, fstate, istate, self.delta, self.min_window_length
            )
        return self._reading

    def update(self, x: float) -> None:
        self._river.update(x)
        self._drift_detected = bool(self._river.drift_detected)
        self._reading = None

    def state_dict(self) -> dict[str, Any]:
        # river's Rust window serialises itself with serde (bincode): plain data, not pickle
        raw: bytes = self._river._helper.__getstate__()
        return {
            "window": base64.b64encode(raw).decode("ascii"),
            "drift_detected": self._drift_detected,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        saved = parse(_RiverState, state, "adwin state")
        window = _RiverWindow.read(saved.window, self.max_buckets)
        _check_window(window.window, window.tick, self.max_buckets, "adwin state")
        counters, total_width = window.header[_RIVER_I32S], window.header[_RIVER_TOTAL_WIDTH]
        if not all(0 <= n <= _RIVER_MAX_I32 for n in counters):
            raise StateError("adwin state: window: river's counters must lie in 0 .. 2**31 - 1")
        if not (math.isfinite(total_width) and total_width >= 0):
            raise StateError("adwin state: window: total_width must be a finite number >= 0")
        # river's Rust code trusts these bytes: they are exactly what it writes, now
        self._river._helper.__setstate__(window.encode(self))
        self._river._drift_detected = saved.drift_detected
        self._drift_detected = saved.drift_detected
        self._reading = None
