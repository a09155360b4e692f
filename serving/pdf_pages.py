"""A4 pages drawn with matplotlib: lines of text wrapped to the page, charts and tables placed
down it, a new page begun when one is full (the layout of the outlook brief, ``serving.report``).

Text is measured character by character with matplotlib's own renderer, so wrapping needs no
font metrics of its own; each block of lines is one matplotlib text, laid out with a fixed line
spacing, so that where the next block starts is known without drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from training.fonts import Fonts

PAGE_WIDTH, PAGE_HEIGHT = 8.27, 11.69  # A4, inches
MARGIN = 0.6
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
INK, MUTED, ACCENT = "#1a1a1a", "#5a5a5a", "#08519c"
_LINE_SPACING = 1.3


#: The smallest type size a table is shrunk to so that it fits the page's width (points).
_SMALLEST_TABLE = 6.0


class PageFlow:
    """Places lines of text, charts and tables down A4 pages, starting a new page when full."""

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self.pages: list[Figure] = []
        self.top = 0.0  # inches from the top of the current page

    @property
    def page(self) -> Figure:
        """The page being filled."""
        return self.pages[-1]

    def new_page(self) -> None:
        """Begin a new page; what follows goes at its top."""
        self.pages.append(Figure(figsize=(PAGE_WIDTH, PAGE_HEIGHT)))
        self.top = MARGIN

    def _room(self, height: float) -> None:
        if not self.pages or self.top + height > PAGE_HEIGHT - MARGIN:
            self.new_page()

    def space(self, inches: float) -> None:
        """Leave a gap before what follows."""
        self.top += inches

    def text(
        self,
        text: str,
        size: float = 9.0,
        *,
        weight: str = "normal",
        colour: str = INK,
        indent: float = 0.0,
    ) -> None:
        """A paragraph, wrapped to the text width."""
        lines = _wrap(text, self.fonts, size, weight, TEXT_WIDTH - indent)
        self._lines([(MARGIN + indent, lines, "left")], size, weight=weight, colour=colour)

    def _lines(
        self,
        columns: Sequence[tuple[float, Sequence[str], str]],
        size: float,
        *,
        weight: str = "normal",
        colour: str = INK,
    ) -> None:
        """Columns of lines (left or right edge in inches, lines, alignment) side by side,
        one text per column and page: drawing a text costs more than its lines."""
        height = size * _LINE_SPACING / 72
        count = max(len(lines) for _, lines, _ in columns)
        done = 0
        while done < count:
            self._room(height)
            fit = max(1, int((PAGE_HEIGHT - MARGIN - self.top) // height))
            for edge, lines, align in columns:
                text = "\n".join(lines[done : done + fit])
                self.page.text(
                    edge / PAGE_WIDTH,
                    1 - self.top / PAGE_HEIGHT,
                    text,
                    fontproperties=self.fonts.properties(size, weight, text),
                    color=colour,
                    va="top",
                    ha=align,
                    multialignment=align,
                    linespacing=_LINE_SPACING,
                )
            shown = min(fit, count - done)
            self.top += shown * height
            done += shown

    def heading(self, text: str, size: float = 11.0) -> None:
        """A section heading, kept on the page of what follows it."""
        self._room(size * _LINE_SPACING / 72 + 0.5)
        self.space(0.08)
        self.text(text, size, weight="bold", colour=ACCENT)
        self.space(0.02)

    def chart(self, height: float, draw: Callable[[Axes], None]) -> None:
        """An axes the width of the text, drawn by ``draw``."""
        self._room(height)
        bottom = PAGE_HEIGHT - self.top - height
        left = MARGIN + 0.55  # room for the axis labels
        axes = self.page.add_axes(
            (
                left / PAGE_WIDTH,
                (bottom + 0.3) / PAGE_HEIGHT,
                (PAGE_WIDTH - MARGIN - left) / PAGE_WIDTH,
                (height - 0.55) / PAGE_HEIGHT,
            )
        )
        draw(axes)
        self.top += height

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], size: float = 8.5
    ) -> None:
        """Rows of cells, the first column left-aligned and the others right-aligned; a table
        too wide for the page is set in a smaller size, down to ``_SMALLEST_TABLE`` (the
        cover's table of every series had run off the page's right edge)."""
        gap = 0.25

        def widths_at(points: float) -> list[float]:
            return [
                max(
                    _width(str(header[column]), self.fonts, points, "bold"),
                    *(_width(str(row[column]), self.fonts, points, "normal") for row in rows),
                )
                for column in range(len(header))
            ]

        widths = widths_at(size)
        room = PAGE_WIDTH - 2 * MARGIN - gap * (len(header) - 1)
        if sum(widths) > room:
            # 2% to spare: a measured width is within a percent of the drawn one
            size = max(_SMALLEST_TABLE, 0.98 * size * room / sum(widths))
            widths = widths_at(size)
        rights = []
        edge = MARGIN
        for width in widths:
            edge += width + gap
            rights.append(edge - gap)
        self._room(size * _LINE_SPACING / 72 * min(len(rows) + 1, 3))  # no header alone
        edges = [MARGIN, *rights[1:]]
        for weight, lines in (("bold", [header]), ("normal", rows)):
            self._lines(
                [
                    (edge, [row[column] for row in lines], "left" if column == 0 else "right")
                    for column, edge in enumerate(edges)
                ],
                size,
                weight=weight,
            )


@lru_cache(maxsize=8192)
def _char_width(char: str, families: tuple[str, ...], size: float, weight: str) -> float:
    """Width of one character in inches (measured once: wrapping sums them)."""
    properties = FontProperties(family=list(families), size=size, weight=weight)
    width, _, _ = _renderer().get_text_width_height_descent(char, properties, ismath=False)
    return float(width) / _MEASURE_DPI


#: The resolution text is measured at. At 72 dpi, Agg's hinting rounds each glyph's advance to
#: whole pixels (points) and measured "258,000 in 2025" 16% narrower than the PDF draws it:
#: the cover's table ran its columns into each other.
_MEASURE_DPI = 720


@cache
def _renderer() -> RendererAgg:
    """A renderer that only measures text, at ``_MEASURE_DPI``."""
    return RendererAgg(1, 1, _MEASURE_DPI)


def _width(text: str, fonts: Fonts, size: float, weight: str) -> float:
    # kerning is ignored, so lines get a little slack in _wrap
    return sum(_char_width(char, fonts.families, size, weight) for char in text)


def _wrap(text: str, fonts: Fonts, size: float, weight: str, width: float) -> list[str]:
    """Greedy word wrap; a word wider than the line (a long URL, CJK without spaces) is split."""
    limit = width * 0.97
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if _width(candidate, fonts, size, weight) <= limit:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while _width(line, fonts, size, weight) > limit:
            cut = _fitting(line, fonts, size, weight, limit)
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def _fitting(text: str, fonts: Fonts, size: float, weight: str, limit: float) -> int:
    """How many leading characters of ``text`` fit in ``limit`` inches (at least one)."""
    used = 0.0
    for index, char in enumerate(text):
        used += _char_width(char, fonts.families, size, weight)
        if used > limit:
            return max(index, 1)
    return len(text)


def number_pages(pages: Sequence[Figure], footer: str, fonts: Fonts) -> None:
    """``footer · page N of M`` at the foot of every page."""
    for number, figure in enumerate(pages, start=1):
        figure.text(
            0.5,
            0.4 / PAGE_HEIGHT,
            f"{footer} · page {number} of {len(pages)}",
            fontproperties=fonts.properties(7.5),
            color=MUTED,
            ha="center",
        )
