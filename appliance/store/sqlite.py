"""SQLite (WAL) implementation of the event store."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import zstandard

from appliance.config import RetentionConfig
from appliance.errors import StoreError
from appliance.events import (
    EveRecord,
    community_key,
    pack_ip,
    proto_number,
    unpack_ip,
)
from appliance.store import Bookmark, EventQuery, Signature, StoreStats
from appliance.store.captures import CaptureRecords
from appliance.store.connection import connect, opening_lock, write_error
from appliance.store.migrate import migrate
from appliance.store.retention import RetentionReport, apply_retention

logger = logging.getLogger(__name__)

#: Bits of an event id that hold the byte offset of the line in its source.
OFFSET_BITS = 40
_COMPRESS_LEVEL = 3
_EVENT_SQL = "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


def event_id(source_id: int, offset: int) -> int:
    """The store id of the line at ``offset`` of source ``source_id``."""
    return (source_id << OFFSET_BITS) | offset


def source_of(event_id: int) -> int:
    """The source id encoded in an event id."""
    return event_id >> OFFSET_BITS


class SqliteEventStore(CaptureRecords):
    """The embedded store: events, bookmarks and counters in one SQLite file."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise StoreError(f"No store at {self.path}; run `spanwatch analyze` or a sensor first.")
        if readonly:
            self._conn = connect(self.path, readonly=True)
        else:
            # Processes and threads that open a new store at once (sensor, packet sniffer,
            # writer thread) take turns: setting WAL and migrating need the file alone.
            with opening_lock(self.path):
                self._conn = connect(self.path)
                migrate(self._conn)
        self._sensors = self._load_names("sensors")
        self._etypes = self._load_names("event_types")
        self._etype_names = {v: k for k, v in self._etypes.items()}
        self._known_sigs: set[tuple[int, int | None, str | None]] = set()
        self._zc = zstandard.ZstdCompressor(level=_COMPRESS_LEVEL)
        self._zd = zstandard.ZstdDecompressor()

    # -- names -------------------------------------------------------------------------

    def _load_names(self, table: str) -> dict[str, int]:
        try:
            return {name: i for i, name in self._conn.execute(f"SELECT id, name FROM {table}")}
        except sqlite3.Error as err:
            raise StoreError(f"The store {self.path} is not a spanwatch store: {err}") from err

    def _reload_etypes(self) -> None:
        """Event types another connection (the writer thread, another process) added."""
        self._etypes.update(self._load_names("event_types"))
        self._etype_names = {v: k for k, v in self._etypes.items()}

    def _etype_id(self, name: str) -> int:
        """The id of event type ``name`` for a query; -1 if no event of it was ever stored."""
        found = self._etypes.get(name)
        if found is None:
            self._reload_etypes()
            found = self._etypes.get(name, -1)
        return found

    def _name_id(self, table: str, cache: dict[str, int], name: str) -> int:
        found = cache.get(name)
        if found is None:
            self._conn.execute(f"INSERT OR IGNORE INTO {table}(name) VALUES (?)", (name,))
            row = self._conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
            found = cache[name] = int(row[0])
            if table == "event_types":
                self._etype_names[found] = name
        return found

    # -- sources and bookmarks -----------------------------------------------------------

    def source_id(self, fingerprint: bytes, path: str) -> int:
        """The id of the source with this fingerprint, registering it if new."""
        row = self._conn.execute(
            "SELECT id FROM sources WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        if row:
            return int(row[0])
        cur = self._conn.execute(
            "INSERT INTO sources(fingerprint, path, first_seen) VALUES (?, ?, ?)",
            (fingerprint, path, int(time.time())),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def bookmark(self, source_id: int) -> Bookmark | None:
        """The bookmark of ``source_id``, if any."""
        row = self._conn.execute(
            "SELECT path, inode, offset, size, line, source_id FROM bookmarks WHERE source_id = ?",
            (source_id,),
        ).fetchone()
        return Bookmark(*row) if row else None

    def latest_bookmark(self, path: str) -> Bookmark | None:
        """The most recent bookmark written for a file at ``path``."""
        row = self._conn.execute(
            "SELECT path, inode, offset, size, line, source_id FROM bookmarks "
            "WHERE path = ? ORDER BY updated_at DESC, rowid DESC LIMIT 1",
            (path,),
        ).fetchone()
        return Bookmark(*row) if row else None

    # -- writing -------------------------------------------------------------------------

    def add_events(
        self,
        records: Sequence[EveRecord],
        sensor: str,
        *,
        bookmark: Bookmark | None = None,
        counters: Mapping[str, int] | None = None,
    ) -> int:
        """Store ``records`` (ignoring ids already stored), the bookmark and counters atomically.

        Returns the number of new events.
        """
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            fresh = self._unseen(records)
            self._insert(fresh, self._name_id("sensors", self._sensors, sensor))
            if bookmark is not None:
                self._write_bookmark(bookmark)
            for name, delta in (counters or {}).items():
                if delta:
                    conn.execute(
                        "INSERT INTO counters VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                        (name, delta),
                    )
            conn.execute("COMMIT")
        except BaseException as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._forget_uncommitted()
            if isinstance(err, sqlite3.Error):
                raise StoreError(write_error(self.path, err)) from err
            raise
        return len(fresh)

    def _forget_uncommitted(self) -> None:
        """Drop cached ids of names and signatures the rolled-back batch had inserted.

        Otherwise the retried batch would store event types under ids that no longer exist
        (or that a new name takes over) and never record its signatures.
        """
        self._known_sigs.clear()
        try:
            self._sensors = self._load_names("sensors")
            self._etypes = self._load_names("event_types")
        except StoreError:
            return  # the connection itself is gone; the caller reports the write error
        self._etype_names = {v: k for k, v in self._etypes.items()}

    def _unseen(self, records: Sequence[EveRecord]) -> list[EveRecord]:
        if not records:
            return []
        lo = min(r.id for r in records)
        hi = max(r.id for r in records)
        seen = {
            row[0]
            for row in self._conn.execute(
                "SELECT id FROM events WHERE id BETWEEN ? AND ?", (lo, hi)
            )
        }
        if not seen:
            return list(records)
        return [r for r in records if r.id not in seen]

    def _insert(self, records: Sequence[EveRecord], sensor_id: int) -> None:
        by_kind: dict[str, list[EveRecord]] = {}
        for record in records:
            by_kind.setdefault(record.kind, []).append(record)
        for kind, group in by_kind.items():
            blob = self._zc.compress(b"\n".join(r.raw for r in group))
            cur = self._conn.execute(
                "INSERT INTO chunks(kind, min_ts, max_ts, ingested_at, n, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, min(r.ts for r in group), max(r.ts for r in group), time.time_ns() // 1000,
                 len(group), blob),  # fmt: skip
            )
            chunk = cur.lastrowid or 0
            rows = list(self._rows(group, sensor_id, chunk))
            self._conn.executemany(_EVENT_SQL, rows)
            hosts = {row[4] for row in rows} | {row[5] for row in rows}
            hosts.discard(None)
            self._conn.executemany(
                "INSERT OR IGNORE INTO chunk_hosts VALUES (?, ?)", [(ip, chunk) for ip in hosts]
            )

    def _rows(self, group: list[EveRecord], sensor_id: int, chunk: int) -> Iterator[tuple]:
        etypes, name_id = self._etypes, self._name_id
        for pos, record in enumerate(group):
            head = record.head
            etype = etypes.get(head.event_type)
            if etype is None:
                etype = name_id("event_types", etypes, head.event_type)
            sid = None
            if head.alert is not None:
                sid = head.alert.signature_id
                self._note_signature(record)
            yield (
                record.id, record.ts, sensor_id, etype,
                pack_ip(head.src_ip), pack_ip(head.dest_ip), head.src_port, head.dest_port,
                proto_number(head.proto), head.flow_id, community_key(head.community_id),
                sid, record.severity, record.flow_bytes, chunk, pos,
            )  # fmt: skip

    def _note_signature(self, record: EveRecord) -> None:
        alert = record.head.alert
        assert alert is not None
        if alert.signature_id is None:
            return
        key = (alert.signature_id, alert.rev, alert.signature)
        if key in self._known_sigs:
            return
        self._known_sigs.add(key)
        self._conn.execute(
            "INSERT INTO signatures VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sid) DO UPDATE SET "
            "gid=excluded.gid, rev=excluded.rev, msg=excluded.msg, category=excluded.category, "
            "severity=excluded.severity",
            (alert.signature_id, alert.gid, alert.rev, alert.signature, alert.category,
             alert.severity),
        )  # fmt: skip

    def _write_bookmark(self, bm: Bookmark) -> None:
        self._conn.execute(
            "INSERT INTO bookmarks VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source_id) DO UPDATE "
            "SET path=excluded.path, inode=excluded.inode, offset=excluded.offset, "
            "size=excluded.size, line=excluded.line, updated_at=excluded.updated_at",
            (bm.source_id, bm.path, bm.inode, bm.offset, bm.size, bm.line, time.time_ns()),
        )

    def delete_sources(self, source_ids: Sequence[int]) -> int:
        """Remove every event of these sources (a failed analysis leaves nothing behind)."""
        removed = 0
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for sid in source_ids:
                lo, hi = event_id(sid, 0), event_id(sid + 1, 0) - 1
                chunks = [r[0] for r in self._conn.execute(
                    "SELECT DISTINCT chunk FROM events WHERE id BETWEEN ? AND ?", (lo, hi))]
                cur = self._conn.execute("DELETE FROM events WHERE id BETWEEN ? AND ?", (lo, hi))
                removed += cur.rowcount
                self._conn.executemany(
                    "DELETE FROM chunks WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM events WHERE chunk = chunks.id)", [(c,) for c in chunks])
                self._conn.executemany(
                    "DELETE FROM chunk_hosts WHERE chunk = ? AND NOT EXISTS "
                    "(SELECT 1 FROM chunks WHERE id = ?)", [(c, c) for c in chunks])
                self._conn.execute("DELETE FROM sources WHERE id = ?", (sid,))
                self._conn.execute("DELETE FROM captures WHERE source_id = ?", (sid,))
            self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise StoreError(f"Cannot delete from the store {self.path}: {err}") from err
        return removed  # fmt: skip

    # -- reading -------------------------------------------------------------------------

    def _where(self, q: EventQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
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
        if q.ip is not None:
            # Through the host zone map: only chunks that hold the address are read.
            clauses.append("chunk IN (SELECT chunk FROM chunk_hosts WHERE ip = ?) "
                           "AND (src_ip = ? OR dest_ip = ?)")  # fmt: skip
            args.extend([pack_ip(q.ip)] * 3)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def count_events(self, query: EventQuery) -> int:
        """How many stored events match ``query``."""
        where, args = self._where(query)
        return int(self._conn.execute(f"SELECT count(*) FROM events{where}", args).fetchone()[0])

    def events(self, query: EventQuery) -> Iterator[dict[str, Any]]:
        """The raw EVE records matching ``query``, in id order, each with ``_id``."""
        where, args = self._where(query)
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
        rows = self._conn.execute(f"SELECT id, chunk, pos FROM events{where} ORDER BY id{limit}",
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

    def alert_counts(self, source_ids: Sequence[int] | None = None) -> dict[int, int]:
        """Alerts per signature id."""
        where, args = self._where(EventQuery(event_type="alert", source_ids=source_ids))
        sql = f"SELECT sid, count(*) FROM events{where} GROUP BY sid"
        return {int(s): int(n) for s, n in self._conn.execute(sql, args) if s is not None}

    def type_counts(self, source_ids: Sequence[int] | None = None) -> dict[str, int]:
        """Events per event type."""
        where, args = self._where(EventQuery(source_ids=source_ids))
        sql = f"SELECT etype, count(*) FROM events{where} GROUP BY etype"
        rows = self._conn.execute(sql, args).fetchall()
        if any(t not in self._etype_names for t, _ in rows):
            self._reload_etypes()
        names = self._etype_names
        return {names.get(t, str(t)): int(n) for t, n in rows}

    def top_talkers(self, source_ids: Sequence[int] | None = None, n: int = 10) -> list[
            tuple[str, int]]:  # fmt: skip
        """Hosts by bytes in flow records, each end of a flow counted."""
        where, args = self._where(EventQuery(event_type="flow", source_ids=source_ids))
        sql = (f"SELECT ip, sum(b) FROM (SELECT src_ip AS ip, bytes AS b FROM events{where} "
               f"UNION ALL SELECT dest_ip, bytes FROM events{where}) WHERE ip IS NOT NULL "
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

    def apply_retention(
        self, cfg: RetentionConfig, evidence_dirs: Sequence[Path] = (), now_us: int | None = None
    ) -> RetentionReport:
        """Enforce the age and size budgets (see :mod:`appliance.store.retention`)."""
        try:
            return apply_retention(self._conn, cfg, evidence_dirs=evidence_dirs, now_us=now_us)
        except sqlite3.Error as err:
            raise StoreError(f"Retention failed on the store {self.path}: {err}") from err

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection, for appliance modules (retention, services)."""
        return self._conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
