"""A word-sized plot of one trace series: statistic and threshold, no axes, no text.

Drawn by hand rather than by matplotlib: the features without detections get one each, and a
few polylines per feature keep a page of a hundred features small and quick to make.
"""

from __future__ import annotations

import math

from driftstream.sinks.report.model import Series

WIDTH, HEIGHT, PAD = 160, 28, 2
STATISTIC = "#1f5fa8"
THRESHOLD = "#4d4d4d"


def sparkline(series: Series) -> str:
    """An inline <svg> of the statistic (solid) and the threshold (dashed) over the run, on one
    vertical scale; an empty string when the series has no finite value."""
    values = [v for p in series.points for v in (p.statistic, p.threshold) if v is not None] or [
        math.nan
    ]
    low, high = min(values), max(values)
    if not series.points or not math.isfinite(low):
        return ""
    span = high - low or 1.0
    first = series.points[0].record_index
    length = series.points[-1].record_index - first or 1

    def xy(record: int, value: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * (record - first) / length
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / span
        return f"{x:.1f},{y:.1f}"

    def lines(values: list[tuple[int, float | None]], style: str) -> str:
        runs: list[list[str]] = [[]]
        for record, value in values:
            if value is None:
                runs.append([])
            else:
                runs[-1].append(xy(record, value))
        return "".join(
            f'<polyline points="{" ".join(run)}" fill="none" {style}/>' for run in runs if run
        )

    statistic = lines(
        [(p.record_index, p.statistic) for p in series.points],
        f'stroke="{STATISTIC}" stroke-width="1.3"',
    )
    threshold = lines(
        [(p.record_index, p.threshold) for p in series.points],
        f'stroke="{THRESHOLD}" stroke-width="1" stroke-dasharray="3 2"',
    )
    return (
        f'<svg class="spark" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="statistic and threshold over the run">{threshold}{statistic}</svg>'
    )
