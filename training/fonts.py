"""Fonts for charts and the outlook PDF: matplotlib's DejaVu Sans, and a CJK font where installed.

The titles, units and sources of series are partly Japanese and Chinese. DejaVu Sans has
no glyphs for them, so they are drawn with a CJK font when the system has one (Debian's
``fonts-noto-cjk``, or any font matplotlib finds that covers them). Without one, text that
cannot be drawn is replaced by an English name or a plain notice, never by empty boxes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from functools import cache

from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

log = logging.getLogger(__name__)

LATIN_FAMILY = "DejaVu Sans"  # shipped with matplotlib, so always there
#: Characters of the bundled titles and sources a CJK font must draw to be used.
_CJK_SAMPLE = "警察庁検挙件数詐欺被害額公安部破获电信网络诈骗案件サイバー犯罪ネットバンキング"
#: Asides in brackets, e.g. the Japanese name after an English title.
_ASIDE = re.compile(r"\s*[(（][^()（）]*[)）]")
_lock = threading.Lock()
#: Units in CJK script named in English where no CJK font can draw them.
_UNIT_WORDS = {
    "百万円": "million yen",
    "千円": "thousand yen",
    "億円": "100 million yen",
    "万円": "10,000 yen",
    "人": "persons",
}
UNDRAWN_UNIT = "(unit in CJK script)"


@dataclass(frozen=True)
class Fonts:
    """The font families text is drawn with, and the characters they can draw together."""

    families: tuple[str, ...]
    codepoints: frozenset[int]
    #: What the first family draws alone: text within it skips the (slow) fallback.
    primary: frozenset[int]

    @property
    def has_cjk(self) -> bool:
        """True when a CJK font is among the families."""
        return len(self.families) > 1

    def properties(self, size: float, weight: str = "normal", text: str = "") -> FontProperties:
        """Font properties for ``text``: DejaVu Sans, falling back glyph by glyph to the CJK
        font only where ``text`` needs it (laying out text with a fallback costs 3 ms a line)."""
        latin = all(ord(char) in self.primary for char in text)
        families = self.families[:1] if text and latin else self.families
        return FontProperties(family=list(families), size=size, weight=weight)

    def drawable(self, text: str) -> bool:
        """True when every visible character of ``text`` has a glyph in these fonts."""
        return all(ord(char) in self.codepoints for char in text if not char.isspace())

    def legible(self, text: str, fallback: str) -> str:
        """``text`` if it can be drawn; else without the asides that cannot (an English title
        without its Japanese name); else ``fallback``."""
        if self.drawable(text):
            return text
        kept = _ASIDE.sub(lambda aside: aside[0] if self.drawable(aside[0]) else "", text).strip()
        return kept if kept and self.drawable(kept) else fallback

    def unit(self, unit: str) -> str:
        """``unit`` if it can be drawn, else its English name ("百万円": "million yen"), else
        ``UNDRAWN_UNIT``."""
        return self.legible(unit, fallback=_UNIT_WORDS.get(unit.strip(), UNDRAWN_UNIT))


@cache
def _codepoints(path: str) -> frozenset[int]:
    return frozenset(font_manager.get_font(path).get_charmap())


def latin_fonts() -> Fonts:
    """DejaVu Sans alone: what every machine with matplotlib can draw."""
    path = font_manager.findfont(FontProperties(family=LATIN_FAMILY), fallback_to_default=False)
    codepoints = _codepoints(path)
    return Fonts((LATIN_FAMILY,), codepoints, codepoints)


def chart_fonts() -> Fonts:
    """DejaVu Sans with the first installed CJK font that draws the bundled titles, if any.

    A found CJK font is kept for the life of the process; without one the system is looked at
    again at most every ``_RECHECK_SECONDS``, so that a service started before fonts-noto-cjk
    was installed draws CJK text without a restart."""
    global _found, _checked_at
    with _lock:
        now = time.monotonic()
        if _found is None or (not _found.has_cjk and now - _checked_at >= _RECHECK_SECONDS):
            _found, _checked_at = _look_for_fonts(), now
        return _found


#: How long a search that found no CJK font is trusted (it lists the system's font files).
_RECHECK_SECONDS = 60.0
_found: Fonts | None = None
_checked_at = 0.0


def _look_for_fonts() -> Fonts:
    latin = latin_fonts()
    found = _cjk_font()
    if found is None:
        log.info("no CJK font found: charts and the outlook PDF show English titles only")
        return latin
    name, path = found
    return Fonts((LATIN_FAMILY, name), latin.codepoints | _codepoints(path), latin.codepoints)


def _cjk_font() -> tuple[str, str] | None:
    """(family, file) of a regular-weight font covering ``_CJK_SAMPLE``; Noto Sans CJK JP
    first, then other sans-serif fonts."""
    manager = font_manager.fontManager
    known = {entry.fname for entry in manager.ttflist}
    # matplotlib caches its font list: fonts installed after the cache was built are added here
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
                continue
    return first_cjk_font(manager.ttflist)


#: Fonts that map every character to a placeholder box: they "cover" any text and draw none of
#: it (matplotlib 3.11 ships Last Resort High-Efficiency for its own fallback).
_PLACEHOLDER_FONTS = ("Last Resort",)


def first_cjk_font(fonts: list[font_manager.FontEntry]) -> tuple[str, str] | None:
    """(family, file) of the first regular-weight font among ``fonts`` that draws
    ``_CJK_SAMPLE``, Noto Sans CJK JP first, then sans-serif ones; never a placeholder font."""
    entries = [
        entry
        for entry in fonts
        if entry.style == "normal"
        and entry.weight in (400, "normal", "regular")
        and not entry.name.startswith(_PLACEHOLDER_FONTS)
    ]
    entries.sort(key=lambda entry: (entry.name != "Noto Sans CJK JP", "Sans" not in entry.name))
    for entry in entries:
        try:
            covered = _codepoints(entry.fname)
        except (OSError, RuntimeError):
            continue
        if all(ord(char) in covered for char in _CJK_SAMPLE):
            return entry.name, entry.fname
    return None
