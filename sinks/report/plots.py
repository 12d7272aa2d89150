"""The report's figures, each rendered to an inline SVG string.

matplotlib, because the page must open offline and stay static: it writes SVG itself (vector,
sharp at any zoom, text drawn as paths so no font has to be found), needs no JavaScript and no
browser, and is made for exactly these plots (lines against thresholds, step histograms, bars).
The JavaScript charting libraries would have to be inlined whole into every page, and still need
a browser to draw anything.

matplotlib is imported inside the functions that draw, so that importing the report package (as
`driftstream replay` may) costs nothing until a report is made. Figures are `Figure` objects
drawn by the SVG canvas: pyplot, its global state and its GUI backends are never touched, so this
is safe beside any other matplotlib user in the process.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from driftstream.sinks.report.model import (
    CategoricalDistribution,
    Detection,
    Distribution,
    NumericDistribution,
    Series,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN = 9.6
STATISTIC = "#1f5fa8"
THRESHOLD = "#4d4d4d"
DETECTION = "#c62828"
BASELINE = "#9e9e9e"
RECENT = "#1f5fa8"
BAR = "#6d4c91"
# Several partitions of one feature: one colour each (threshold dashed in the same colour).
PALETTE = ("#1f5fa8", "#e07b00", "#2e7d32", "#6d4c91", "#00838f", "#ad1457", "#5d4037", "#546e7a")
MAX_PARTITION_LINES = len(PALETTE)
MAX_CATEGORIES = 20
LABEL_CHARS = 32
_NAMESPACES = (' xmlns:xlink="http://www.w3.org/1999/xlink"', ' xmlns="http://www.w3.org/2000/svg"')
# Order of a feature's panels: the drift detectors first, then the checks, then anything else.
DETECTOR_ORDER = (
    "adwin",
    "page_hinkley",
    "distribution",
    "baseline_drift_check",
    "completeness_check",
    "data_type_check",
    "categorical_values_check",
)


def detector_rank(detector: str) -> tuple[int, str]:
    if detector in DETECTOR_ORDER:
        return DETECTOR_ORDER.index(detector), detector
    return len(DETECTOR_ORDER), detector


def trace_figure(
    series: Sequence[Series], detections: Sequence[Detection], *, x_max: int | None, key: str
) -> str:
    """One panel per detector: the statistic over record position against its threshold (a
    line per partition when the run had several), each detection of that detector a vertical
    line with a dot at the statistic it reported, the breach side shaded (below the threshold
    for share checks)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    detectors = sorted({s.detector for s in series}, key=detector_rank)
    fig = Figure(figsize=(WIDTH_IN, 0.5 + 1.75 * len(detectors)), layout="constrained")
    axes = fig.subplots(len(detectors), 1, sharex=True, squeeze=False)[:, 0]
    for ax, detector in zip(axes, detectors, strict=True):
        group = [s for s in series if s.detector == detector]
        marks = [d for d in detections if d.detector == detector and d.record_index is not None]
        _trace_axes(ax, group, marks)
    axes[-1].set_xlabel("record index")
    if x_max is not None and x_max > 0:
        axes[-1].set_xlim(0, x_max)
    handles = [
        Line2D([], [], color=STATISTIC, lw=1.6, label="statistic"),
        Line2D([], [], color=THRESHOLD, lw=1.2, ls="--", label="threshold"),
        Line2D([], [], color=DETECTION, lw=1.2, marker="o", ms=4.5, label="detection"),
        Patch(color=DETECTION, alpha=0.12, label="breach side"),
    ]
    fig.legend(handles=handles, loc="outside upper right", ncols=4, frameon=False, fontsize=9)
    return _svg(fig, key)


def _trace_axes(ax: Axes, group: Sequence[Series], marks: Sequence[Detection]) -> None:
    shown = sorted(group, key=lambda s: s.partition or "")[:MAX_PARTITION_LINES]
    several = len(shown) > 1
    for i, s in enumerate(shown):
        x = [p.record_index for p in s.points]
        stat = [_nan(p.statistic) for p in s.points]
        limit = [_nan(p.threshold) for p in s.points]
        colour = PALETTE[i] if several else STATISTIC
        ax.plot(x, stat, color=colour, lw=1.6, label=s.partition)
        ax.plot(x, limit, color=colour if several else THRESHOLD, lw=1.2, ls="--")
    # the statistic as the detection saw it: the trace's points lie every few hundred rows
    # and may fall either side of a short excursion (Page-Hinkley restarts after an alarm)
    seen = [(d.record_index, d.value) for d in marks if d.value is not None]
    if seen:
        ax.plot(*zip(*seen, strict=True), ls="", marker="o", ms=4.5, color=DETECTION, zorder=3)
    lower = any(s.lower_bound for s in shown)
    _shade_breach_side(ax, shown, lower=lower)
    for d in marks:
        ax.axvline(d.record_index or 0, color=DETECTION, lw=1.1, alpha=0.85)
    detector = group[0].detector
    side = "breach below threshold" if lower else "breach above threshold"
    found = f"{len(marks)} detection{'s' if len(marks) != 1 else ''}" if marks else "no detection"
    ax.set_title(f"{_text(detector)}   ·   {side}   ·   {found}", loc="left", fontsize=9.5)
    if several:
        hidden = len(group) - len(shown)
        ax.legend(
            title=f"partition (+{hidden} not shown)" if hidden else "partition",
            fontsize=7.5,
            title_fontsize=7.5,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
        )
    ax.grid(axis="y", color="#e6e6e6", lw=0.8)
    ax.tick_params(labelsize=8.5)
    ax.spines[["top", "right"]].set_visible(False)


def _shade_breach_side(ax: Axes, shown: Sequence[Series], *, lower: bool) -> None:
    """Tint the region where the statistic would breach, up to the plot's edge."""
    bottom, top = ax.get_ylim()
    for s in shown:
        x = [p.record_index for p in s.points]
        limit = [_nan(p.threshold) for p in s.points]
        edge = [bottom if lower else top] * len(x)
        ax.fill_between(x, limit, edge, color=DETECTION, alpha=0.07, lw=0)
    ax.set_ylim(bottom, top)


def distribution_figure(distribution: Distribution, *, key: str) -> str:
    """Baseline against the recent window: a step histogram for a numeric feature, paired bars
    per category for a categorical one (shares of the values present)."""
    if isinstance(distribution, NumericDistribution):
        return _numeric_figure(distribution, key)
    return _categorical_figure(distribution, key)


def _numeric_figure(d: NumericDistribution, key: str) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, 2.9), layout="constrained")
    ax = fig.subplots()
    widths = [b - a for a, b in itertools.pairwise(d.edges)]
    present = sum(d.recent) + d.below + d.above
    recent = [c / present if present else 0.0 for c in d.recent]
    if all(w > 0 for w in widths):
        # a histogram's height is share per unit of x, so that unequal bins compare fairly
        edges: Sequence[float] = d.edges
        scale = widths
        ax.set_ylabel("share / bin width", fontsize=8.5)
    else:  # a degenerate bin (a constant feature): bins side by side, labelled by their edges
        edges = list(range(len(widths) + 1))
        scale = [1.0] * len(widths)
        every = math.ceil(len(edges) / 8)  # labels that do not overlap
        ax.set_xticks(edges[::every], [f"{e:.4g}" for e in d.edges[::every]])
        ax.set_ylabel("share", fontsize=8.5)
    if d.baseline is not None:
        ax.stairs(
            [p / w for p, w in zip(d.baseline, scale, strict=True)],
            edges,
            fill=True,
            color=BASELINE,
            alpha=0.55,
            label="baseline",
        )
    ax.stairs(
        [r / w for r, w in zip(recent, scale, strict=True)],
        edges,
        color=RECENT,
        lw=2.0,
        label="recent window",
    )
    ax.legend(fontsize=8.5, frameon=False, loc="upper right")
    ax.tick_params(labelsize=8.5)
    ax.grid(axis="y", color="#e6e6e6", lw=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, key)


def shown_categories(d: CategoricalDistribution) -> list[int]:
    """Indices of the categories drawn: the MAX_CATEGORIES with the largest share in either
    distribution, in the baseline's order."""
    total = sum(d.recent)
    recent = [c / total if total else 0.0 for c in d.recent]
    base = d.baseline or [0.0] * len(d.categories)
    biggest = sorted(range(len(d.categories)), key=lambda i: -max(recent[i], base[i]))
    return sorted(biggest[:MAX_CATEGORIES])


def _categorical_figure(d: CategoricalDistribution, key: str) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    shown = shown_categories(d)
    fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.3 * max(len(shown), 2)), layout="constrained")
    ax = fig.subplots()
    total = sum(d.recent)
    y = list(range(len(shown)))
    height = 0.4 if d.baseline is not None else 0.6
    if d.baseline is not None:
        ax.barh(
            [v - height / 2 for v in y],
            [d.baseline[i] for i in shown],
            height=height,
            color=BASELINE,
            label="baseline",
        )
    ax.barh(
        [v + height / 2 if d.baseline is not None else v for v in y],
        [d.recent[i] / total if total else 0.0 for i in shown],
        height=height,
        color=RECENT,
        label="recent window",
    )
    ax.set_yticks(y, [_text(_short(d.categories[i])) for i in shown])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of values present", fontsize=8.5)
    ax.legend(fontsize=8.5, frameon=False, loc="lower right")
    ax.tick_params(labelsize=8.5)
    ax.grid(axis="x", color="#e6e6e6", lw=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, key)


def bar_figure(counts: Sequence[tuple[str, int]], *, key: str, xlabel: str) -> str:
    """Horizontal bars, largest first, each with its count (rejections by reason)."""
    from matplotlib.figure import Figure

    ordered = sorted(counts, key=lambda item: (-item[1], item[0]))
    fig = Figure(figsize=(WIDTH_IN, 0.8 + 0.32 * max(len(ordered), 2)), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(ordered)))
    bars = ax.barh(y, [n for _, n in ordered], color=BAR, height=0.6)
    ax.bar_label(bars, labels=[f"{n:,}" for _, n in ordered], padding=3, fontsize=8.5)
    ax.set_yticks(y, [_text(_short(name)) for name, _ in ordered])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8.5)
    ax.margins(x=0.12)
    ax.tick_params(labelsize=8.5)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, key)


def _svg(fig: Figure, key: str) -> str:
    """The figure as an `<svg>` element for inlining: no XML prolog, no DOCTYPE, no metadata.
    The salt keeps the ids of clip paths and markers distinct between figures of one page."""
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key, "svg.fonttype": "path"}):
        fig.savefig(
            out,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = out.getvalue()
    svg = text[text.index("<svg") :]
    # inline in HTML the parser puts <svg> in its namespace itself: the page then names no URL
    for namespace in _NAMESPACES:
        svg = svg.replace(namespace, "", 1)
    return svg


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def _text(label: str) -> str:
    """A label from the data drawn as itself: `$` would start matplotlib's mathtext."""
    return label.replace("$", r"\$")
