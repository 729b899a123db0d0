"""Page layout for the reports: A4 pages, fonts, a text flow with wrapped tables, page numbers.

Tables are set in a monospaced font so that a column's width in characters is its width on
paper: long cells (PromQL, details) wrap inside their column and rows never overlap. A flow
that runs past the bottom of a page continues on a new one and repeats the table header.

>>> flow = Flow(title="SLOs")                                       # doctest: +SKIP
>>> flow.table([Column("name", 20), Column("query", 60)], rows)     # doctest: +SKIP
>>> pages = flow.pages                                              # doctest: +SKIP
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

A4_PORTRAIT = (8.27, 11.69)
A4_LANDSCAPE = (11.69, 8.27)
MONO = "DejaVu Sans Mono"
SANS = "DejaVu Sans"
_PT = 72.0  # points per inch
_MARGIN_PT = 48.0
_CHAR_W = 0.602  # DejaVu Sans Mono advance width, in ems
VERDICT_COLORS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "NO_DATA": "#9a6700"}

plt.rcParams.update({"font.family": SANS, "font.size": 9, "axes.titlesize": 10, "pdf.fonttype": 42})


class Column(NamedTuple):
    title: str
    width: int  # characters


def new_page(size: tuple[float, float] = A4_PORTRAIT) -> Figure:
    """A blank page (a matplotlib figure not kept by pyplot's global registry)."""
    return Figure(figsize=size)


@dataclass
class Flow:
    """Text that flows down A4 portrait pages: headings, paragraphs and wrapped tables."""

    title: str
    font_size: float = 8.0
    pages: list[Figure] = field(default_factory=list)
    _y: float = 0.0  # points from the bottom of the current page

    @property
    def chars_per_line(self) -> int:
        return int((A4_PORTRAIT[0] * _PT - 2 * _MARGIN_PT) / (self.font_size * _CHAR_W))

    def heading(self, text: str) -> None:
        """A section heading (kept with at least a few lines below it)."""
        self._room(self.font_size * 6)
        self._y -= self.font_size * 0.8
        self._put(_MARGIN_PT, text, size=self.font_size + 3, weight="bold", family=SANS)
        self._y -= (self.font_size + 3) * 1.6

    def paragraph(self, text: str, *, color: str = "black") -> None:
        """Wrapped monospaced text."""
        for line in _wrap(text, self.chars_per_line):
            self._room(self._line_h)
            self._put(_MARGIN_PT, line, color=color)
            self._y -= self._line_h
        self._y -= self._line_h * 0.4

    def table(self, columns: list[Column], rows: list[list[str]], *, colors: dict[int, dict[str, str]] | None = None) -> None:
        """A table; every cell wraps within its column. ``colors[col][value]`` colours a cell."""
        scale = min(1.0, self.chars_per_line / max(1, sum(c.width + 2 for c in columns)))
        widths = [max(4, int(c.width * scale)) for c in columns]
        titles = [c.title for c in columns]
        if any(titles):
            self._row(titles, widths, weight="bold")
        for row in rows:
            if self._row(row, widths, colors=colors or {}) and any(titles):
                self._row(titles, widths, weight="bold")  # the header again on a new page
        self._y -= self._line_h * 0.6

    @property
    def _line_h(self) -> float:
        return self.font_size * 1.3

    def _row(self, cells: list[str], widths: list[int], *, weight: str = "normal",
             colors: dict[int, dict[str, str]] | None = None) -> bool:  # fmt: skip
        wrapped = [_wrap(str(cell), w) for cell, w in zip(cells, widths, strict=True)]
        height = max(len(w) for w in wrapped) * self._line_h
        broke = self._room(height + self._line_h * 0.3)
        x = _MARGIN_PT
        for col, (lines, w) in enumerate(zip(wrapped, widths, strict=True)):
            color = (colors or {}).get(col, {}).get(str(cells[col]), "black")
            for i, line in enumerate(lines):
                self._put(x, line, y=self._y - i * self._line_h, weight=weight, color=color)
            x += (w + 2) * self.font_size * _CHAR_W
        self._y -= height + self._line_h * 0.3
        return broke and weight == "normal"

    def _room(self, needed: float) -> bool:
        """Start a new page when ``needed`` points do not fit; True when one was started."""
        if self.pages and self._y - needed >= _MARGIN_PT:
            return False
        page = new_page()
        page.text(_MARGIN_PT / (A4_PORTRAIT[0] * _PT), 1 - 30 / (A4_PORTRAIT[1] * _PT), self.title,
                  fontsize=12, weight="bold", va="top", family=SANS)  # fmt: skip
        self.pages.append(page)
        self._y = A4_PORTRAIT[1] * _PT - 64
        return True

    def _put(self, x: float, text: str, *, y: float | None = None, size: float | None = None, weight: str = "normal",
             color: str = "black", family: str = MONO) -> None:  # fmt: skip
        w, h = A4_PORTRAIT[0] * _PT, A4_PORTRAIT[1] * _PT
        self.pages[-1].text(x / w, (self._y if y is None else y) / h, text, fontsize=size or self.font_size,
                            family=family, weight=weight, color=color, va="top")  # fmt: skip


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for raw in str(text).splitlines() or [""]:
        lines.extend(textwrap.wrap(raw, width, break_long_words=True, break_on_hyphens=False,
                                   replace_whitespace=False, drop_whitespace=True) or [""])  # fmt: skip
    return lines


def number_pages(pages: list[Figure], footer: str) -> None:
    """Stamp ``footer`` and ``page i of n`` at the bottom of every page."""
    for i, page in enumerate(pages, start=1):
        page.text(0.5, 0.015, f"{footer}    page {i} of {len(pages)}", ha="center", va="bottom", fontsize=7, color="#555555")
