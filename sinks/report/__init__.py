"""The offline HTML report of a run: `driftstream report EVENTS` (docs/cli.md).

`read.py` turns an events.jsonl into a typed `RunEvents` (`model.py`); `plots.py` draws the
figures (matplotlib, imported only when drawing), `sparkline.py` the word-sized ones;
`sections.py` makes each part of the page and `page.py` the page itself: `render_report` returns
it, `write_report` writes it atomically (the entry point `replay --report` calls too).
"""

from driftstream.sinks.report.page import render_report, write_report
from driftstream.sinks.report.read import ReportError, read_events

__all__ = ["ReportError", "read_events", "render_report", "write_report"]
