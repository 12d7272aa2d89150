"""Synthetic inference traffic with changes at known positions (demo, tests, benchmarks).

Thirteen features like a small tabular model's: Gaussian, lognormal, exponential, integer (Poisson)
and categorical inputs, plus a model score `prediction` computed from them. Changes start at a
known record and can be abrupt or ramp in. Output is training CSV text (for `driftstream
baseline`) and SageMaker data-capture JSON Lines (for `driftstream replay`), deterministic for a
seed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import orjson

NUMERIC: dict[str, tuple[str, float, float]] = {
    # name: (distribution, a, b)
    "age": ("normal", 40.0, 10.0),
    "income": ("lognormal", 10.5, 0.6),
    "balance": ("normal", 1500.0, 400.0),
    "tenure_days": ("exponential", 300.0, 0.0),
    "session_seconds": ("lognormal", 4.0, 1.0),
    "n_purchases": ("poisson", 3.0, 0.0),
    "n_support_calls": ("poisson", 0.7, 0.0),
    "latency_ms": ("exponential", 80.0, 0.0),
    "score_a": ("normal", 0.0, 1.0),
    "score_b": ("normal", 5.0, 2.0),
}
CATEGORICAL: dict[str, dict[str, float]] = {
    "country": {"US": 0.5, "DE": 0.2, "FR": 0.15, "BR": 0.1, "IN": 0.05},
    "device": {"ios": 0.45, "android": 0.45, "web": 0.1},
    "plan": {"free": 0.6, "basic": 0.3, "pro": 0.1},
}
FEATURES: tuple[str, ...] = (*NUMERIC, *CATEGORICAL)
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

ChangeKind = Literal["mean_shift", "variance", "ramp", "category_mix", "missing", "prediction"]


@dataclass(frozen=True)
class Change:
    """A change to one feature starting at record `at`.

    mean_shift: +magnitude σ; variance: σ² × magnitude, mean kept; ramp: mean shift growing
    linearly to magnitude σ over `ramp` records; category_mix: move `magnitude` of the
    probability mass to the rarest category; missing: that share of values goes missing;
    prediction: the model score moves by +magnitude (its σ units).
    """

    kind: ChangeKind
    feature: str
    at: int
    magnitude: float
    ramp: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    n_records: int
    changes: tuple[Change, ...] = field(default_factory=tuple)
    seed: int = 7
    seconds_between: float = 0.01


def _draw(
    kind: str, a: float, b: float, n: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    if kind == "normal":
        return rng.normal(a, b, n)
    if kind == "lognormal":
        return rng.lognormal(a, b, n)
    if kind == "exponential":
        return rng.exponential(a, n)
    return rng.poisson(a, n).astype(np.float64)


def _sigma(kind: str, a: float, b: float) -> float:
    if kind == "normal":
        return b
    if kind == "lognormal":
        return float(np.sqrt((np.exp(b * b) - 1) * np.exp(2 * a + b * b)))
    if kind == "exponential":
        return a
    return float(np.sqrt(a))


def _score(cols: dict[str, npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    z = 0.04 * (cols["age"] - 40) + 0.5 * cols["score_a"] - 0.2 * (cols["n_support_calls"] - 0.7)
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def generate(
    n: int, seed: int, changes: tuple[Change, ...] = ()
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, list[str | None]]]:
    """Columns for n records: numeric (NaN = missing) incl. `prediction`, and categorical."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    for name, (kind, a, b) in NUMERIC.items():
        col = _draw(kind, a, b, n, rng)
        sigma = _sigma(kind, a, b)
        mean = float(np.mean(col)) if n else 0.0
        for ch in changes:
            if ch.feature != name:
                continue
            after = idx >= ch.at
            if ch.kind == "mean_shift":
                col = np.where(after, col + ch.magnitude * sigma, col)
            elif ch.kind == "variance":
                col = np.where(after, mean + (col - mean) * np.sqrt(ch.magnitude), col)
            elif ch.kind == "ramp":
                frac = np.clip((idx - ch.at) / max(ch.ramp, 1), 0.0, 1.0)
                col = col + frac * ch.magnitude * sigma
        if kind == "poisson":
            col = np.round(col)
        numeric[name] = col
    score = _score(numeric)
    for ch in changes:
        if ch.kind == "prediction":
            score = np.where(idx >= ch.at, score + ch.magnitude * float(np.std(score)), score)
    numeric["prediction"] = score
    categorical: dict[str, list[str | None]] = {}
    for name, probs in CATEGORICAL.items():
        cats = list(probs)
        p = np.asarray(list(probs.values()))
        draws = rng.random(n)
        base = np.searchsorted(np.cumsum(p), draws, side="right").clip(0, len(cats) - 1)
        for ch in changes:
            if ch.feature == name and ch.kind == "category_mix":
                q = p * (1 - ch.magnitude)
                q[int(np.argmin(p))] += ch.magnitude
                shifted = np.searchsorted(np.cumsum(q), draws, side="right").clip(0, len(cats) - 1)
                base = np.where(idx >= ch.at, shifted, base)
        categorical[name] = [cats[i] for i in base.tolist()]
    for ch in changes:
        if ch.kind != "missing":
            continue
        gone = (idx >= ch.at) & (rng.random(n) < ch.magnitude)
        if ch.feature in numeric:
            numeric[ch.feature] = np.where(gone, np.nan, numeric[ch.feature])
        else:
            col_c = categorical[ch.feature]
            for i in np.flatnonzero(gone).tolist():
                col_c[i] = None
    return numeric, categorical


def _fmt(v: float, integral: bool) -> str:
    if math.isnan(v):  # missing
        return ""
    return str(int(v)) if integral else f"{v:.6g}"


def training_csv(n: int, seed: int = 1) -> str:
    """Training-like data with a header; the model output is the column `prediction`."""
    numeric, categorical = generate(n, seed)
    integral = {k for k, (kind, _, _) in NUMERIC.items() if kind == "poisson"}
    header = ["prediction", *FEATURES]
    lines = [",".join(header)]
    cols = [numeric["prediction"], *(numeric[k] for k in NUMERIC)]
    names = ["prediction", *NUMERIC]
    rows_num = [
        [_fmt(v, name in integral) for v in col.tolist()]
        for name, col in zip(names, cols, strict=True)
    ]
    rows_cat = [categorical[k] for k in CATEGORICAL]
    for i in range(n):
        fields = [r[i] for r in rows_num] + [c[i] or "" for c in (r for r in rows_cat)]
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def capture_lines(scenario: Scenario) -> Iterator[bytes]:
    """SageMaker data-capture JSON Lines (CSV-encoded input and output), one per record."""
    numeric, categorical = generate(scenario.n_records, scenario.seed, scenario.changes)
    integral = {k for k, (kind, _, _) in NUMERIC.items() if kind == "poisson"}
    num_cols = [[_fmt(v, k in integral) for v in numeric[k].tolist()] for k in NUMERIC]
    cat_cols = [categorical[k] for k in CATEGORICAL]
    preds = [_fmt(v, False) for v in numeric["prediction"].tolist()]
    step = dt.timedelta(seconds=scenario.seconds_between)
    for i in range(scenario.n_records):
        data = ",".join([c[i] for c in num_cols] + [c[i] or "" for c in cat_cols])
        t = (START + i * step).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield capture_line(data, preds[i], f"{scenario.seed:08x}-0000-4000-8000-{i:012x}", t)


def capture_line(inputs: str, outputs: str | None, event_id: str, inference_time: str) -> bytes:
    """One SageMaker data-capture record with CSV input (and output, when given)."""
    capture: dict[str, object] = {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": inputs,
            "encoding": "CSV",
        }
    }
    if outputs is not None:
        capture["endpointOutput"] = {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": outputs,
            "encoding": "CSV",
        }
    return orjson.dumps(
        {
            "captureData": capture,
            "eventMetadata": {"eventId": event_id, "inferenceTime": inference_time},
            "eventVersion": "0",
        }
    )
