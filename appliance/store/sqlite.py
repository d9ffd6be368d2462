"""SQLite (WAL) implementation of the event store."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zstandard

from appliance.config import RetentionConfig
from appliance.errors import StoreError
from appliance.events import (
    IP_CACHE,
    EveRecord,
    community_key,
    pack_ip,
    proto_number,
)
from appliance.store import OFFSET_BITS, Bookmark, event_id
from appliance.store.captures import CaptureRecords
from appliance.store.connection import connect, opening_lock, write_error
from appliance.store.migrate import migrate
from appliance.store.reading import EventReading
from appliance.store.retention import RetentionReport, apply_retention

logger = logging.getLogger(__name__)

_COMPRESS_LEVEL = 3
_EVENT_COLUMNS = 16
#: Rows per INSERT statement: one ``sqlite3_step`` stores them all, so SQLite's work runs
#: without the GIL (beside the reader's decoding) and Python binds parameters only.
#: 16 columns x 2,000 rows stays under SQLite's 32,766 parameters.
_ROWS_PER_STATEMENT = 2000
_HOSTS_PER_STATEMENT = 8000
_PROTO_CACHE: dict[str, int] = {
    "TCP": 6, "UDP": 17, "ICMP": 1, "IPV6-ICMP": 58, "IPv6-ICMP": 58, "SCTP": 132, "GRE": 47,
}  # fmt: skip


def _values_sql(rows: int) -> str:
    one = "(" + ",".join("?" * _EVENT_COLUMNS) + ")"
    return "INSERT OR IGNORE INTO events VALUES " + ",".join([one] * rows)


_FULL_INSERT = _values_sql(_ROWS_PER_STATEMENT)


def _insert_hosts(conn: sqlite3.Connection, hosts: list[bytes], chunk: int) -> None:
    """Add ``hosts`` to the zone map of ``chunk`` (sorted: neighbouring B-tree pages)."""
    for start in range(0, len(hosts), _HOSTS_PER_STATEMENT):
        part = hosts[start:start + _HOSTS_PER_STATEMENT]
        sql = "INSERT OR IGNORE INTO chunk_hosts VALUES " + ",".join(["(?,?)"] * len(part))
        conn.execute(sql, [v for ip in part for v in (ip, chunk)])


def _insert_rows(conn: sqlite3.Connection, values: list[Any]) -> None:
    """Insert flat column values (``_EVENT_COLUMNS`` per event) in as few statements as can be."""
    step = _ROWS_PER_STATEMENT * _EVENT_COLUMNS
    for start in range(0, len(values), step):
        part = values[start:start + step]
        rows = len(part) // _EVENT_COLUMNS
        conn.execute(_FULL_INSERT if rows == _ROWS_PER_STATEMENT else _values_sql(rows), part)


class SqliteEventStore(EventReading, CaptureRecords):
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
        # One chunk per kind and source, so a chunk's rows form a tight id range.
        groups: dict[tuple[str, int], list[EveRecord]] = {}
        for record in records:
            groups.setdefault((record.kind, record.id >> OFFSET_BITS), []).append(record)
        for (kind, _source), group in groups.items():
            blob = self._zc.compress(b"\n".join(r.raw for r in group))
            cur = self._conn.execute(
                "INSERT INTO chunks(kind, min_ts, max_ts, ingested_at, n, data, min_id, max_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, min(r.ts for r in group), max(r.ts for r in group), time.time_ns() // 1000,
                 len(group), blob, min(r.id for r in group), max(r.id for r in group)),
            )  # fmt: skip
            chunk = cur.lastrowid or 0
            values, hosts = self._rows(group, sensor_id, chunk)
            _insert_rows(self._conn, values)
            hosts.discard(None)
            _insert_hosts(self._conn, sorted(hosts), chunk)  # type: ignore[arg-type]

    def _rows(
        self, group: list[EveRecord], sensor_id: int, chunk: int
    ) -> tuple[list[Any], set[bytes | None]]:
        """The column values of ``group``, flat (16 per event), and the addresses seen.

        The hot loop of ingest: lookups are cached in locals, and a Community ID is keyed
        only on alerts and findings (the only rows its index covers).
        """
        etypes, name_id, ips = self._etypes, self._name_id, IP_CACHE
        protos = _PROTO_CACHE
        values: list[Any] = []
        add = values.extend
        hosts: set[bytes | None] = set()
        note = hosts.add
        for pos, record in enumerate(group):
            head = record.head
            etype = etypes.get(head.event_type)
            if etype is None:
                etype = name_id("event_types", etypes, head.event_type)
            src, dest = head.src_ip, head.dest_ip
            src_b = ips.get(src) if src is not None else None
            if src_b is None and src is not None:
                src_b = pack_ip(src)
            dest_b = ips.get(dest) if dest is not None else None
            if dest_b is None and dest is not None:
                dest_b = pack_ip(dest)
            proto = head.proto
            if proto is not None and not isinstance(proto, int):
                proto = protos.get(proto) or proto_number(proto)
            sid = severity = cid = size = None
            alert = head.alert
            if alert is not None:
                sid, severity = alert.signature_id, alert.severity
                self._note_signature(record)
            elif head.finding is not None:
                severity = head.finding.severity
            elif head.flow is not None and head.event_type == "flow":
                size = head.flow.bytes_toserver + head.flow.bytes_toclient
            if severity is not None:
                cid = community_key(head.community_id)
            add((record.id, record.ts, sensor_id, etype, src_b, dest_b, head.src_port,
                 head.dest_port, proto, head.flow_id, cid, sid, severity, size, chunk, pos))
            note(src_b)
            note(dest_b)
        return values, hosts

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
                    "DELETE FROM chunks WHERE id = ? AND NOT EXISTS (SELECT 1 FROM events "
                    "WHERE id BETWEEN chunks.min_id AND chunks.max_id AND chunk = chunks.id)",
                    [(c,) for c in chunks])
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
