"""Traffic rollups at ingest: bytes, packets and flows per minute from flow and stats records.

:func:`rollup_batch` is called by the event store inside the transaction that writes a
batch, with only the records new to the store, so every record is counted exactly once.
A batch is aggregated in dictionaries first (one row per minute and key, never one per
flow) and written as upserts. A flow's bytes and packets are spread over the minutes it
spans, in proportion to the time in each, with integer shares that add up exactly; the
flow itself counts in the minute it started. Minutes older than a fold watermark (late
flows, old captures) are added to the hours and days too, so folding stays exact.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import time
import weakref
from collections.abc import Sequence
from typing import Any

import msgspec

from appliance.events import EveRecord, pack_ip, parse_timestamp, proto_number
from appliance.traffic.fold import maintain
from appliance.traffic.geo import GeoDatabase, shared_database
from appliance.traffic.settings import (
    DAY,
    MINUTE,
    RES_DAY,
    RES_HOUR,
    RES_MINUTE,
    RollupSettings,
    load_settings,
)
from appliance.traffic.sql import SUM_TABLES, upsert_capture, upsert_sums

logger = logging.getLogger(__name__)

#: A flow longer than this is spread over its last week only (the sums stay exact).
_MAX_SPAN = 7 * DAY
#: How often (wall clock) the ingest transaction also folds and expires buckets.
MAINTAIN_SECONDS = 60.0


class _FlowDetail(msgspec.Struct):
    pkts_toserver: int = 0
    pkts_toclient: int = 0
    bytes_toserver: int = 0
    bytes_toclient: int = 0
    start: str | None = None
    end: str | None = None


class _FlowExtra(msgspec.Struct):
    app_proto: str | None = None
    in_iface: str | None = None
    flow: _FlowDetail | None = None


class _Capture(msgspec.Struct):
    kernel_packets: int = 0
    kernel_drops: int = 0


class _Stats(msgspec.Struct):
    uptime: int = 0
    capture: _Capture | None = None


class _StatsExtra(msgspec.Struct):
    in_iface: str | None = None
    stats: _Stats | None = None


_flow_decoder = msgspec.json.Decoder(_FlowExtra)
_stats_decoder = msgspec.json.Decoder(_StatsExtra)


def spread(start: int, end: int, values: Sequence[int]) -> list[tuple[int, list[int]]]:
    """``values`` shared over the minutes from ``start`` to ``end`` (µs), exactly.

    Each minute gets the share of the time the flow spent in it; shares are differences of
    rounded-down cumulative amounts, so they are integers that add up to ``values``.
    """
    if end - start > _MAX_SPAN:
        start = end - _MAX_SPAN
    first = start - start % MINUTE
    last = end - end % MINUTE
    if last <= first:
        return [(last if end < start else first, list(values))]
    total = end - start
    out = []
    given = [0] * len(values)
    minute = first
    while minute <= last:
        elapsed = min(end, minute + MINUTE) - start
        shares = []
        for i, v in enumerate(values):
            upto = v * elapsed // total
            shares.append(upto - given[i])
            given[i] = upto
        out.append((minute, shares))
        minute += MINUTE
    return out


class Rollup:
    """Aggregates batches for one store; holds the settings and caches of its process."""

    def __init__(self, conn: sqlite3.Connection, geo: GeoDatabase | None = None) -> None:
        self._geo = geo
        self._last_maintain = 0.0
        self._inside: dict[str, tuple[bytes | None, bool]] = {}
        self.settings = RollupSettings()
        self._networks: list[Any] = []
        self.reload(conn)

    def reload(self, conn: sqlite3.Connection) -> None:
        """Read the settings again (another process may have written them)."""
        settings = load_settings(conn)
        if settings != self.settings or not self._networks:
            self.settings = settings
            self._networks = settings.networks()
            self._inside.clear()

    def _where(self, ip: str) -> tuple[bytes | None, bool]:
        """Packed address and whether it is inside HOME_NET (cached)."""
        found = self._inside.get(ip)
        if found is None:
            try:
                address = ipaddress.ip_address(ip)
                inside = any(address in net for net in self._networks)
            except ValueError:
                inside = False
            found = (pack_ip(ip), inside)
            if len(self._inside) > 200_000:
                self._inside.clear()
            self._inside[ip] = found
        return found

    def add(self, conn: sqlite3.Connection, records: Sequence[EveRecord], sensor_id: int) -> None:
        """Roll up ``records`` (already in the store's open transaction)."""
        now = time.monotonic()
        if now - self._last_maintain >= MAINTAIN_SECONDS:
            self.reload(conn)
        if not self.settings.enabled:
            return
        flows = [r for r in records if r.head.event_type == "flow"]
        if flows:
            self._add_flows(conn, flows, sensor_id)
        stats = [r for r in records if r.head.event_type == "stats"]
        if stats:
            self._add_stats(conn, stats, sensor_id)
        if now - self._last_maintain >= MAINTAIN_SECONDS:
            self._last_maintain = now
            maintain(conn, self.settings)

    # -- flows -------------------------------------------------------------------------

    def _compound(self, flows: Sequence[EveRecord]) -> dict[tuple[Any, ...], list[int]]:
        """Per (minute, iface, app, proto, port, src, dest): bytes and packets each way, flows.

        The hot loop: one decode and one dictionary update per flow and minute.
        """
        out: dict[tuple[Any, ...], list[int]] = {}
        decode = _flow_decoder.decode
        for record in flows:
            head = record.head
            try:
                extra = decode(record.raw)
            except msgspec.MsgspecError:
                continue  # an odd flow record still counts in the store, just not here
            detail = extra.flow
            if detail is None:
                continue
            proto = head.proto
            if proto is not None and not isinstance(proto, int):
                proto = proto_number(proto)
            port = head.dest_port if head.dest_port is not None else -1
            start = parse_timestamp(detail.start) if detail.start else record.ts
            end = parse_timestamp(detail.end) if detail.end else start
            values = (detail.bytes_toserver, detail.bytes_toclient,
                      detail.pkts_toserver, detail.pkts_toclient)  # fmt: skip
            base = (extra.in_iface or "", extra.app_proto or "unknown", proto or 0, port,
                    head.src_ip or "", head.dest_ip or "")  # fmt: skip
            if end - start < MINUTE and start // MINUTE == end // MINUTE:
                parts = [(start - start % MINUTE, list(values))]
            else:
                parts = spread(start, end, values)
            for n, (minute, shares) in enumerate(parts):
                key = (minute, *base)
                sums = out.get(key)
                if sums is None:
                    sums = out[key] = [0, 0, 0, 0, 0]
                sums[0] += shares[0]
                sums[1] += shares[1]
                sums[2] += shares[2]
                sums[3] += shares[3]
                if n == 0:
                    sums[4] += 1
        return out

    def _add_flows(self, conn: sqlite3.Connection, flows: Sequence[EveRecord], sensor_id: int
                   ) -> None:  # fmt: skip
        dims: dict[str, dict[tuple[Any, ...], list[int]]] = {name: {} for name in SUM_TABLES}
        seen: dict[tuple[bytes, str, str], int] = {}
        geo = self._geo if self._geo is not None else (
            shared_database() if self.settings.geo else None)  # fmt: skip
        where = self._where
        for (minute, iface, app, proto, port, src, dest), s in self._compound(flows).items():
            bts, btc, pts, ptc, nflows = s
            b, p = bts + btc, pts + ptc
            _add(dims["traffic_iface"], (minute, sensor_id, iface), b, p, nflows)
            _add(dims["traffic_app"], (minute, app), b, p, nflows)
            _add(dims["traffic_service"], (minute, proto, port), b, p, nflows)
            src_b, src_in = where(src)
            dest_b, dest_in = where(dest)
            if src_b is None or dest_b is None:
                continue
            _add(dims["traffic_conv"], (minute, src_b, dest_b), b, p, nflows)
            hosts = dims["traffic_host"]
            if src_in:
                _add_host(hosts, (minute, src_b), bts, btc, pts, ptc, nflows, 0)
                _first(seen, (src_b, "host", ""), minute)
            if dest_in:
                _add_host(hosts, (minute, dest_b), btc, bts, ptc, pts, 0, nflows)
                _first(seen, (dest_b, "host", ""), minute)
                if btc > 0 and port >= 0:
                    _first(seen, (dest_b, "port", f"{proto}/{port}"), minute)
            if src_in == dest_in or geo is None:
                continue
            inner, remote = (src_b, dest) if src_in else (dest_b, src)
            place = geo.lookup(remote)
            _add(dims["traffic_country"], (minute, place.country), b, p, nflows)
            _add(dims["traffic_asn"], (minute, place.asn), b, p, nflows)
            _first(seen, (inner, "cc", place.country), minute)
            if place.asn:
                _first(seen, (inner, "as", place.asn), minute)
        self._write(conn, dims)
        if seen:
            conn.executemany(
                "INSERT OR IGNORE INTO traffic_seen(host, kind, key, first_seen) "
                "VALUES (?, ?, ?, ?)",
                [(*k, v) for k, v in seen.items()],
            )

    def _write(self, conn: sqlite3.Connection, dims: dict[str, dict[tuple[Any, ...], list[int]]]
               ) -> None:  # fmt: skip
        """Upsert the minute rows, and the hour and day rows of minutes already folded."""
        marks = dict(conn.execute("SELECT res, upto FROM traffic_fold").fetchall())
        hour_mark, day_mark = marks.get(RES_HOUR, 0), marks.get(RES_DAY, 0)
        for table, rows in dims.items():
            if not rows:
                continue
            upsert_sums(conn, table, RES_MINUTE, rows)
            late = [(k, v) for k, v in rows.items() if k[0] < hour_mark]
            if late:
                upsert_sums(conn, table, RES_HOUR, _coarser(late, self.settings, RES_HOUR))
                older = [(k, v) for k, v in late if k[0] < day_mark]
                if older:
                    upsert_sums(conn, table, RES_DAY, _coarser(older, self.settings, RES_DAY))

    # -- stats -------------------------------------------------------------------------

    def _add_stats(self, conn: sqlite3.Connection, stats: Sequence[EveRecord], sensor_id: int
                   ) -> None:  # fmt: skip
        """Kernel packets and drops per minute, as deltas of Suricata's cumulative counters."""
        rows: dict[tuple[Any, ...], list[int]] = {}
        last: dict[str, tuple[int, int, int, int]] = {}
        for record in sorted(stats, key=lambda r: r.ts):
            try:
                extra = _stats_decoder.decode(record.raw)
            except msgspec.MsgspecError:
                continue
            if extra.stats is None or extra.stats.capture is None:
                continue  # reading a capture file: no kernel counters, and a wall-clock time
            iface = extra.in_iface or ""
            cap = extra.stats.capture
            prev = last.get(iface)
            if prev is None:
                row = conn.execute(
                    "SELECT ts, uptime, packets, drops FROM traffic_capture_last "
                    "WHERE sensor = ? AND iface = ?", (sensor_id, iface)).fetchone()  # fmt: skip
                prev = tuple(row) if row else (0, 0, 0, 0)
            ts, uptime, packets, drops = prev
            if record.ts <= ts:
                continue
            restarted = extra.stats.uptime < uptime or cap.kernel_packets < packets
            d_packets = cap.kernel_packets - (0 if restarted else packets)
            d_drops = cap.kernel_drops - (0 if restarted else drops)
            sums = rows.setdefault((record.ts - record.ts % MINUTE, sensor_id, iface), [0, 0])
            sums[0] += max(d_packets, 0)
            sums[1] += max(d_drops, 0)
            last[iface] = (record.ts, extra.stats.uptime, cap.kernel_packets, cap.kernel_drops)
        if rows:
            upsert_capture(conn, RES_MINUTE, rows)
        conn.executemany(
            "INSERT INTO traffic_capture_last VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(sensor, iface) DO UPDATE SET ts = excluded.ts, uptime = "
            "excluded.uptime, packets = excluded.packets, drops = excluded.drops",
            [(sensor_id, iface, *values) for iface, values in last.items()],
        )


def _add(table: dict[tuple[Any, ...], list[int]], key: tuple[Any, ...], b: int, p: int, f: int
         ) -> None:  # fmt: skip
    sums = table.get(key)
    if sums is None:
        table[key] = [b, p, f]
    else:
        sums[0] += b
        sums[1] += p
        sums[2] += f


def _add_host(table: dict[tuple[Any, ...], list[int]], key: tuple[Any, ...], *values: int
              ) -> None:  # fmt: skip
    sums = table.get(key)
    if sums is None:
        table[key] = list(values)
    else:
        for i, v in enumerate(values):
            sums[i] += v


def _first(seen: dict[tuple[bytes, str, str], int], key: tuple[bytes, str, str], ts: int
           ) -> None:  # fmt: skip
    if ts < seen.get(key, ts + 1):
        seen[key] = ts


def _coarser(rows: Sequence[tuple[tuple[Any, ...], list[int]]], settings: RollupSettings,
             res: int) -> dict[tuple[Any, ...], list[int]]:  # fmt: skip
    """Minute rows summed into the buckets of resolution ``res``."""
    out: dict[tuple[Any, ...], list[int]] = {}
    for key, sums in rows:
        coarse = (settings.bucket(res, key[0]), *key[1:])
        have = out.get(coarse)
        if have is None:
            out[coarse] = list(sums)
        else:
            for i, v in enumerate(sums):
                have[i] += v
    return out


_rollups: weakref.WeakKeyDictionary[Any, Rollup] = weakref.WeakKeyDictionary()


def rollup_batch(store: Any, records: Sequence[EveRecord], sensor_id: int) -> None:
    """Roll up the new ``records`` of a batch, in the store's open write transaction.

    The store calls this from ``_insert``; a failure other than SQLite's own is logged and
    leaves the rollups short of this batch rather than losing the events.
    """
    if not records:
        return
    conn: sqlite3.Connection = store.connection
    try:
        rollup = _rollups.get(store)
        if rollup is None:
            rollup = _rollups[store] = Rollup(conn)
        rollup.add(conn, records, sensor_id)
    except sqlite3.Error:
        raise
    except Exception:
        logger.exception("Traffic rollup failed for a batch of %d records.", len(records))
