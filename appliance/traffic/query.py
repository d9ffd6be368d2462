"""Reading the rollups: exact sums over any time range, at any step, from the coarsest rows.

The three resolutions partition the data: day rows hold everything before the day
watermark (the current day's row up to it), hour rows everything from there to the hour
watermark, minute rows the rest (:mod:`.fold`). A range is tiled with whole days where
days are folded, whole hours where hours are, and minutes at the edges, so a 30-day top
reads about 30 day rows per key instead of 43,200 minutes, and stays exact. Rows expired
by retention are simply absent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.traffic.fold import watermarks
from appliance.traffic.settings import (
    DAY,
    HOUR,
    MINUTE,
    RES_DAY,
    RES_HOUR,
    RES_MINUTE,
    RollupSettings,
)


@dataclass(frozen=True, slots=True)
class Segment:
    """Buckets of one resolution in ``[start, end)``."""

    res: int
    start: int
    end: int
    #: Where its data ends in time, when its last bucket is folded only part of the way
    #: (the bucket holding a watermark); ``end`` otherwise.
    covers: int | None = None


def _ceil(ts: int, width: int, settings: RollupSettings) -> int:
    if width == DAY:
        start = settings.day_start(ts)
        return start if start == ts else start + DAY
    return -(-ts // width) * width


def _floor(ts: int, width: int, settings: RollupSettings) -> int:
    return settings.day_start(ts) if width == DAY else ts - ts % width


def tiles(since: int, until: int, marks: dict[int, int], settings: RollupSettings
          ) -> list[Segment]:  # fmt: skip
    """Segments covering ``[since, until)`` (minute-aligned) with the coarsest folded rows."""
    since = since - since % MINUTE
    until = _ceil(until, MINUTE, settings)
    if until <= since:
        return []
    out: list[Segment] = []
    rest = [(since, until)]
    for res, width in ((RES_DAY, DAY), (RES_HOUR, HOUR)):
        mark = marks.get(res, 0)
        finer: list[tuple[int, int]] = []
        for lo, hi in rest:
            a = _ceil(lo, width, settings)
            whole = min(_floor(hi, width, settings), _floor(mark, width, settings))
            last, covered = whole, whole
            if whole >= a and whole < mark <= hi:
                # The bucket holding the watermark is folded up to the watermark only.
                last, covered = whole + 1, mark
            if a < last:
                out.append(Segment(res, a, last, covered))
                finer += [(lo, a), (covered, hi)]
            else:
                finer.append((lo, hi))
        rest = [(lo, hi) for lo, hi in finer if lo < hi]
    out += [Segment(RES_MINUTE, lo, hi) for lo, hi in rest]
    return out


def steps(since: int, until: int, res: int, marks: dict[int, int]) -> list[Segment]:
    """Segments whose rows, grouped into buckets of resolution ``res``, give every point.

    Each bucket takes its data from the resolution that holds it (day rows before the day
    watermark, hours up to the hour watermark, minutes after), never from two.
    """
    mark_d, mark_h = marks.get(RES_DAY, 0), marks.get(RES_HOUR, 0)
    if res == RES_MINUTE:
        parts = [Segment(RES_MINUTE, since, until)]
    elif res == RES_HOUR:
        parts = [Segment(RES_HOUR, since, min(until, mark_h)),
                 Segment(RES_MINUTE, max(since, mark_h), until)]  # fmt: skip
    else:
        parts = [Segment(RES_DAY, since, min(until, mark_d)),
                 Segment(RES_HOUR, max(since, mark_d), min(until, mark_h)),
                 Segment(RES_MINUTE, max(since, mark_h), until)]  # fmt: skip
    return [p for p in parts if p.start < p.end]


def late_span(seg: Segment) -> tuple[int, int] | None:
    """The time span of the late minute rows a segment of hours or days must also read
    (they are not folded into its rows yet; see :func:`.fold.fold_late`); None for minutes."""
    if seg.res == RES_MINUTE:
        return None
    return seg.start, seg.end if seg.covers is None else seg.covers


def union(table: str, columns: str, segments: Sequence[Segment], where: str = "",
          args: Sequence[Any] = ()) -> tuple[str, list[Any]]:  # fmt: skip
    """``SELECT columns FROM table`` over every segment, as one UNION ALL, and its arguments.

    Segments of hours and days also read the table's late minute rows in their time span
    (not folded yet; see :func:`.fold.fold_late`).
    """
    parts, params = [], []
    extra = f" AND {where}" if where else ""
    for seg in segments:
        parts.append(f"SELECT {columns} FROM {table} WHERE res = ? AND bucket >= ? "
                     f"AND bucket < ?{extra}")  # fmt: skip
        params += [seg.res, seg.start, seg.end, *args]
        span = late_span(seg)
        if span is not None:
            parts.append(f"SELECT {columns} FROM {table}_late WHERE bucket >= ? "
                         f"AND bucket < ?{extra}")  # fmt: skip
            params += [*span, *args]
    if not parts:
        parts.append(f"SELECT {columns} FROM {table} WHERE 0")
    return " UNION ALL ".join(parts), params


def current_marks(conn: sqlite3.Connection) -> dict[int, int]:
    """The fold watermarks (empty for a store without rollups)."""
    try:
        return watermarks(conn)
    except sqlite3.OperationalError:
        return {}
