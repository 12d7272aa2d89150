"""The sections of the report page, each an HTML fragment made from a `RunEvents`.

`page.py` puts them in order. A section about something the run did not have (model quality,
bias) is left out; one about something that could have happened and did not (data-quality
violations, rejections, retrain signals) says so, since "none" is worth knowing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from driftstream.detectors.baseline import Baseline
from driftstream.sinks.report import plots
from driftstream.sinks.report.markup import (
    Cell,
    Html,
    compare,
    esc,
    figure,
    note,
    num,
    table,
    versus,
)
from driftstream.sinks.report.model import (
    BIAS_DETECTOR,
    LOWER_BOUND_CHECKS,
    MODEL_QUALITY_PREFIX,
    CategoricalDistribution,
    Detection,
    NumericDistribution,
    Point,
    RetrainSignal,
    RunEvents,
    Series,
)
from driftstream.sinks.report.sparkline import sparkline


@dataclass(frozen=True)
class Section:
    """One part of the page: its anchor, its title in the contents, its HTML."""

    anchor: str
    title: str
    body: str


def _section(anchor: str, title: str, body: str) -> Section:
    return Section(anchor, title, f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>')


# --- the headline ----------------------------------------------------------------------------


def cards(run: RunEvents) -> str:
    """The few numbers read first, as tiles; a tile turns red when its number is not zero."""
    rejected = _rejection_counts(run)
    tiles = [
        ("features in drift", len(run.drifted_features())),
        ("data-quality violations", len(run.in_area("data_quality"))),
        ("records rejected", sum(rejected.values())),
        ("retrain signals", len(run.signals)),
    ]
    quality = run.in_area("model_quality")
    if quality:
        tiles.insert(1, ("model-quality alarms", len(quality)))
    bias = run.in_area("bias")
    if bias:
        tiles.insert(2 if quality else 1, ("bias drifts", len(bias)))
    if run.anomalies.count:
        tiles.append(("anomalies", run.anomalies.count))
    html = "".join(
        f'<div class="card{" alert" if n else ""}"><b>{num(n)}</b><span>{esc(label)}</span></div>'
        for label, n in tiles
    )
    return f'<div class="cards">{html}</div>'


def summary(run: RunEvents, baseline: Baseline | None) -> Section:
    s = run.summary
    rows: list[tuple[str, Cell]] = []
    if s is None:
        counted = Counter(d.kind for d in run.detections)
        counted.update({"rejected": sum(r.count for r in run.rejections.values())})
        counted.update({"retrain_signal": len(run.signals), "anomaly": run.anomalies.count})
        rows.append(("events", _kinds({k: n for k, n in counted.items() if n})))
    else:
        rows += [
            ("records read", s.records_read),
            ("records used", s.records_used),
            ("records rejected", _rejected(s.records_rejected)),
            ("events", _kinds(s.events)),
            ("seconds", _seconds(s.seconds, s.records_read)),
        ]
        if s.interrupted:
            rows.append(("run", "interrupted: the counts cover the records read until the stop"))
    if baseline is not None:
        rows.append(("baseline", f"identity {baseline.identity}"))
    body = table(None, rows)
    if s is None:
        body += note(
            "This events file has no summary line: the run was stopped before it finished, or "
            "the file was cut. The counts above come from the events themselves; record counts, "
            "statistics over time and distributions are not available."
        )
    if run.malformed_lines:
        body += note(
            f"{run.malformed_lines} of {run.lines} lines were not events (a line cut off by an "
            "interrupted run, say) and were skipped."
        )
    if run.skipped_parts:
        body += note(
            f"{run.skipped_parts} trace series or distributions of the summary were not in the "
            "expected shape and were skipped."
        )
    drifted = run.drifted_features()
    if drifted:
        body += "<h3>Drifted features</h3>" + table(
            ["feature", "first detection (record)", "detectors"],
            [_drift_row(run, i, name) for i, name in enumerate(drifted)],
            numeric=[1],
        )
    else:
        body += note("No feature drifted.")
    return _section("summary", "Summary", body)


def _drift_row(run: RunEvents, position: int, feature: str) -> list[Cell]:
    found = [d for d in run.in_area("drift") if d.feature == feature]
    firsts = [d.record_index for d in found if d.record_index is not None]
    by_detector = Counter(d.detector for d in found)
    detectors = ", ".join(
        f"{name} ×{n}" if n > 1 else name
        for name, n in sorted(by_detector.items(), key=lambda item: plots.detector_rank(item[0]))
    )
    link = Html(f'<a href="#{_anchor(position)}">{esc(feature)}</a>')
    return [link, min(firsts) if firsts else None, detectors]


def _rejected(by_reason: dict[str, int]) -> str:
    reasons = len(by_reason)
    if not reasons:
        return "0"
    return f"{num(sum(by_reason.values()))} ({reasons} reason{'s' if reasons > 1 else ''})"


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {num(n)}" for kind, n in sorted(counts.items())) or "none"


def _seconds(seconds: float | None, records: int | None) -> str:
    if seconds is None:
        return "–"
    if records and seconds > 0:
        return f"{seconds:,.2f} ({records / seconds:,.0f} records/s)"
    return f"{seconds:,.2f}"


# --- drift -----------------------------------------------------------------------------------


def drift(run: RunEvents) -> Section | None:
    """Per drifted feature: its detections, every statistic of it over the run, and its
    baseline against the recent window."""
    drifted = run.drifted_features()
    if not drifted:
        return None
    parts = []
    for i, feature in enumerate(drifted):
        found = [d for d in run.detections if d.feature == feature and d.area == "drift"]
        parts.append(
            f'<article class="feature" id="{_anchor(i)}"><h3>{esc(feature)}</h3>'
            + _detections_table(found)
            + _trace(run, run.series_of(feature), f"trace-drift-{i}")
            + _distribution(run, feature, f"distribution-{i}")
            + "</article>"
        )
    return _section("drift", "Features in drift", "".join(parts))


def _detections_table(found: Sequence[Detection]) -> str:
    """One row per detector: how often, the first time, and the statistic then."""
    rows: list[list[Cell]] = []
    for detector in sorted({d.detector for d in found}, key=plots.detector_rank):
        mine = sorted(
            (d for d in found if d.detector == detector),
            key=lambda d: d.record_index if d.record_index is not None else -1,
        )
        first = mine[0]
        lower = detector in LOWER_BOUND_CHECKS
        rows.append(
            [
                detector,
                first.kind,
                len(mine),
                first.record_index,
                versus(first.value, first.threshold, lower_bound=lower),
            ]
        )
    return table(
        ["detector", "event", "detections", "first record", "statistic vs threshold (first)"],
        rows,
        numeric=[2, 3],
    )


def _trace(run: RunEvents, series: Sequence[Series], key: str) -> str:
    if not series:
        return note("No statistics over time in this events file (its summary has no trace).")
    marks = [d for d in run.detections if d.feature == series[0].feature]
    svg = plots.trace_figure(series, marks, x_max=run.last_record, key=key)
    return figure(svg)


def _distribution(run: RunEvents, feature: str, key: str) -> str:
    d = run.distributions.get(feature)
    if d is None:
        return note("No distribution of this feature in the summary.")
    window = f"Recent window of {num(run.window)} rows" if run.window else "Recent window"
    parts = [window]
    if isinstance(d, NumericDistribution):
        if d.below or d.above:
            parts.append(
                f"{num(d.below)} values below and {num(d.above)} above the baseline's range "
                "(counted in the shares, not drawn)"
            )
    elif isinstance(d, CategoricalDistribution):
        hidden = len(d.categories) - len(plots.shown_categories(d))
        if hidden:
            parts.append(f"{hidden} smaller categories not drawn")
    if d.missing:
        parts.append(f"{num(d.missing)} missing")
    if d.baseline is None:
        parts.append("the baseline has no distribution of this feature: recent window only")
    return figure(plots.distribution_figure(d, key=key), "; ".join(parts) + ".")


# --- the other features ----------------------------------------------------------------------


def other_features(run: RunEvents) -> Section | None:
    """Features without drift, compactly: a sparkline per statistic and its closest approach
    to the threshold."""
    drifted = set(run.drifted_features())
    rest = [
        s
        for s in run.series
        if s.feature not in drifted
        and not s.detector.startswith(MODEL_QUALITY_PREFIX)
        and s.detector != BIAS_DETECTOR
    ]
    if not rest:
        return None
    rest.sort(key=lambda s: (s.feature, plots.detector_rank(s.detector), s.partition or ""))
    counted = Counter((d.feature, d.detector) for d in run.detections)
    rows: list[list[Cell]] = []
    previous = None
    for s in rest:
        closest = _closest(s)
        where = (
            compare(closest.statistic, closest.threshold)
            + f" at record {num(closest.record_index)}"
            if closest is not None
            else "–"
        )
        detector = f"{s.detector} ({s.partition})" if s.partition else s.detector
        rows.append(
            [
                s.feature if s.feature != previous else "",
                detector,
                Html(sparkline(s)),
                where,
                counted.get((s.feature, s.detector), 0),
            ]
        )
        previous = s.feature
    body = note(
        "Solid: the statistic over the run; dashed: its threshold (one scale per line). "
        "Closest: where the statistic came nearest its threshold."
    ) + table(["feature", "detector", "over the run", "closest", "detections"], rows, numeric=[4])
    return _section("others", "Other features", body)


def _closest(series: Series) -> Point | None:
    """The point nearest to a breach: the highest statistic/threshold ratio (the lowest for a
    share check); without a positive threshold, the highest (lowest) statistic."""
    points = [p for p in series.points if p.statistic is not None]
    if not points:
        return None
    sign = -1.0 if series.lower_bound else 1.0

    def nearness(p: Point) -> float:
        assert p.statistic is not None
        if p.threshold is not None and p.threshold > 0:
            return sign * p.statistic / p.threshold
        return sign * p.statistic

    return max(points, key=nearness)


# --- data quality ----------------------------------------------------------------------------


def data_quality(run: RunEvents) -> Section:
    found = run.in_area("data_quality")
    if not found:
        return _section("quality", "Data quality", note("No data-quality violation."))
    rows: list[list[Cell]] = []
    keys = sorted(
        {(d.feature or "", d.detector) for d in found},
        key=lambda k: (k[0], plots.detector_rank(k[1])),
    )
    for feature, detector in keys:
        mine = sorted(
            (d for d in found if (d.feature or "") == feature and d.detector == detector),
            key=lambda d: d.record_index if d.record_index is not None else -1,
        )
        lower = detector in LOWER_BOUND_CHECKS
        values = [d.value for d in mine if d.value is not None]
        worst = (min(values) if lower else max(values)) if values else None
        first = mine[0]
        rows.append(
            [
                feature or "(whole record)",
                detector,
                len(mine),
                first.record_index,
                versus(first.value, first.threshold, lower_bound=lower),
                worst,
            ]
        )
    body = table(
        ["feature", "check", "violations", "first record", "value vs threshold (first)", "worst"],
        rows,
        numeric=[2, 3, 5],
    )
    # the checks of drifted features are drawn with them; the others are drawn here
    drifted = set(run.drifted_features())
    for i, feature in enumerate(sorted({f for f, _ in keys if f and f not in drifted})):
        checks = {d.detector for d in found if d.feature == feature}
        series = [s for s in run.series_of(feature) if s.detector in checks]
        if series:
            body += f"<h3>{esc(feature)}</h3>" + _trace(run, series, f"trace-quality-{i}")
    return _section("quality", "Data quality", body)


# --- rejections ------------------------------------------------------------------------------


def _rejection_counts(run: RunEvents) -> dict[str, int]:
    """The summary's counts when there is one (they are complete), else the events'."""
    if run.summary is not None and run.summary.records_rejected:
        return dict(run.summary.records_rejected)
    return {reason: r.count for reason, r in run.rejections.items()}


def rejections(run: RunEvents) -> Section:
    counts = _rejection_counts(run)
    if not counts:
        return _section("rejections", "Rejected records", note("No record was rejected."))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    rows: list[list[Cell]] = []
    for reason, n in ordered:
        seen = run.rejections.get(reason)
        rows.append(
            [
                reason,
                n,
                seen.first_record if seen else None,
                seen.example if seen else None,
            ]
        )
    svg = plots.bar_figure(ordered, key="rejections", xlabel="records rejected")
    body = figure(svg) + table(
        ["reason", "records", "first record", "first detail"], rows, numeric=[1, 2]
    )
    return _section("rejections", "Rejected records", body)


# --- model quality and bias ------------------------------------------------------------------


def model_quality(run: RunEvents) -> Section | None:
    found = run.in_area("model_quality")
    series = [s for s in run.series if s.detector.startswith(MODEL_QUALITY_PREFIX)]
    if not found and not series:
        return None
    rows = _metric_rows(found, by=lambda d: (d.metric or "", d.detector))
    body = table(
        ["metric", "detector", "events", "first record", "value vs threshold (first)", "last"],
        rows,
        numeric=[2, 3, 5],
    )
    if series:
        body += _trace(run, series, "trace-model-quality")
    return _section("model-quality", "Model quality", body)


def bias(run: RunEvents) -> Section | None:
    found = run.in_area("bias")
    series = [s for s in run.series if s.detector == BIAS_DETECTOR]
    if not found and not series:
        return None
    rows = _metric_rows(found, by=lambda d: (d.metric or "", d.facet or ""))
    body = table(
        ["metric", "facet", "events", "first record", "value vs threshold (first)", "last"],
        rows,
        numeric=[2, 3, 5],
    )
    if series:
        body += _trace(run, series, "trace-bias")
    return _section("bias", "Bias", body)


def _metric_rows(
    found: Sequence[Detection], by: Callable[[Detection], tuple[str, str]]
) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for key in sorted({by(d) for d in found}):
        mine = sorted(
            (d for d in found if by(d) == key),
            key=lambda d: d.record_index if d.record_index is not None else -1,
        )
        first, last = mine[0], mine[-1]
        rows.append(
            [
                *key,
                len(mine),
                first.record_index,
                versus(first.value, first.threshold, lower_bound=None),
                last.value,
            ]
        )
    return rows


# --- retrain signals, anomalies, baseline ----------------------------------------------------


def signals(run: RunEvents) -> Section:
    if not run.signals:
        return _section("signals", "Retrain signals", note("No retrain signal."))
    rows: list[list[Cell]] = [
        [
            s.record_index,
            s.trigger or "drift",
            _why(s),
            ", ".join(s.features),
            s.feature_share,
            f"{num(s.record_range[0])} – {num(s.record_range[1])}" if s.record_range else None,
            s.key[:16] if s.key else None,
        ]
        for s in run.signals
    ]
    body = table(
        ["record", "trigger", "why", "features", "feature share", "records", "idempotency key"],
        rows,
        numeric=[0, 4],
    )
    return _section("signals", "Retrain signals", body)


def _why(s: RetrainSignal) -> str:
    """A quality breach as "accuracy 0.72 vs 0.8 (model_quality_check)"; drift: the share."""
    if s.breach is None:
        return "drifted features' share" if s.feature_share is not None else ""
    detector, metric, value, threshold = s.breach
    return f"{metric} {num(value)} vs {num(threshold)} ({detector})"


def anomalies(run: RunEvents) -> Section | None:
    a = run.anomalies
    if not a.count:
        return None
    body = table(
        ["anomalies", "first record", "highest score", "threshold"],
        [[a.count, a.first_record, a.top_score, a.threshold]],
        numeric=[0, 1, 2, 3],
    )
    return _section("anomalies", "Anomalies", body)


def baseline_section(run: RunEvents, baseline: Baseline) -> Section:
    """The baseline named, and for numeric features the report has no distribution of, its
    summary statistics."""
    body = table(
        None,
        [
            ("identity", baseline.identity),
            ("rows", int(baseline.item_count)),
            ("features", f"{len(baseline.inputs)} inputs, {len(baseline.outputs)} outputs"),
        ],
    )
    rows: list[list[Cell]] = [
        [f.name, f.numeric.mean, f.numeric.std_dev, f.numeric.min, f.numeric.max]
        for f in baseline.features
        if f.numeric is not None and f.name not in run.distributions
    ]
    if rows:
        body += "<h3>Numeric features without a distribution in the summary</h3>" + table(
            ["feature", "mean", "std", "min", "max"], rows, numeric=[1, 2, 3, 4]
        )
    return _section("baseline", "Baseline", body)


def _anchor(position: int) -> str:
    """The id of a drifted feature's article, by its place in the list (its name may hold
    anything an id may not)."""
    return f"drift-{position + 1}"
