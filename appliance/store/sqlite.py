"""SQLite (WAL) implementation of the event store."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import zstandard

from appliance.config import RetentionConfig
from appliance.errors import StoreError
from appliance.events import (
    EveRecord,
)
from appliance.store import Bookmark, event_id
from appliance.store.captures import CaptureRecords
from appliance.store.connection import connect, disk_hint, opening_lock, write_error
from appliance.store.migrate import migrate
from appliance.store.reading import EventReading
from appliance.store.retention import RetentionReport, apply_retention
from appliance.store.rows import (
    ETYPE_SLOT,
    FLAGS,
    PLAIN_WIDTH,
    ROW,
    WIDTH,
    PreparedBatch,
    compress,
    prepare,
)
from appliance.store.turns import begin_immediate, give_turn
from appliance.traffic.follow import unroll_sources

logger = logging.getLogger(__name__)

#: Rows per INSERT statement, at most: one ``sqlite3_step`` stores them all, so SQLite's
#: work runs without the GIL (beside the reader's decoding) and Python binds parameters
#: only. A chunk's rows go in statements of 2048, 1024, ... 1 rows, so a handful of
#: statements, each prepared once per connection, serve every chunk size (a statement of
#: a thousand rows prepared for each chunk's last rows took a sixth of the writer's time).
_MAX_ROWS = 2048
_HOSTS_MAX_ROWS = 4096
_SQL: dict[tuple[str, int], str] = {}


def _rows_sql(rows: int, plain: bool) -> str:
    """INSERT of ``rows`` events: ``?1`` is the sensor, ``?2`` the chunk (bound once),
    then ROW values per row, or PLAIN_ROW values (``plain``: NULL for the rest).

    The other parameters are plain ``?``: SQLite compiles a statement of numbered ones
    (``?NNN``) in quadratic time (0.2 s for a thousand rows).
    """
    key = ("plain" if plain else "events", rows)
    sql = _SQL.get(key)
    if sql is None:
        left = FLAGS if plain else ()
        row = "(?1,?2," + ",".join("NULL" if c in left else "?" for c in ROW) + ")"
        columns = ",".join(("sensor", "chunk", *ROW))
        sql = _SQL[key] = f"INSERT OR IGNORE INTO events({columns}) VALUES {','.join([row] * rows)}"
    return sql


def _hosts_sql(rows: int) -> str:
    """INSERT of ``rows`` zone-map entries: ``?1`` is the chunk, then one address per row."""
    sql = _SQL.get(("hosts", rows))
    if sql is None:
        groups = ",".join(["(?1,?)"] * rows)
        sql = f"INSERT OR IGNORE INTO chunk_hosts(chunk, ip) VALUES {groups}"
        _SQL[("hosts", rows)] = sql
    return sql


def _insert_hosts(conn: sqlite3.Connection, hosts: list[bytearray], chunk: int) -> None:
    """Add ``hosts`` to the zone map of ``chunk`` (sorted: neighbouring B-tree pages)."""
    for start, rows in _statements(len(hosts), _HOSTS_MAX_ROWS):
        conn.execute(_hosts_sql(rows), [chunk, *hosts[start:start + rows]])


def _statements(total: int, most: int) -> list[tuple[int, int]]:
    """(first row, rows) of each statement for ``total`` rows: ``most`` rows at a time,
    then the binary digits of what is left."""
    out = []
    start, size = 0, most
    while total:
        while size > total:
            size //= 2
        out.append((start, size))
        start += size
        total -= size
    return out


class SqliteEventStore(EventReading, CaptureRecords):
    """The embedded store: events, bookmarks and counters in one SQLite file."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise StoreError(f"No store at {self.path}; run `spanwatch analyze` or a sensor first.")
        if readonly:
            # A store a sensor is creating this moment has its tables once the lock is free.
            with opening_lock(self.path, shared=True):
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

    def sources_named(self, part: str) -> list[int]:
        """The sources whose path contains ``part`` (an analysis's run folder)."""
        rows = self._conn.execute("SELECT id FROM sources WHERE instr(path, ?) > 0", (part,))
        return [int(r[0]) for r in rows]

    def source_id(self, fingerprint: bytes, path: str) -> int:
        """The id of the source with this fingerprint, registering it if new."""
        row = self._conn.execute(
            "SELECT id FROM sources WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        if row:
            return int(row[0])
        try:
            cur = self._conn.execute(
                "INSERT INTO sources(fingerprint, path, first_seen) VALUES (?, ?, ?)",
                (fingerprint, path, int(time.time())),
            )
        except sqlite3.Error as err:  # (a full disk)
            raise StoreError(f"Cannot register {path} in the store {self.path}: {err}"
                             f"{disk_hint(self.path, err)}") from err
        assert cur.lastrowid is not None
        return cur.lastrowid

    def bookmark(self, source_id: int) -> Bookmark | None:
        """The bookmark of ``source_id``, if any."""
        row = self._conn.execute(
            "SELECT path, inode, offset, size, line, source_id, tail FROM bookmarks "
            "WHERE source_id = ?",
            (source_id,),
        ).fetchone()
        return Bookmark(*row) if row else None

    def latest_bookmark(self, path: str) -> Bookmark | None:
        """The most recent bookmark written for a file at ``path``."""
        row = self._conn.execute(
            "SELECT path, inode, offset, size, line, source_id, tail FROM bookmarks "
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
        prepared: PreparedBatch | None = None,
    ) -> int:
        """Store ``records`` (ignoring ids already stored), the bookmark and counters atomically.

        ``prepared`` is :meth:`prepare` of the same records, built beforehand (in another
        thread). Returns the number of new events.
        """
        conn = self._conn
        try:
            begin_immediate(conn, self.path)
            if prepared is not None and prepared.records is not records:
                prepared = None
            fresh = self._unseen(records, prepared)
            if prepared is None or len(fresh) != len(records):
                prepared = prepare(fresh)
            self._insert(prepared, self._name_id("sensors", self._sensors, sensor))
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
        # Batches follow one another at once: a writer of another process that waits
        # (the traffic rollups, retention) gets its turn now, not seconds later.
        give_turn(self.path)
        return len(fresh)

    def prepare(self, records: Sequence[EveRecord]) -> PreparedBatch:
        """The rows of ``records``, built outside the write transaction (in the reader's
        thread; nothing here touches the connection)."""
        return prepare(records)

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

    def _unseen(self, records: Sequence[EveRecord], prepared: PreparedBatch | None
                ) -> list[EveRecord]:  # fmt: skip
        if not records:
            return []
        if prepared is not None and prepared.chunks:  # their id ranges are known already
            lo = min(c.min_id for c in prepared.chunks)
            hi = max(c.max_id for c in prepared.chunks)
        else:
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

    def _insert(self, batch: PreparedBatch, sensor_id: int) -> None:
        etypes, name_id = self._etypes, self._name_id
        for rows in batch.chunks:
            # Numbered after the highest id ever given (see migration 0005): the cursors of
            # the readers that follow the store never point past a new chunk.
            cur = self._conn.execute(
                "INSERT INTO chunks(id, kind, min_ts, max_ts, ingested_at, n, data, min_id, "
                "max_id) VALUES ((SELECT chunk + 1 FROM cursors WHERE name = 'chunks'), "
                "?, ?, ?, ?, ?, ?, ?, ?)",
                (rows.kind, rows.min_ts, rows.max_ts, time.time_ns() // 1000, len(rows.records),
                 compress(rows.raw), rows.min_id, rows.max_id),
            )  # fmt: skip
            chunk = cur.lastrowid or 0
            self._conn.execute("UPDATE cursors SET chunk = ? WHERE name = 'chunks'", (chunk,))
            for record in rows.alerts:
                self._note_signature(record)
            width = PLAIN_WIDTH if rows.plain else WIDTH
            for start, count in _statements(len(rows.records), _MAX_ROWS):
                params = [sensor_id, chunk, *rows.values[start * width:(start + count) * width]]
                # Names to ids in the parameters only: a batch retried after a failed
                # transaction starts from the names again.
                params[2 + ETYPE_SLOT::width] = [
                    etypes.get(name) or name_id("event_types", etypes, name)
                    for name in params[2 + ETYPE_SLOT::width]
                ]
                self._conn.execute(_rows_sql(count, rows.plain), params)
            _insert_hosts(self._conn, rows.hosts, chunk)

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
            "INSERT INTO bookmarks VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source_id) DO "
            "UPDATE SET path=excluded.path, inode=excluded.inode, offset=excluded.offset, "
            "size=excluded.size, line=excluded.line, updated_at=excluded.updated_at, "
            "tail=excluded.tail",
            (bm.source_id, bm.path, bm.inode, bm.offset, bm.size, bm.line, time.time_ns(),
             bm.tail),
        )

    def delete_sources(self, source_ids: Sequence[int]) -> int:
        """Remove every event of these sources (a failed analysis leaves nothing behind)."""
        removed = 0
        try:
            begin_immediate(self._conn, self.path)
            unroll_sources(self, source_ids)  # their flows leave the traffic rollups too
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
            raise StoreError(f"Cannot delete from the store {self.path}: {err}"
                             f"{disk_hint(self.path, err)}") from err
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
