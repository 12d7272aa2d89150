"""A hand-made events.jsonl in the format of docs/cli.md plus the summary's `trace` and
`distributions`, for the report's tests: a run of 20,000 records whose feature `balance` shifts
at record 10,000 (detected by adwin, page_hinkley, distribution and baseline_drift_check),
`country` changes its mix, `<b>x</b>` (a name to be escaped) drifts too, `device` goes missing
(a completeness violation), `age` stays put; with rejections, a retrain signal, a model-quality
and a bias event."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson

RECORDS = 20_000
CHANGE = 10_000
DRIFTED = ("balance", "country", "<b>x</b>")
STEPS = 200


def _positions() -> list[int]:
    return [round(i * (RECORDS - 1) / (STEPS - 1)) for i in range(STEPS)]


def _series(
    feature: str,
    detector: str,
    stat: list[float | None],
    threshold: list[float | None],
    *,
    lower_bound: bool = False,
) -> dict[str, Any]:
    points = [[r, s, t] for r, s, t in zip(_positions(), stat, threshold, strict=True)]
    return {"feature": feature, "detector": detector, "lower_bound": lower_bound, "points": points}


def _drifting(rng: np.random.Generator, *, shift: float, level: float, noise: float) -> list[float]:
    return [
        level + noise * rng.random() + (shift * min(1.0, (r - CHANGE) / 1500) if r > CHANGE else 0)
        for r in _positions()
    ]


def trace() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    positions = _positions()
    series = []
    for feature, shift in (("balance", 0.35), ("<b>x</b>", 0.3), ("age", 0.0)):
        adwin = _drifting(rng, shift=shift, level=0.12, noise=0.08)
        adwin_limit = [0.43 + 0.02 * math.sin(r / 3000) for r in positions]
        series.append(_series(feature, "adwin", adwin, adwin_limit))
        ph = [0.0]
        for r in positions[1:]:
            ph.append(
                max(0.0, ph[-1] * 0.97 + rng.normal(0.3, 0.3) + (3.0 * shift if r > CHANGE else 0))
            )
        series.append(_series(feature, "page_hinkley", ph, [35.9] * STEPS))
        warm = [
            None if r < 2000 else v
            for r, v in zip(
                positions, _drifting(rng, shift=shift / 5, level=0.02, noise=0.02), strict=True
            )
        ]
        series.append(
            _series(feature, "distribution", warm, [None if v is None else 0.063 for v in warm])
        )
    country = _drifting(rng, shift=40.0, level=8.0, noise=10.0)
    series.append(_series("country", "distribution", country, [33.4] * STEPS))
    share = [1.0 - (0.06 if r > CHANGE else 0.0) * rng.random() for r in positions]
    series.append(_series("device", "completeness_check", share, [0.998] * STEPS, lower_bound=True))
    series.append(
        _series(
            "country", "categorical_values_check", [1.0] * STEPS, [1.0] * STEPS, lower_bound=True
        )
    )
    return {"series": series}


def distributions() -> dict[str, Any]:
    edges = [-3.0 + 0.5 * i for i in range(13)]
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    baseline = [math.exp(-(c**2) / 2) for c in centres]
    baseline = [p / sum(baseline) for p in baseline]
    recent = [round(2000 * math.exp(-((c - 1.0) ** 2) / 2) / 2.5) for c in centres]
    return {
        "window": 2000,
        "features": [
            {
                "feature": "balance",
                "kind": "numeric",
                "edges": edges,
                "baseline": baseline,
                "recent": recent,
                "below": 0,
                "above": 31,
                "missing": 0,
            },
            {
                "feature": "country",
                "kind": "categorical",
                "categories": ["DE", "FR", "US", "<i>GB</i>", "(other)"],
                "baseline": [0.4, 0.3, 0.2, 0.1, 0.0],
                "recent": [300, 500, 900, 250, 50],
                "missing": 12,
            },
        ],
    }


def detections() -> list[dict[str, Any]]:
    def event(
        kind: str,
        feature: str,
        detector: str,
        record: int,
        value: float,
        threshold: float,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "record_index": record,
            "feature": feature,
            "detector": detector,
            "value": value,
            "threshold": threshold,
            **extra,
        }

    return [
        event("drift", "balance", "page_hinkley", 10145, 36.24, 35.9),
        event("drift", "balance", "adwin", 10175, 0.443, 0.436),
        event("drift", "balance", "distribution", 10499, 0.0709, 0.0632),
        event("drift", "<b>x</b>", "adwin", 10560, 0.47, 0.44),
        event("violation", "device", "completeness_check", 10499, 0.9425, 0.998),
        event("drift", "country", "distribution", 10499, 61.96, 33.38),
        event("violation", "balance", "baseline_drift_check", 11499, 0.115, 0.1),
        event("violation", "prediction", "model_quality", 12000, 0.81, 0.85, metric="accuracy"),
        event(
            "violation", "prediction", "bias_drift", 12000, 0.21, 0.1, metric="DPPL", facet="c0=a"
        ),
    ]


def summary(*, with_plot_data: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "summary",
        "records_read": RECORDS,
        "records_used": RECORDS - 9,
        "records_rejected": {"invalid_json": 5, "truncated": 3, "column_count": 1},
        "events": {"drift": 5, "violation": 4, "rejected": 9, "retrain_signal": 1},
        "seconds": 2.5,
    }
    if with_plot_data:
        out["trace"] = trace()
        out["distributions"] = distributions()
    return out


def events(*, with_plot_data: bool = True) -> list[dict[str, Any]]:
    rejected = [
        {"kind": "rejected", "record_index": 250 + 400 * i, "reason": reason, "detail": detail}
        for i, (reason, detail) in enumerate(
            [("invalid_json", "empty line")] * 5
            + [("truncated", "line ends inside a JSON value")] * 3
            + [("column_count", "CSV row 1 has 11 columns, the baseline has 13 inputs")]
        )
    ]
    signal = {
        "kind": "retrain_signal",
        "record_index": 12500,
        "value": 0.5,
        "threshold": 0.3,
        "decision": "retrain",
        "features": ["balance", "country"],
        "idempotency_key": "0123456789abcdef0123456789abcdef",
        "evidence": {"record_range": [10145, 12500], "feature_share": 0.5},
    }
    return [*rejected, *detections(), signal, summary(with_plot_data=with_plot_data)]


def write_events(path: Path, *, with_plot_data: bool = True, summary_line: bool = True) -> Path:
    lines = events(with_plot_data=with_plot_data)
    if not summary_line:
        lines = lines[:-1]
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in lines))
    return path
