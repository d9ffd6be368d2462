"""The traffic rollups brought up to date by a cursor over the store's chunks.

The ingest only stores events; the rollups follow it: :class:`RollupFollower` reads the
flow and stats lines of the chunks after its cursor, sums them, and adds the sums with
the new cursor in one transaction of the store. A chunk is counted exactly once, whoever
follows (``spanwatch core`` on an appliance, a process beside ``spanwatch analyze`` and
``spanwatch ingest``), however many follow at once, and across kills: two followers that
read the same chunks both find out, as they write, whether the cursor moved meanwhile.
Following costs the ingest nothing but the store's write lock for a moment per round, so
on two cores the rollups take the core the ingest leaves idle.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.errors import StoreError
from appliance.events import EveRecord, FlowLine, decode_flow, decode_line
from appliance.store.turns import begin_immediate
from appliance.traffic.aggregate import compound
from appliance.traffic.geo import GeoDatabase
from appliance.traffic.rollup import Rollup, Summed

logger = logging.getLogger(__name__)

#: The cursor's name in the store's ``cursors`` table.
CURSOR = "traffic"
#: A counter in ``cursors`` that every deletion of sources bumps: a round that read lines
#: before a deletion starts over instead of counting events that no longer exist.
DELETIONS = "deletions"
#: Event types the rollups read.
EVENT_TYPES = ("flow", "stats")
#: Chunks per round (one transaction; a chunk holds up to ``ingest.batch_size`` records):
#: a follower that lags holds the store's write lock for a moment, not for seconds.
ROUND_CHUNKS = 16


def read_cursor(conn: sqlite3.Connection, name: str = CURSOR) -> int:
    """The last chunk counted by the follower ``name`` (0: none yet)."""
    row = conn.execute("SELECT chunk FROM cursors WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _write_cursor(conn: sqlite3.Connection, chunk: int, name: str = CURSOR) -> None:
    conn.execute("INSERT INTO cursors VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                 "chunk = excluded.chunk", (name, chunk))  # fmt: skip


@dataclass
class FollowResult:
    """What a :meth:`RollupFollower.run_once` did."""

    rounds: int = 0  # rounds that counted new chunks
    lines: int = 0  # flow and stats lines read
    cursor: int = 0


class RollupFollower:
    """Keeps the traffic rollups of one store up to date (one thread uses it)."""

    def __init__(self, store: Any, geo: GeoDatabase | None = None) -> None:
        self.store = store
        self.rollup = Rollup(store.connection, geo)

    def run_once(self, max_rounds: int | None = None) -> FollowResult:
        """Count every chunk after the cursor (``max_rounds`` rounds at most); fold and
        expire when a minute has passed, even when nothing is new."""
        conn: sqlite3.Connection = self.store.connection
        result = FollowResult(cursor=read_cursor(conn))
        rounds = 0
        while max_rounds is None or rounds < max_rounds:
            rounds += 1
            after, deletions = read_cursor(conn), read_cursor(conn, DELETIONS)
            due = self.rollup.due(conn)
            # Rollups turned off: the cursor moves on over lines not even read.
            types = EVENT_TYPES if self.rollup.settings.enabled else ()
            cursor, lines = self.store.lines_after_chunk(after, types, max_chunks=ROUND_CHUNKS)
            if cursor == after and not due:
                break
            try:
                groups = self._summed(lines)
            except Exception:  # a bug or a record no test foresaw: never stall the rollups
                logger.exception("Traffic rollups: chunks %d-%d could not be summed and are "
                                 "left out.", after + 1, cursor)  # fmt: skip
                groups = {}
            begin_immediate(conn, self.store.path)
            try:
                if read_cursor(conn) != after or read_cursor(conn, DELETIONS) != deletions:
                    conn.execute("ROLLBACK")  # counted by another follower, or deleted
                    continue
                for sensor_id, (stats, summed) in groups.items():
                    self.rollup.add(conn, sensor_id, summed, stats)
                self.rollup.tend(conn, due)
                _write_cursor(conn, cursor)
                conn.execute("COMMIT")
            except BaseException as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(err, sqlite3.Error):
                    raise StoreError(f"Traffic rollups: cannot write to the store "
                                     f"{self.store.path}: {err}") from err  # fmt: skip
                raise
            if cursor == after:
                break
            result.rounds += 1
            result.lines += len(lines)
            result.cursor = cursor
        return result

    def _summed(self, lines: list[tuple[int, int, str, bytes]]
                ) -> dict[int, tuple[list[EveRecord], Summed | None]]:  # fmt: skip
        """Each sensor's stats records and summed flows (outside the write transaction).

        Flows are decoded to their indexed fields only: the store checked every line as
        it stored it, and a flow's minutes come from its own start and end.
        """
        flows: dict[int, list[FlowLine]] = {}
        stats: dict[int, list[EveRecord]] = {}
        for eid, sensor, etype, line in lines:
            if etype == "flow":
                flows.setdefault(sensor, []).append(decode_flow(line))
            else:
                stats.setdefault(sensor, []).append(decode_line(line, eid))
        out: dict[int, tuple[list[EveRecord], Summed | None]] = {}
        for sensor in flows.keys() | stats.keys():
            compounded = compound(flows.get(sensor, ()))
            summed = self.rollup.sum_flows(compounded) if compounded else None
            out[sensor] = (stats.get(sensor, []), summed)
        return out

    def finish(self) -> None:
        """Fold the late rows the last rounds left (an old capture) now, rather than at
        the next fold of whoever follows next."""
        self.rollup.fold_late(self.store.connection)


class StoreRollups:
    """A :class:`RollupFollower` with a connection of its own to the store at ``path``,
    opened on first use in the thread that runs it (its transactions must not mix with
    other threads' work on a shared connection): ``spanwatch core``'s rollups."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._follower: RollupFollower | None = None

    def run_once(self) -> FollowResult:
        """Count what is new (see :meth:`RollupFollower.run_once`)."""
        if self._follower is None:
            from appliance.store import open_store

            self._follower = RollupFollower(open_store(self.path))
        result = self._follower.run_once()  # late rows: folded within the minute
        if result.lines:
            logger.debug("Traffic rollups: %d lines counted, cursor=%d.", result.lines,
                         result.cursor)  # fmt: skip
        return result


def catch_up(store: Any) -> FollowResult:
    """Bring the rollups of ``store`` up to date in this thread (for small stores, tests,
    and where no helper process can be forked)."""
    follower = RollupFollower(store)
    result = follower.run_once()
    follower.finish()
    return result


def unroll_sources(store: Any, source_ids: Sequence[int]) -> None:
    """Take the counted flows of these sources back out of the rollups.

    For the store's ``delete_sources`` (a failed analysis leaves nothing behind), inside
    its transaction and before the events go: the flows in chunks up to the cursor are
    rolled up again with negated sums, so a later analysis of the same capture is not
    counted twice; the rest was never counted, and a follower that has read some of it
    finds the deletion noted when it writes, and reads again. First contacts stay (they
    only say a pair was seen).
    """
    conn: sqlite3.Connection = store.connection
    conn.execute("INSERT INTO cursors VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET "
                 "chunk = chunk + 1", (DELETIONS,))  # fmt: skip
    rollup = Rollup(conn)
    if not rollup.settings.enabled:
        return
    by_sensor: dict[int, list[FlowLine]] = {}
    for _eid, sensor, _etype, line in store.source_lines(source_ids, ("flow",),
                                                         upto_chunk=read_cursor(conn)):
        by_sensor.setdefault(sensor, []).append(decode_flow(line))
    for sensor_id, heads in by_sensor.items():
        flows = compound(heads)
        for sums in flows.values():
            for i, value in enumerate(sums):
                sums[i] = -value
        rollup.add_flows(conn, flows, sensor_id, unroll=True)
