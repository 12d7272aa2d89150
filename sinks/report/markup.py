"""HTML pieces of the report: escaping, numbers, tables.

Every string that came from an events file (feature names come from user data) goes through
`esc`; `Html` marks a fragment this package built itself, which `table` passes through as is.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Html:
    """Markup built by the report itself: inserted without escaping."""

    text: str


Cell = str | int | float | Html | None


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def num(value: float | None, digits: int = 4) -> str:
    """A statistic for a person: 4 significant digits; integers with thousands separators."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def versus(value: float | None, threshold: float | None, *, lower_bound: bool | None) -> str:
    """ "0.9425 < 0.998": the statistic against its threshold, on the side it breached ("vs"
    when the side is not known, as for model-quality and bias metrics)."""
    if value is None or threshold is None:
        return num(value)
    sign = "vs" if lower_bound is None else "<" if lower_bound else ">"
    return f"{num(value)} {sign} {num(threshold)}"


def compare(value: float | None, threshold: float | None) -> str:
    """ "0.1989 < 0.4126": the statistic against its threshold as they stand."""
    if value is None or threshold is None:
        return num(value)
    sign = "<" if value < threshold else ">" if value > threshold else "="
    return f"{num(value)} {sign} {num(threshold)}"


def cell(value: Cell) -> str:
    if isinstance(value, Html):
        return value.text
    if isinstance(value, int | float):
        return num(value)
    return esc(value) if value is not None else "–"


def table(
    headers: Sequence[str] | None, rows: Iterable[Sequence[Cell]], *, numeric: Sequence[int] = ()
) -> str:
    """A table (without a header row when `headers` is None: names and their values); the
    columns in `numeric` are right-aligned."""

    def align(i: int) -> str:
        return " class=num" if i in numeric else ""

    head = "".join(f"<th{align(i)}>{esc(h)}</th>" for i, h in enumerate(headers or ()))
    thead = f"<thead><tr>{head}</tr></thead>" if headers is not None else ""
    body = "".join(
        "<tr>" + "".join(f"<td{align(i)}>{cell(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def figure(svg: str, caption: str = "") -> str:
    """A plot (an inline <svg> made by plots.py) with an optional escaped caption."""
    below = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot">{svg}{below}</figure>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'
