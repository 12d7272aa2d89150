"""The report page as a browser would take it apart (tests/sinks/test_report.py and the
Chromium test read pages through it): headings, plots, links, anything it would load."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    """What a browser would make of the page: headings, plots, links, anything it would load."""

    h1: list[str] = field(default_factory=list)
    h2: list[str] = field(default_factory=list)
    h3: list[str] = field(default_factory=list)
    figures: int = 0  # <figure class="plot">, each holding one matplotlib <svg>
    figures_with_svg: int = 0
    sparklines: int = 0
    tags: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)  # src/href values other than #anchors
    styles: str = ""
    text: str = ""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._open: list[str] = []
        self._in_figure = False
        self._figure_svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.add(tag)
        values = dict(attrs)
        for name in ("src", "href", "xlink:href", "action", "data"):
            value = values.get(name)
            if value is not None and not value.startswith("#"):
                self.page.urls.append(value)
        if tag == "figure" and values.get("class") == "plot":
            self.page.figures += 1
            self._in_figure, self._figure_svg = True, False
        if tag == "svg" and self._in_figure and not self._figure_svg:
            self._figure_svg = True
            self.page.figures_with_svg += 1
        if tag == "svg" and values.get("class") == "spark":
            self.page.sparklines += 1
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._in_figure = False
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        where = self._open[-1] if self._open else ""
        if where in ("h1", "h2", "h3"):
            getattr(self.page, where).append(data)
        if where == "style":
            self.page.styles += data
        if "svg" not in self._open:
            self.page.text += data


def parse(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page
