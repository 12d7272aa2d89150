"""The report page: one self-contained HTML file made from an events.jsonl.

`render_report` is the entry point (`driftstream report`, and `replay --report` after a replay);
`write_report` writes it atomically. The page opens offline: its only style is the inline sheet
below (system fonts, no web font), its plots are inline SVG, and it names no URL, loads nothing
and runs no script.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from driftstream.detectors.baseline import Baseline, load_baseline
from driftstream.sinks.report import sections
from driftstream.sinks.report.markup import esc
from driftstream.sinks.report.read import read_events

STYLE = """
:root { --ink: #1d2430; --muted: #5f6b7a; --line: #dde2e8; --alert: #c62828; --band: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { margin: 0 0 2px; font-size: 24px; }
header p { margin: 0; color: var(--muted); }
nav { margin: 14px 0 4px; display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 14px; }
a { color: #1f5fa8; text-decoration: none; }
a:hover { text-decoration: underline; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 6px; }
.card { flex: 1 1 170px; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px;
  background: var(--band); }
.card b { display: block; font-size: 26px; line-height: 1.15; }
.card span { color: var(--muted); font-size: 13px; }
.card.alert { border-color: #f1b5b5; background: #fdf2f2; }
.card.alert b { color: var(--alert); }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { padding: 4px 12px 4px 0; text-align: left; vertical-align: middle;
  border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
td { overflow-wrap: anywhere; max-width: 460px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
article.feature { margin: 8px 0 28px; }
article.feature h3 { font-size: 18px; }
figure.plot { margin: 8px 0 18px; }
figure.plot svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 2px; }
svg.spark { display: block; }
.note { color: var(--muted); font-size: 14px; margin: 6px 0 10px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def render_report(events_path: Path, baseline_dir: Path | None = None) -> str:
    """The page for the events file at `events_path`, with the baseline of `baseline_dir` named
    and summarised when given. Raises ReportError when the events file cannot be read or is no
    events file, BaselineError when the baseline cannot be read."""
    run = read_events(events_path)
    baseline: Baseline | None = load_baseline(baseline_dir) if baseline_dir is not None else None
    parts = [
        sections.summary(run, baseline),
        sections.drift(run),
        sections.model_quality(run),
        sections.bias(run),
        sections.other_features(run),
        sections.data_quality(run),
        sections.rejections(run),
        sections.signals(run),
        sections.anomalies(run),
        sections.baseline_section(run, baseline) if baseline is not None else None,
    ]
    shown = [p for p in parts if p is not None]
    contents = "".join(f'<a href="#{p.anchor}">{esc(p.title)}</a>' for p in shown)
    title = f"driftstream report: {run.source}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><header><h1>Drift report</h1><p>{esc(run.source)}</p></header>"
        f"<nav>{contents}</nav>"
        f"{sections.cards(run)}"
        f"{''.join(p.body for p in shown)}"
        f"<footer>Made by driftstream {esc(_version())} from {esc(run.source)}.</footer>"
        "</main></body></html>\n"
    )


def write_report(events_path: Path, out_path: Path, baseline_dir: Path | None = None) -> None:
    """Render the report and write it to `out_path` atomically (a sibling temporary file, then
    a rename): a reader never sees half a page, and a failed render leaves an older page as it
    was. Creates the folder. Raises what `render_report` raises, and OSError."""
    page = render_report(events_path, baseline_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _version() -> str:
    try:
        return importlib.metadata.version("driftstream")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return "(version unknown)"
