"""Folding minutes into hours and hours into days, and each resolution's retention.

Hours are built from minutes once the hour is over (before the newest minute's hour),
days from every folded hour (the current day's row grows hour by hour); ``traffic_fold``
records how far each went. Late data below the hour watermark is added to its minutes
and appended to the table's late rows, which the next pass adds to the hours and days in
one statement (queries read them meanwhile), so each resolution holds the exact totals.
Retention deletes, oldest first, the buckets of each resolution older than its number of
days before the newest data (not the wall clock: an analysed capture from years ago
stays until newer traffic pushes it out), and never a bucket not yet folded into the
next resolution."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.store.turns import write_transaction
from appliance.traffic.settings import (
    DAY,
    HOUR,
    RES_DAY,
    RES_HOUR,
    RES_MINUTE,
    RollupSettings,
)
from appliance.traffic.sql import FOLDED_TABLES, append_late, fold_sql, upsert_sums

logger = logging.getLogger(__name__)

_EARLIEST = -(1 << 62)


@dataclass(slots=True)
class MaintainReport:
    """What one maintenance pass did."""

    folded: dict[int, tuple[int, int]] = field(default_factory=dict)  # res -> (from, to)
    deleted: dict[int, int] = field(default_factory=dict)  # res -> rows
    late: int = 0  # late minute rows added to the hours and days


def newest_minute(conn: sqlite3.Connection) -> int | None:
    """Start of the newest minute with any traffic or capture data."""
    found = [
        conn.execute(f"SELECT max(bucket) FROM {t} WHERE res = 0").fetchone()[0]
        for t in ("traffic_iface", "traffic_capture")
    ]
    values = [v for v in found if v is not None]
    return max(values) if values else None


def watermarks(conn: sqlite3.Connection) -> dict[int, int]:
    """Fold watermarks: resolution -> every finer bucket before it is folded in."""
    return {int(r): int(u) for r, u in conn.execute("SELECT res, upto FROM traffic_fold")}


def maintain(
    conn: sqlite3.Connection, settings: RollupSettings, newest: int | None = None
) -> MaintainReport:
    """Fold what is complete and expire what is too old (inside the caller's transaction)."""
    report = MaintainReport()
    newest = newest if newest is not None else newest_minute(conn)
    if newest is None:
        return report
    marks = watermarks(conn)
    # Late rows first: they lie before the current watermarks, where the folds below stop.
    report.late = fold_late(conn, settings, marks)
    hour_to = newest - newest % HOUR
    _fold(conn, RES_HOUR, marks.get(RES_HOUR, 0), hour_to, settings.bucket_sql(RES_HOUR), report)
    marks[RES_HOUR] = max(hour_to, marks.get(RES_HOUR, 0))
    # Days take every folded hour, the current day's too: its row then covers the day up to
    # the hour watermark, and a long top reads one row per key and day.
    day_to = marks[RES_HOUR]
    _fold(conn, RES_DAY, marks.get(RES_DAY, 0), day_to, settings.bucket_sql(RES_DAY), report)
    marks[RES_DAY] = max(day_to, marks.get(RES_DAY, 0))
    limits = {RES_MINUTE: marks[RES_HOUR], RES_HOUR: marks[RES_DAY], RES_DAY: newest + DAY}
    for res, days in settings.retention_days.items():
        cutoff = min(newest - days * DAY, limits[res])
        removed = 0
        for table in FOLDED_TABLES:
            cur = conn.execute(f"DELETE FROM {table} WHERE res = ? AND bucket < ?", (res, cutoff))
            removed += cur.rowcount
        if removed:
            report.deleted[res] = removed
    return report


def _fold(conn: sqlite3.Connection, res: int, start: int, end: int, bucket_expr: str,
          report: MaintainReport) -> None:  # fmt: skip
    if end <= start:
        return
    for table in FOLDED_TABLES:
        conn.execute(fold_sql(table, res, bucket_expr), (start, end))
    conn.execute("UPDATE traffic_fold SET upto = ? WHERE res = ?", (end, res))
    report.folded[res] = (start, end)
    logger.debug("Folded traffic rollups into resolution %d: from=%d to=%d.", res, start, end)


def run_maintenance(conn: sqlite3.Connection, settings: RollupSettings) -> MaintainReport:
    """:func:`maintain` in a transaction of its own (for the CLI, the core and tests)."""
    with write_transaction(conn):
        return maintain(conn, settings)


Sums = Mapping[tuple[Any, ...], list[int]]


def write_minutes(conn: sqlite3.Connection, tables: Mapping[str, Sums],
                  settings: RollupSettings) -> int:  # fmt: skip
    """Add minute rows ({table: {(minute, *key): sums}}); those before the hour watermark
    (already folded minutes) are also appended to the late rows, for :func:`fold_late`.
    Returns the number of late rows appended."""
    hour_mark = watermarks(conn).get(RES_HOUR, 0)
    appended = 0
    for table, rows in tables.items():
        if not rows:
            continue
        upsert_sums(conn, table, RES_MINUTE, rows)
        if hour_mark:
            late = {k: v for k, v in rows.items() if k[0] < hour_mark}
            if late:
                append_late(conn, table, late)
                appended += len(late)
    return appended


def fold_late(conn: sqlite3.Connection, settings: RollupSettings,
              marks: Mapping[int, int]) -> int:  # fmt: skip
    """Add the late minute rows to the hours, and to the days where days are folded
    already (the rest reach the days with their hours); empty the late tables. Returns
    the number of late rows folded."""
    folded = 0
    for table in FOLDED_TABLES:
        count = conn.execute(f"SELECT count(*) FROM {table}_late").fetchone()[0]
        if not count:
            continue
        folded += count
        for res in (RES_HOUR, RES_DAY):
            conn.execute(fold_sql(table, res, settings.bucket_sql(res), late=True),
                         (_EARLIEST, marks.get(res, 0)))  # fmt: skip
        conn.execute(f"DELETE FROM {table}_late")
    return folded
