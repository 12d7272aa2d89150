"""Seeded traffic for bias-drift tests: a categorical facet `c0`, a numeric input `x`, and a
model score `prediction` whose positive rate (score > 0.5) depends on `c0`.

Before the change every facet value has the positive rate 0.5. After it, `c0=a` falls to 0.3
and `c0=b` rises to 0.62, so that the overall rate stays 0.5
(0.3·0.3 + 0.5·0.62 + 0.2·0.5 = 0.5): only a per-facet view sees it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from driftstream.streamer.sources.synthetic import capture_line

SHARES = {"a": 0.3, "b": 0.5, "c": 0.2}
BEFORE = {"a": 0.5, "b": 0.5, "c": 0.5}
AFTER = {"a": 0.3, "b": 0.62, "c": 0.5}
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def draw(
    n: int, seed: int, change_at: int | None = None
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(c0, x, score) of n records; after `change_at`, AFTER's positive rates."""
    rng = np.random.default_rng(seed)
    values = list(SHARES)
    c0 = rng.choice(values, size=n, p=list(SHARES.values()))
    x = rng.normal(0.0, 1.0, n)
    after = np.arange(n) >= (change_at if change_at is not None else n)
    rate = np.where(
        after,
        np.vectorize(AFTER.get)(c0),
        np.vectorize(BEFORE.get)(c0),
    ).astype(np.float64)
    positive = rng.random(n) < rate
    score = np.where(positive, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.5, n))
    # a score of exactly 0.5 would be a negative label; nudge the (measure-zero) ties
    score = np.where(positive & (score <= 0.5), 0.500001, score)
    return [str(v) for v in c0], x, score


def training_csv(n: int, seed: int = 1) -> str:
    c0, x, score = draw(n, seed)
    lines = ["prediction,c0,x"]
    lines += [f"{s:.6f},{c},{v:.5f}" for s, c, v in zip(score, c0, x, strict=True)]
    return "\n".join(lines) + "\n"


def capture_lines(
    n: int, seed: int, change_at: int | None = None, seconds_between: float = 1.0
) -> list[bytes]:
    c0, x, score = draw(n, seed, change_at)
    step = dt.timedelta(seconds=seconds_between)
    return [
        capture_line(
            f"{c0[i]},{x[i]:.5f}",
            f"{score[i]:.6f}",
            f"{seed:08x}-0000-4000-8000-{i:012x}",
            (START + i * step).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for i in range(n)
    ]


def write_config(path: Path, **overrides: object) -> Path:
    """A Clarify analysis config for facet c0=a, scores thresholded at 0.5."""
    config: dict[str, object] = {
        "dataset_type": "text/csv",
        "label": "approved",
        "label_values_or_threshold": [1],
        "facet": [{"name_or_index": "c0", "value_or_threshold": ["a"]}],
        "probability_threshold": 0.5,
        "methods": {"post_training_bias": {"methods": ["DPPL", "DI"]}},
        "predictor": {"model_name": "m", "instance_type": "ml.m5.large"},
    }
    config.update(overrides)
    path.write_text(json.dumps(config))
    return path
