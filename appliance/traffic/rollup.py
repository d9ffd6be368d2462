"""Traffic rollups at ingest: bytes, packets and flows per minute from flow and stats records.

:func:`rollup_batch` is called by the event store inside the transaction that writes a
batch, with only the records new to the store, so every record is counted exactly once.
A batch is first summed per minute and flow key in Python (:mod:`.aggregate`; one row per
minute and key, never one per flow); those rows go to a temporary table, and one
``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE`` per dimension adds them to the
rollups (SQLite's work, outside the GIL). A flow's bytes and packets are spread over the
minutes it spans; the flow itself counts in the minute it started. Minutes older than a
fold watermark (late flows, old captures) are added to the hours and days too, so every
resolution keeps exact totals.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from appliance.events import EveRecord, pack_ip
from appliance.traffic.aggregate import Compound, compound
from appliance.traffic.capture import add_stats
from appliance.traffic.fold import (
    fold_late,
    maintain,
    run_maintenance,
    watermarks,
    write_minutes,
)
from appliance.traffic.geo import GeoDatabase, shared_database
from appliance.traffic.settings import (
    RollupSettings,
    load_settings,
)
from appliance.traffic.sql import SEEN_UPSERT

logger = logging.getLogger(__name__)

#: How often (wall clock) the ingest transaction also folds and expires buckets.
MAINTAIN_SECONDS = 60.0
#: Late rows appended before they are folded sooner than that (an old capture being read:
#: a small late table keeps the views' reads of it cheap and the file from growing).
LATE_FOLD_ROWS = 50_000


class Rollup:
    """Rolls batches up into one store; holds the settings and caches of its process."""

    def __init__(self, conn: sqlite3.Connection, geo: GeoDatabase | None = None) -> None:
        self._geo = geo
        self._last_maintain = 0.0
        self._late = 0  # late rows appended since the last fold
        self._where: dict[str, tuple[bytes | None, bool]] = {}
        self._nets: list[tuple[int, int, int]] = []
        self.settings = RollupSettings()
        self.reload(conn, force=True)

    def reload(self, conn: sqlite3.Connection, *, force: bool = False) -> None:
        """Read the settings again (another process may have written them)."""
        settings = load_settings(conn)
        if force or settings != self.settings:
            self.settings = settings
            self._nets = []
            for net in settings.networks():
                size = 32 if isinstance(net, ipaddress.IPv4Network) else 128
                self._nets.append((size, int(net.network_address), int(net.netmask)))
            self._where.clear()

    def _locate(self, ip: str) -> tuple[bytes | None, bool]:
        """Packed address and whether it is inside HOME_NET (integer masks; cached)."""
        found = self._where.get(ip)
        if found is None:
            packed = pack_ip(ip) if ip else None
            inside = False
            if packed is not None:
                n, size = int.from_bytes(packed, "big"), len(packed) * 8
                inside = any(s == size and n & mask == net for s, net, mask in self._nets)
            found = (packed, inside)
            if len(self._where) > 200_000:
                self._where.clear()
            self._where[ip] = found
        return found

    def add(self, conn: sqlite3.Connection, records: Sequence[EveRecord], sensor_id: int,
            flows: Compound | Summed | None = None) -> None:  # fmt: skip
        """Roll up ``records`` (in the store's open transaction); ``flows``: their compound."""
        now = time.monotonic()
        due = now - self._last_maintain >= MAINTAIN_SECONDS
        if due:
            self.reload(conn)
        if not self.settings.enabled:
            return
        if flows is None:
            flows = compound(records)
        if flows:
            self._late += self._add_flows(conn, flows, sensor_id)
        stats = [r for r in records if r.head.event_type == "stats"]
        if stats:
            add_stats(conn, stats, sensor_id, self.settings)
        if due:
            self._last_maintain, self._late = now, 0
            maintain(conn, self.settings)
        elif self._late >= LATE_FOLD_ROWS:
            self._late = 0
            fold_late(conn, self.settings, watermarks(conn))

    def _add_flows(self, conn: sqlite3.Connection, flows: Compound | Summed, sensor_id: int,
                   *, contacts: bool = True) -> int:
        """Sum the compound rows per dimension (unless summed already), upsert each one;
        return the number of late rows appended."""
        summed = flows if isinstance(flows, Summed) else self.sum_flows(flows)
        dims = dict(summed.dims)
        dims["traffic_iface"] = {(minute, sensor_id, iface): sums
                                 for (minute, iface), sums in summed.iface.items()}  # fmt: skip
        late = write_minutes(conn, dims, self.settings)
        if summed.seen and contacts:
            conn.executemany(SEEN_UPSERT, [(*k, v) for k, v in summed.seen.items()])
        return late

    def sum_flows(self, flows: Compound) -> Summed:
        """The compound rows summed per dimension (pure Python: any thread may do it)."""
        geo = self._geo if self._geo is not None else (
            shared_database() if self.settings.geo else None)  # fmt: skip
        locate, where = self._locate, self._where
        lookup = geo.lookup if geo is not None else None
        served: dict[tuple[bytes, int, int], int] = {}
        remote: dict[tuple[bytes, str, str], int] = {}
        iface_d: Sums = {}
        app_d: Sums = {}
        service_d: Sums = {}
        conv_d: Sums = {}
        host_d: Sums = {}
        cc_d: Sums = {}
        asn_d: Sums = {}
        for (minute, iface, app, proto, port, src, dest), (bts, btc, pts, ptc, n) in flows.items():
            b, p = bts + btc, pts + ptc
            key: tuple[Any, ...] = (minute, iface)
            sums = iface_d.get(key)
            if sums is None:
                iface_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            key = (minute, app)
            sums = app_d.get(key)
            if sums is None:
                app_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            key = (minute, proto, port)
            sums = service_d.get(key)
            if sums is None:
                service_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            src_b, src_in = where.get(src) or locate(src)
            dest_b, dest_in = where.get(dest) or locate(dest)
            if src_b is None or dest_b is None:
                continue
            key = (minute, src_b, dest_b)
            sums = conv_d.get(key)
            if sums is None:
                conv_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            if src_in:
                key = (minute, src_b)
                sums = host_d.get(key)
                if sums is None:
                    host_d[key] = [bts, btc, pts, ptc, n, 0]
                else:
                    sums[0] += bts
                    sums[1] += btc
                    sums[2] += pts
                    sums[3] += ptc
                    sums[4] += n
            if dest_in:
                key = (minute, dest_b)
                sums = host_d.get(key)
                if sums is None:
                    host_d[key] = [btc, bts, ptc, pts, 0, n]
                else:
                    sums[0] += btc
                    sums[1] += bts
                    sums[2] += ptc
                    sums[3] += pts
                    sums[5] += n
                if btc > 0 and port >= 0:
                    skey = (dest_b, proto, port)
                    if minute < served.get(skey, minute + 1):
                        served[skey] = minute
            if src_in == dest_in or geo is None:
                continue
            assert lookup is not None
            inner, place = (src_b, lookup(dest)) if src_in else (dest_b, lookup(src))
            for table, key in ((cc_d, (minute, place.country)), (asn_d, (minute, place.asn))):
                sums = table.get(key)
                if sums is None:
                    table[key] = [b, p, n]
                else:
                    sums[0] += b
                    sums[1] += p
                    sums[2] += n
            rkey = (inner, place.country, place.asn)
            if minute < remote.get(rkey, minute + 1):
                remote[rkey] = minute
        seen = _first_contacts(host_d, served, remote)
        dims = {"traffic_app": app_d, "traffic_service": service_d, "traffic_conv": conv_d,
                "traffic_host": host_d, "traffic_country": cc_d, "traffic_asn": asn_d}
        return Summed(iface_d, dims, seen)


Sums = dict[tuple[Any, ...], list[int]]


@dataclass
class Summed:
    """A batch's flows summed per dimension; ``iface`` is keyed (minute, iface), the sensor
    id is added when written."""

    iface: Sums
    dims: dict[str, Sums]
    seen: dict[tuple[bytes, str, str], int]


def presum(store: Any, records: Sequence[EveRecord]) -> Summed | None:
    """The flows of ``records`` summed per dimension by ``store``'s rollup (outside the write
    transaction, in the reader's thread); None when the rollups are off or the rollup is
    not made yet (the writer then sums them itself, if they are on)."""
    rollup = _rollups.get(store)
    if rollup is None or not rollup.settings.enabled:
        return None
    flows = compound(records)
    return rollup.sum_flows(flows) if flows else None


def _first_contacts(hosts: Sums, served: dict[tuple[bytes, int, int], int],
                    remote: dict[tuple[bytes, str, str], int]
                    ) -> dict[tuple[bytes, str, str], int]:  # fmt: skip
    """{(host, kind, key): earliest minute} of the batch's hosts, served ports and places."""
    seen: dict[tuple[bytes, str, str], int] = {}
    for minute, ip in hosts:
        key = (ip, "host", "")
        if minute < seen.get(key, minute + 1):
            seen[key] = minute
    for (ip, proto, port), minute in served.items():
        seen[(ip, "port", f"{proto}/{port}")] = minute
    for (ip, country, asn), minute in remote.items():
        key = (ip, "cc", country)
        if minute < seen.get(key, minute + 1):
            seen[key] = minute
        if asn:
            key = (ip, "as", asn)
            if minute < seen.get(key, minute + 1):
                seen[key] = minute
    return seen


_rollups: weakref.WeakKeyDictionary[Any, Rollup] = weakref.WeakKeyDictionary()


def rollup_batch(store: Any, records: Sequence[EveRecord], sensor_id: int,
                 flows: Compound | Summed | None = None) -> None:  # fmt: skip
    """Roll up the new ``records`` of a batch, in the store's open write transaction.

    The store calls this from ``_insert``; ``flows`` is :func:`.aggregate.compound` of the
    records' flows when the caller built it beforehand (outside the transaction). A
    failure other than SQLite's own is logged and leaves the rollups short of this batch
    rather than losing its events.
    """
    if not records:
        return
    conn: sqlite3.Connection = store.connection
    try:
        rollup = _rollups.get(store)
        if rollup is None:
            rollup = _rollups[store] = Rollup(conn)
        rollup.add(conn, records, sensor_id, flows)
    except sqlite3.Error:
        raise
    except Exception:
        logger.exception("Traffic rollup failed for a batch of %d records.", len(records))


def finish_rollups(store: Any) -> None:
    """Fold the late rows the store's last batches left (when a writer closes the store), so
    they do not wait for the next writer. A failure leaves them to that writer; the
    queries read late rows meanwhile, so no total is wrong."""
    rollup = _rollups.pop(store, None)
    if rollup is None or not rollup.settings.enabled:
        return
    try:
        run_maintenance(store.connection, rollup.settings)
    except sqlite3.Error as err:
        logger.warning("Traffic rollups: the late rows stay for the next writer: %s", err)


def unroll_sources(store: Any, source_ids: Sequence[int]) -> None:
    """Take the flows of these sources back out of the rollups.

    For the store's ``delete_sources`` (a failed analysis leaves nothing behind), inside its
    transaction and before the events go: their flows are rolled up again with negated
    sums, so a later analysis of the same capture is not counted twice. First contacts
    stay (they only say a pair was seen).
    """
    from appliance.events import decode_line
    from appliance.store import EventQuery

    conn: sqlite3.Connection = store.connection
    rollup = _rollups.get(store)
    if rollup is None:
        rollup = _rollups[store] = Rollup(conn)
    if not rollup.settings.enabled:
        return
    for sid in source_ids:
        lo, hi = sid << 40, ((sid + 1) << 40) - 1
        sensors = dict(conn.execute(
            "SELECT e.id, e.sensor FROM events e JOIN event_types t ON t.id = e.etype "
            "WHERE e.id BETWEEN ? AND ? AND t.name = 'flow'", (lo, hi)).fetchall())  # fmt: skip
        if not sensors:
            continue
        by_sensor: dict[int, list[EveRecord]] = {}
        for record in store.events(EventQuery(event_type="flow", source_ids=[sid])):
            eid = int(record.pop("_id"))
            line = orjson.dumps(record)
            by_sensor.setdefault(int(sensors.get(eid, 0)), []).append(decode_line(line, eid))
        for sensor_id, records in by_sensor.items():
            flows = compound(records)
            for sums in flows.values():
                for i, value in enumerate(sums):
                    sums[i] = -value
            rollup._add_flows(conn, flows, sensor_id, contacts=False)
