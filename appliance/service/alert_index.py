"""The alert index: every alert, finding and anomaly of the event store, ready to triage.

The event store holds all records (millions a day); alerts, findings and anomalies are a
few percent of them. :class:`AlertIndex` copies each one, once, into the state database
with the columns the alert pages filter, sort and group on (sensor, addresses, group key,
label, category, severity) and the analyst's triage status, and counts them per hour in
rollups that the dashboard reads instead of aggregating events. It follows the store's
chunk ids (insertion order), so a sync reads only what was stored since the last one,
and its cursor moves in the same transaction as the rows it wrote: a crash or two
processes syncing at once never count an alert twice.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from appliance.events import EveDecodeError, parse_timestamp
from appliance.state import StateDB
from appliance.store import EventStore

logger = logging.getLogger(__name__)

CURSOR_KEY = "alerts.chunk_cursor"
HOUR_US = 3_600_000_000
#: Chunks read per transaction: small enough that a first sync of a big store shows
#: progress and never holds the state database's write lock for long.
BATCH_CHUNKS = 200
#: The first triage status of a newly indexed alert.
StatusOf = Callable[["IndexedAlert"], str]
#: Rollup dimensions.
DIMENSIONS = ("type", "sig", "host", "category", "sensor")


@dataclass(frozen=True, slots=True)
class IndexedAlert:
    """One alert, finding or anomaly as the index holds it."""

    event_id: int
    ts: int
    sensor: str
    etype: str
    src_ip: str | None
    dest_ip: str | None
    src_port: int | None
    dest_port: int | None
    proto: str | None
    app_proto: str | None
    flow_id: int | None
    gkey: str
    label: str
    category: str | None
    severity: int

    def row(self) -> tuple[Any, ...]:
        return (self.event_id, self.ts, self.sensor, self.etype, self.src_ip, self.dest_ip,
                self.src_port, self.dest_port, self.proto, self.app_proto, self.flow_id,
                self.gkey, self.label, self.category, self.severity)  # fmt: skip


def describe(record: dict[str, Any]) -> tuple[str, str, str | None]:
    """(group key, label, category) of an alert, finding or anomaly record."""
    etype = str(record.get("event_type") or "")
    if etype == "alert":
        alert = record.get("alert") or {}
        sid = alert.get("signature_id")
        label = str(alert.get("signature") or f"sid {sid}")
        return f"sid:{sid}", label, _text(alert.get("category"))
    if etype == "finding":
        finding = record.get("finding") or {}
        kind = str(finding.get("type") or "unknown")
        return f"finding:{kind}", kind, _text(finding.get("category"))
    anomaly = record.get("anomaly") or {}
    name = str(anomaly.get("event") or anomaly.get("type") or etype or "anomaly")
    return f"{etype or 'anomaly'}:{name}", name, _text(anomaly.get("layer")) or "anomaly"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def index_row(event_id: int, ts: int, sensor: str, severity: int,
              record: dict[str, Any]) -> IndexedAlert:  # fmt: skip
    """The index row of one stored record."""
    gkey, label, category = describe(record)
    return IndexedAlert(
        event_id=event_id, ts=ts, sensor=sensor, etype=str(record.get("event_type") or "alert"),
        src_ip=_text(record.get("src_ip")), dest_ip=_text(record.get("dest_ip")),
        src_port=_int(record.get("src_port")), dest_port=_int(record.get("dest_port")),
        proto=_text(record.get("proto")), app_proto=_text(record.get("app_proto")),
        flow_id=_int(record.get("flow_id")), gkey=gkey, label=label, category=category,
        severity=severity,
    )  # fmt: skip


class AlertIndex:
    """Keeps the state database's alert index and rollups up to date with the store."""

    def __init__(self, store: EventStore, state: StateDB) -> None:
        self.store = store
        self.state = state

    def cursor(self) -> int:
        """The last store chunk whose alerts are indexed."""
        rows = self.state.query("SELECT value FROM kv WHERE key = ?", (CURSOR_KEY,))
        return int(rows[0][0]) if rows else 0

    def sync(self, *, max_batches: int | None = None,
             triage: Callable[[], StatusOf] | None = None) -> int:  # fmt: skip
        """Index the alerts stored since the last sync; return how many were added.

        ``triage`` makes, when there is something new, the function that gives each new
        alert its first status (e.g. "suppressed" for one an analyst suppressed).
        """
        added = 0
        status_of: StatusOf | None = None
        batches = 0
        cursor = self.cursor()
        while max_batches is None or batches < max_batches:
            upto, records = self.store.events_after_chunk(cursor, kind="alerts",
                                                          max_chunks=BATCH_CHUNKS)  # fmt: skip
            if upto == cursor:
                break
            rows = list(_rows(records))
            if rows and status_of is None and triage is not None:
                status_of = triage()
            added += self._sync_range(cursor, upto, rows, status_of)
            cursor = upto
            batches += 1
        return added

    def _sync_range(self, after: int, upto: int, rows: list[IndexedAlert],
                    status_of: StatusOf | None = None) -> int:  # fmt: skip
        with self.state.transaction() as conn:
            current = conn.execute("SELECT value FROM kv WHERE key = ?", (CURSOR_KEY,)).fetchone()
            if (int(current[0]) if current else 0) != after:
                return 0  # another process indexed this range meanwhile
            fresh = _insert(conn, rows, status_of)
            _add_rollups(conn, fresh)
            conn.execute(
                "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (CURSOR_KEY, str(upto), time.time_ns() // 1000),
            )
        return len(fresh)


def _severity(record: dict[str, Any]) -> int | None:
    for key in ("alert", "finding"):
        part = record.get(key)
        if isinstance(part, dict) and isinstance(part.get("severity"), int):
            return int(part["severity"])
    return None


def _rows(records: Iterable[dict[str, Any]]) -> Iterator[IndexedAlert]:
    """Index rows of the records that are alerts or findings (they carry a severity)."""
    for record in records:
        severity = _severity(record)
        if severity is None:
            continue
        try:
            ts = parse_timestamp(str(record.get("timestamp")))
        except EveDecodeError:
            logger.warning("Stored record %s has a bad timestamp; not indexed.", record["_id"])
            continue
        yield index_row(int(record["_id"]), ts, str(record.get("_sensor") or "?"), severity,
                        record)  # fmt: skip


def _insert(conn: sqlite3.Connection, rows: list[IndexedAlert],
            status_of: StatusOf | None = None) -> list[IndexedAlert]:  # fmt: skip
    """Insert rows not yet indexed; return those that were new."""
    fresh = []
    for item in rows:
        cur = conn.execute(
            "INSERT OR IGNORE INTO alert_index(event_id, ts, sensor, etype, src_ip, dest_ip, "
            "src_port, dest_port, proto, app_proto, flow_id, gkey, label, category, severity, "
            "status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*item.row(), status_of(item) if status_of is not None else "new"),
        )
        if cur.rowcount:
            fresh.append(item)
    keys = {item.gkey: item for item in fresh}
    conn.executemany(
        "INSERT INTO alert_keys VALUES (?, ?, ?, ?, ?) ON CONFLICT(gkey) DO UPDATE SET "
        "label = excluded.label, category = excluded.category, severity = excluded.severity",
        [(k, i.etype, i.label, i.category, i.severity) for k, i in keys.items()],
    )
    return fresh


def rollup_counts(rows: Iterable[IndexedAlert]) -> Counter[tuple[int, str, str, int]]:
    """(hour, dimension, key, severity) → count for a set of index rows."""
    counts: Counter[tuple[int, str, str, int]] = Counter()
    for item in rows:
        hour = item.ts - item.ts % HOUR_US
        sev = item.severity
        counts[(hour, "type", item.etype, sev)] += 1
        counts[(hour, "sig", item.gkey, sev)] += 1
        counts[(hour, "sensor", item.sensor, sev)] += 1
        if item.category:
            counts[(hour, "category", item.category, sev)] += 1
        for ip in {item.src_ip, item.dest_ip} - {None}:
            counts[(hour, "host", str(ip), 0)] += 1
    return counts


def _add_rollups(conn: sqlite3.Connection, rows: list[IndexedAlert]) -> None:
    conn.executemany(
        "INSERT INTO alert_rollup(dim, hour, key, severity, n) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(dim, hour, key, severity) DO UPDATE SET n = n + excluded.n",
        [(dim, hour, key, sev, n) for (hour, dim, key, sev), n in rollup_counts(rows).items()],
    )
