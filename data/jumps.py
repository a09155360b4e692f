"""Warnings for figures that jump sharply against neighbouring years (accepted, not refused)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from data.canonical import written_out

#: A figure more than this many times (or less than its inverse) its neighbour gets a warning.
JUMP_FACTOR = 5.0


def _is_jump(before: float, after: float) -> bool:
    if before == 0 or after == 0:
        return before != after
    ratio = after / before
    return ratio > JUMP_FACTOR or ratio < 1 / JUMP_FACTOR


def jump_warnings(
    values_by_series: Mapping[str, Mapping[int, float]], touched: Iterable[tuple[str, int]]
) -> list[str]:
    """One warning per sharp jump between a touched figure and its nearest stored neighbours."""
    pairs: set[tuple[str, int, int]] = set()
    for series_id, year in touched:
        years = sorted(values_by_series[series_id])
        earlier = [other for other in years if other < year]
        later = [other for other in years if other > year]
        if earlier:
            pairs.add((series_id, earlier[-1], year))
        if later:
            pairs.add((series_id, year, later[0]))
    warnings = []
    for series_id, first, second in sorted(pairs):
        before = values_by_series[series_id][first]
        after = values_by_series[series_id][second]
        if _is_jump(before, after):
            if before == 0:
                change = "up from"
            elif after > before:
                change = f"{after / before:,.1f}× up on"
            else:
                change = f"{before / after:,.1f}× down on" if after else "down to zero from"
            warnings.append(
                f"{series_id}: {second} = {written_out(after)} is {change} the {first} value "
                f"{written_out(before)} (more than {JUMP_FACTOR:g}× either way); accepted, "
                "but check it is not a typo or a unit slip"
            )
    return warnings
