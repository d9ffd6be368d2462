"""Analysed capture files: which store sources an offline analysis made of which file.

``spanwatch analyze`` records each capture with the sources of its events and findings;
``spanwatch dissect`` follows an event's source back to the file to read its packets.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson


class CaptureRecords:
    """The store's methods over the ``captures`` table (mixed into the SQLite store)."""

    _conn: sqlite3.Connection

    def add_capture(self, path: str, source_ids: Sequence[int], *, packets: int | None,
                    summary: Any = None) -> None:  # fmt: skip
        """Record an analysed capture file: one row for each store source it produced."""
        now = time.time_ns() // 1000
        text = orjson.dumps(summary).decode() if summary is not None else None
        self._conn.executemany(
            "INSERT INTO captures(path, packets, source_id, status, started_at, finished_at, "
            "summary) VALUES (?, ?, ?, 'done', ?, ?, ?)",
            [(path, packets, sid, now, now, text) for sid in source_ids],
        )

    def capture_path(self, source_id: int) -> str | None:
        """The capture file whose analysis produced the events of ``source_id``, if any."""
        row = self._conn.execute(
            "SELECT path FROM captures WHERE source_id = ? ORDER BY id DESC LIMIT 1",
            (source_id,),
        ).fetchone()
        return str(row[0]) if row else None
