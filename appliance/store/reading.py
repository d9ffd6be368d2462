"""Reading the SQLite event store: filtered queries, counts, and a cursor over new chunks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import zstandard

from appliance.events import pack_ip, unpack_ip
from appliance.store import EventQuery, Signature, StoreStats, event_id


class EventReading:
    """Mixin of :class:`~appliance.store.sqlite.SqliteEventStore`: everything that reads."""

    path: Path
    _conn: sqlite3.Connection
    _zd: zstandard.ZstdDecompressor
    _sensors: dict[str, int]
    _etype_names: dict[int, str]

    # Provided by the store class.
    _etype_id: Callable[[str], int]
    _reload_etypes: Callable[[], None]
    _load_names: Callable[[str], dict[str, int]]

    def _where(self, q: EventQuery) -> tuple[str, list[Any]]:
        """``FROM events ... WHERE ...`` for ``q``, and its arguments."""
        source = " FROM events"
        clauses: list[str] = []
        args: list[Any] = []
        if q.ip is not None:
            # Through the host zone map: only the rows of chunks that hold the address
            # are read, each chunk through its id range.
            # Chunks outside the time range (their min/max event time) are skipped too.
            window = "".join([" AND c.max_ts >= ?" if q.since_us is not None else "",
                              " AND c.min_ts < ?" if q.until_us is not None else ""])
            source += (" JOIN (SELECT c.id AS z_chunk, c.min_id AS z_lo, c.max_id AS z_hi "
                       "FROM chunk_hosts h JOIN chunks c ON c.id = h.chunk "
                       f"WHERE h.ip = ?{window}) "
                       "ON events.id BETWEEN z_lo AND z_hi AND events.chunk = z_chunk")
            args.append(pack_ip(q.ip))
            args += [v for v in (q.since_us, q.until_us) if v is not None]
            clauses.append("(src_ip = ? OR dest_ip = ?)")
            args.extend([pack_ip(q.ip)] * 2)
        if q.event_type is not None:
            clauses.append("etype = ?")
            args.append(self._etype_id(q.event_type))
        if q.source_ids is not None:
            ranges = [f"id BETWEEN {event_id(s, 0)} AND {event_id(s + 1, 0) - 1}"
                      for s in q.source_ids]  # fmt: skip
            clauses.append("(" + (" OR ".join(ranges) or "0") + ")")
        for column, op, value in (("ts", ">=", q.since_us), ("ts", "<", q.until_us),
                                  ("sid", "=", q.sid), ("flow_id", "=", q.flow_id),
                                  ("id", "=", q.event_id)):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} {op} ?")
                args.append(value)
        return source + ((" WHERE " + " AND ".join(clauses)) if clauses else ""), args

    def count_events(self, query: EventQuery) -> int:
        """How many stored events match ``query``."""
        where, args = self._where(query)
        return int(self._conn.execute(f"SELECT count(*){where}", args).fetchone()[0])

    def events(self, query: EventQuery) -> Iterator[dict[str, Any]]:
        """The raw EVE records matching ``query``, in id order, each with ``_id``."""
        where, args = self._where(query)
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
        rows = self._conn.execute(f"SELECT id, chunk, pos{where} ORDER BY id{limit}",
                                  args).fetchall()  # fmt: skip
        cache: dict[int, list[bytes]] = {}
        for eid, chunk, pos in rows:
            lines = cache.get(chunk)
            if lines is None:
                if len(cache) > 64:
                    cache.clear()
                blob = self._conn.execute("SELECT data FROM chunks WHERE id = ?", (chunk,))
                lines = cache[chunk] = self._zd.decompress(blob.fetchone()[0]).split(b"\n")
            record = orjson.loads(lines[pos])
            record["_id"] = eid
            yield record

    def events_after_chunk(
        self, after: int, *, kind: str | None = None, max_chunks: int = 64
    ) -> tuple[int, list[dict[str, Any]]]:
        """Records stored after chunk ``after`` (a cursor), oldest first: ``(cursor, records)``.

        Chunk ids grow in commit order, so a consumer that keeps the returned cursor sees
        every record once, whatever its event id. ``kind`` is ``"alerts"`` (alerts,
        findings, anomalies, drops) or ``"metadata"``. Each record carries ``_id``,
        ``_chunk`` and ``_sensor``.
        """
        where = "id > ?" + (" AND kind = ?" if kind is not None else "")
        chunks = self._conn.execute(
            f"SELECT id, min_id, max_id, data FROM chunks WHERE {where} ORDER BY id LIMIT ?",
            (after, kind, max_chunks) if kind is not None else (after, max_chunks),
        ).fetchall()
        if not chunks:
            return after, []
        sensors = {v: k for k, v in self._sensors.items()}
        out: list[dict[str, Any]] = []
        for chunk, lo, hi, blob in chunks:
            lines = self._zd.decompress(blob).split(b"\n")
            for eid, pos, sensor in self._conn.execute(
                "SELECT id, pos, sensor FROM events WHERE id BETWEEN ? AND ? AND chunk = ? "
                "ORDER BY pos", (lo, hi, chunk)
            ):  # fmt: skip
                record = orjson.loads(lines[pos])
                if sensor not in sensors:
                    self._sensors = self._load_names("sensors")
                    sensors = {v: k for k, v in self._sensors.items()}
                record["_id"], record["_chunk"], record["_sensor"] = eid, chunk, sensors.get(sensor)
                out.append(record)
        return chunks[-1][0], out

    def lines_after_chunk(
        self, after: int, event_types: Sequence[str], *, max_chunks: int = 64
    ) -> tuple[int, list[tuple[int, int, str, bytes]]]:
        """The stored lines of ``event_types`` in the chunks after ``after`` (a cursor; at
        most ``max_chunks`` chunks), in order:
        ``(cursor, [(event id, sensor id, event type, line)])``.

        For readers that decode only what they use (the traffic rollups: flows and stats).
        """
        chunks = self._conn.execute(
            "SELECT id, min_id, max_id FROM chunks WHERE id > ? ORDER BY id LIMIT ?",
            (after, max_chunks),
        ).fetchall()
        if not chunks:
            return after, []
        etypes = self._etype_ids(event_types)
        marks = ",".join("?" * len(etypes))
        names = self._etype_names
        out: list[tuple[int, int, str, bytes]] = []
        for chunk, lo, hi in chunks if etypes else ():
            rows = self._conn.execute(
                f"SELECT id, sensor, pos, etype FROM events WHERE id BETWEEN ? AND ? "
                f"AND chunk = ? AND etype IN ({marks}) ORDER BY id", (lo, hi, chunk, *etypes)
            ).fetchall()  # fmt: skip
            if rows:
                lines = self._lines_of(chunk)
                out += [(eid, sensor, names[etype], lines[pos])
                        for eid, sensor, pos, etype in rows]  # fmt: skip
        return chunks[-1][0], out

    def source_lines(
        self, source_ids: Sequence[int], event_types: Sequence[str], *, upto_chunk: int
    ) -> list[tuple[int, int, str, bytes]]:
        """The stored lines of ``event_types`` from these sources, in chunks up to
        ``upto_chunk``: ``[(event id, sensor id, event type, line)]``."""
        etypes = self._etype_ids(event_types)
        marks = ",".join("?" * len(etypes))
        rows: list[tuple[int, int, int, int, int]] = []
        for sid in source_ids if etypes else ():
            rows += self._conn.execute(
                f"SELECT chunk, id, sensor, pos, etype FROM events WHERE id BETWEEN ? AND ? "
                f"AND chunk <= ? AND etype IN ({marks}) ORDER BY id",
                (event_id(sid, 0), event_id(sid + 1, 0) - 1, upto_chunk, *etypes),
            ).fetchall()  # fmt: skip
        return self._chunk_lines(rows)

    def _etype_ids(self, names: Sequence[str]) -> list[int]:
        """Ids of the event types among ``names`` the store has seen."""
        return [i for i in map(self._etype_id, names) if i >= 0]

    def _lines_of(self, chunk: int) -> list[bytes]:
        """The raw lines of ``chunk``, in order (its ``pos`` indexes them)."""
        blob = self._conn.execute("SELECT data FROM chunks WHERE id = ?", (chunk,))
        return self._zd.decompress(blob.fetchone()[0]).split(b"\n")

    def _chunk_lines(self, rows: list[tuple[int, int, int, int, int]]
                     ) -> list[tuple[int, int, str, bytes]]:  # fmt: skip
        """``(event id, sensor id, event type, line)`` of ``(chunk, event id, sensor id,
        pos, event type id)`` rows (the ids were just looked up: their names are known)."""
        out: list[tuple[int, int, str, bytes]] = []
        names = self._etype_names
        lines: list[bytes] = []
        current = None
        for chunk, eid, sensor, pos, etype in rows:
            if chunk != current:
                lines, current = self._lines_of(chunk), chunk
            out.append((eid, sensor, names[etype], lines[pos]))
        return out

    def alert_counts(self, source_ids: Sequence[int] | None = None) -> dict[int, int]:
        """Alerts per signature id."""
        where, args = self._where(EventQuery(event_type="alert", source_ids=source_ids))
        sql = f"SELECT sid, count(*){where} GROUP BY sid"
        return {int(s): int(n) for s, n in self._conn.execute(sql, args) if s is not None}

    def type_counts(self, source_ids: Sequence[int] | None = None) -> dict[str, int]:
        """Events per event type."""
        where, args = self._where(EventQuery(source_ids=source_ids))
        sql = f"SELECT etype, count(*){where} GROUP BY etype"
        rows = self._conn.execute(sql, args).fetchall()
        if any(t not in self._etype_names for t, _ in rows):
            self._reload_etypes()
        names = self._etype_names
        return {names.get(t, str(t)): int(n) for t, n in rows}

    def top_talkers(self, source_ids: Sequence[int] | None = None, n: int = 10) -> list[
            tuple[str, int]]:  # fmt: skip
        """Hosts by bytes in flow records, each end of a flow counted."""
        where, args = self._where(EventQuery(event_type="flow", source_ids=source_ids))
        sql = (f"SELECT ip, sum(b) FROM (SELECT src_ip AS ip, bytes AS b{where} "
               f"UNION ALL SELECT dest_ip, bytes{where}) WHERE ip IS NOT NULL "
               f"GROUP BY ip ORDER BY 2 DESC, 1 LIMIT ?")  # fmt: skip
        rows = self._conn.execute(sql, [*args, *args, n]).fetchall()
        return [(unpack_ip(ip) or "?", int(total or 0)) for ip, total in rows]

    def signatures(self, sids: Sequence[int]) -> dict[int, Signature]:
        """Known signatures among ``sids``."""
        out = {}
        for sid in sids:
            row = self._conn.execute(
                "SELECT sid, msg, category, severity FROM signatures WHERE sid = ?", (sid,)
            ).fetchone()
            if row:
                out[int(row[0])] = Signature(*row)
        return out

    def counters(self) -> dict[str, int]:
        """Exact counters (dead letters by reason, ...)."""
        return {k: int(v) for k, v in self._conn.execute("SELECT name, value FROM counters")}

    def stats(self) -> StoreStats:
        """What the store holds: counts, size on disk, time range."""
        oldest, newest, total = self._conn.execute(
            "SELECT min(ts), max(ts), count(*) FROM events"
        ).fetchone()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return StoreStats(
            events_by_type=self.type_counts(),
            alerts_by_sid=self.alert_counts(),
            total_events=int(total),
            size_bytes=size,
            oldest_us=oldest,
            newest_us=newest,
            counters=self.counters(),
        )

