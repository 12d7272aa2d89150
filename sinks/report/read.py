"""Read an events.jsonl (docs/cli.md "events.jsonl") into a `RunEvents`.

Tolerant by design: the report is often made of a run that was interrupted (no summary, a last
line cut in half) or of a file written before the summary carried `trace` and `distributions`.
A line that is not a JSON object with a `kind` is counted and skipped; a trace series or a
distribution not in the expected shape is counted and skipped. Only a file that cannot be read,
or whose lines are none of them events, raises `ReportError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from driftstream.sinks.report.model import (
    CategoricalDistribution,
    Detection,
    Distribution,
    NumericDistribution,
    Point,
    RejectionReason,
    RetrainSignal,
    RunEvents,
    Series,
    Summary,
)


class ReportError(ValueError):
    """The events file cannot be made into a report; the message is one line naming it."""


class _ShapeError(ValueError):
    """A part of the summary is not in the expected shape (internal: counted, then skipped)."""


def read_events(path: Path) -> RunEvents:
    """Parse `path` line by line. Raises ReportError when it cannot be opened or read, or when
    it has lines but none is an event (not an events file)."""
    run = RunEvents(source=path.name)
    try:
        with path.open("rb") as lines:
            for line in lines:
                if line.strip():
                    run.lines += 1
                    _read_line(run, line)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if run.lines and run.malformed_lines == run.lines:
        raise ReportError(f"{path}: not an events file (none of its {run.lines} lines is an event)")
    return run


def _read_line(run: RunEvents, line: bytes) -> None:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        run.malformed_lines += 1
        return
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        run.malformed_lines += 1
        return
    try:
        _add(run, event)
    except _ShapeError:
        run.malformed_lines += 1
        return
    record = _int_or_none(event.get("record_index"))
    if record is not None:
        run.last_record = max(run.last_record or 0, record)


def _add(run: RunEvents, event: dict[str, Any]) -> None:
    kind = event["kind"]
    if kind in ("drift", "violation"):
        run.detections.append(_detection(kind, event))
    elif kind == "rejected":
        reason = _str_or_none(event.get("reason")) or "unknown"
        entry = run.rejections.setdefault(reason, RejectionReason(reason))
        entry.count += 1
        if entry.first_record is None:
            entry.first_record = _int_or_none(event.get("record_index"))
            entry.example = _str_or_none(event.get("detail"))
    elif kind == "anomaly":
        _add_anomaly(run, event)
    elif kind == "retrain_signal":
        if event.get("decision") != "deferred":  # "not now" decisions are no signals
            run.signals.append(_signal(event))
    elif kind == "summary":
        _read_summary(run, event)
    # other kinds (a newer driftstream's) are counted by the summary's `events`


def _detection(kind: str, event: dict[str, Any]) -> Detection:
    detector = _str_or_none(event.get("detector"))
    if detector is None:
        raise _ShapeError("a detection without a detector")
    return Detection(
        kind=kind,
        detector=detector,
        feature=_str_or_none(event.get("feature")),
        record_index=_int_or_none(event.get("record_index")),
        value=_float_or_none(event.get("value")),
        threshold=_float_or_none(event.get("threshold")),
        metric=_str_or_none(event.get("metric")),
        facet=_str_or_none(event.get("facet")),
        partition=_partition(event),
    )


def _partition(event: dict[str, Any]) -> str | None:
    """Live events carry `topic` and `partition`; the trace names a partition "topic/3"."""
    partition = event.get("partition")
    if partition is None:
        return None
    topic = event.get("topic")
    return f"{topic}/{partition}" if topic is not None else str(partition)


def _add_anomaly(run: RunEvents, event: dict[str, Any]) -> None:
    found = run.anomalies
    found.count += 1
    if found.first_record is None:
        found.first_record = _int_or_none(event.get("record_index"))
    score = _float_or_none(event.get("score"))
    if score is not None and (found.top_score is None or score > found.top_score):
        found.top_score = score
    threshold = _float_or_none(event.get("threshold"))
    if threshold is not None:
        found.threshold = threshold


def _signal(event: dict[str, Any]) -> RetrainSignal:
    features = event.get("features")
    evidence = event.get("evidence")
    record_range = evidence.get("record_range") if isinstance(evidence, dict) else None
    span: tuple[int, int] | None = None
    if isinstance(record_range, list) and len(record_range) == 2:
        start, end = (_int_or_none(r) for r in record_range)
        span = (start, end) if start is not None and end is not None else None
    share = _float_or_none(event.get("value"))
    if share is None and isinstance(evidence, dict):
        share = _float_or_none(evidence.get("feature_share"))
    trigger = _str_or_none(event.get("trigger"))
    breach = evidence.get("quality_breach") if isinstance(evidence, dict) else None
    quality: tuple[str, str, float | None, float | None] | None = None
    if isinstance(breach, dict) and isinstance(evidence, dict):
        quality = (
            str(breach.get("detector", "")),
            str(breach.get("metric", "")),
            _float_or_none(breach.get("value")),
            _float_or_none(breach.get("threshold")),
        )
        # a quality signal's value is the metric; its share of drifted features is evidence
        share = _float_or_none(evidence.get("feature_share"))
    return RetrainSignal(
        record_index=_int_or_none(event.get("record_index")),
        features=tuple(str(f) for f in features) if isinstance(features, list) else (),
        feature_share=share,
        record_range=span,
        decision=_str_or_none(event.get("decision")),
        key=_str_or_none(event.get("idempotency_key")),
        trigger=trigger,
        breach=quality,
    )


def _read_summary(run: RunEvents, event: dict[str, Any]) -> None:
    """The counts; then `trace` and `distributions`, part by part (a bad part is skipped)."""
    rejected = event.get("records_rejected")
    events = event.get("events")
    run.summary = Summary(
        records_read=_int_or_none(event.get("records_read")),
        records_used=_int_or_none(event.get("records_used")),
        records_rejected=_counts(rejected),
        events=_counts(events),
        seconds=_float_or_none(event.get("seconds")),
        interrupted=event.get("interrupted") is True,
    )
    if run.summary.records_read:
        run.last_record = max(run.last_record or 0, run.summary.records_read - 1)
    trace = event.get("trace")
    series = trace.get("series") if isinstance(trace, dict) else None
    run.series = []
    for item in series if isinstance(series, list) else []:
        try:
            run.series.append(_series(item))
        except _ShapeError:
            run.skipped_parts += 1
    for s in run.series:
        if s.points:
            run.last_record = max(run.last_record or 0, s.points[-1].record_index)
    distributions = event.get("distributions")
    if not isinstance(distributions, dict):
        return
    run.window = _int_or_none(distributions.get("window"))
    features = distributions.get("features")
    for item in features if isinstance(features, list) else []:
        try:
            found = _distribution(item)
        except _ShapeError:
            run.skipped_parts += 1
            continue
        run.distributions[found.feature] = found


def _series(item: object) -> Series:
    if not isinstance(item, dict):
        raise _ShapeError("a trace series is not an object")
    feature, detector = _str_or_none(item.get("feature")), _str_or_none(item.get("detector"))
    points = item.get("points")
    if feature is None or detector is None or not isinstance(points, list):
        raise _ShapeError("a trace series without feature, detector or points")
    parsed: list[Point] = []
    for p in points:
        if not isinstance(p, list) or len(p) != 3:
            raise _ShapeError("a trace point is not [record_index, statistic, threshold]")
        record = _int_or_none(p[0])
        if record is None:
            raise _ShapeError("a trace point without a record index")
        parsed.append(Point(record, _float_or_none(p[1]), _float_or_none(p[2])))
    parsed.sort(key=lambda point: point.record_index)
    partition = item.get("partition")
    return Series(
        feature=feature,
        detector=detector,
        points=tuple(parsed),
        lower_bound=item.get("lower_bound") is True,
        partition=str(partition) if partition is not None else None,
    )


def _distribution(item: object) -> Distribution:
    if not isinstance(item, dict) or _str_or_none(item.get("feature")) is None:
        raise _ShapeError("a distribution without a feature")
    feature = str(item["feature"])
    recent = _numbers(item.get("recent"))
    baseline = None if item.get("baseline") is None else _numbers(item.get("baseline"))
    missing = _int_or_none(item.get("missing")) or 0
    if item.get("kind") == "numeric":
        edges = _numbers(item.get("edges"))
        bins = len(edges) - 1
        if bins < 1 or len(recent) != bins or (baseline is not None and len(baseline) != bins):
            raise _ShapeError("numeric distribution: bins, recent and baseline disagree")
        return NumericDistribution(
            feature=feature,
            edges=edges,
            baseline=baseline,
            recent=tuple(round(c) for c in recent),
            below=_int_or_none(item.get("below")) or 0,
            above=_int_or_none(item.get("above")) or 0,
            missing=missing,
        )
    if item.get("kind") == "categorical":
        categories = item.get("categories")
        if not isinstance(categories, list) or len(recent) != len(categories):
            raise _ShapeError("categorical distribution: categories and recent disagree")
        if baseline is not None and len(baseline) != len(categories):
            raise _ShapeError("categorical distribution: categories and baseline disagree")
        return CategoricalDistribution(
            feature=feature,
            categories=tuple(str(c) for c in categories),
            baseline=baseline,
            recent=tuple(round(c) for c in recent),
            missing=missing,
        )
    raise _ShapeError("a distribution of unknown kind")


def _numbers(value: object) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _ShapeError("expected a list of numbers")
    out = tuple(_float_or_none(v) for v in value)
    if any(v is None for v in out):
        raise _ShapeError("expected a list of numbers")
    return tuple(v for v in out if v is not None)


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): n for k, v in value.items() if (n := _int_or_none(v)) is not None}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
