"""Throughput and top lists from the rollups (the base of :class:`.service.TrafficService`).

Everything is read from the rollups (:mod:`.query`), never from raw events, except the
flow search, which reads flow records through the event store.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.config import AppConfig
from appliance.events import unpack_ip
from appliance.store import EventStore
from appliance.traffic.query import (
    current_marks,
    late_span,
    steps,
    tiles,
    union,
)
from appliance.traffic.settings import (
    DAY,
    HOUR,
    OTHER_HOSTS,
    RES_DAY,
    RES_HOUR,
    RES_MINUTE,
    RES_WIDTH,
    load_settings,
    settings_from_config,
)

#: The dimensions of :meth:`TrafficService.top`: table, key columns, summed columns.
DIMENSIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "app": ("traffic_app", ("app",), ("bytes", "pkts", "flows")),
    "service": ("traffic_service", ("proto", "port"), ("bytes", "pkts", "flows")),
    "talker": ("traffic_host", ("ip",), ("bytes_out + bytes_in", "pkts_out + pkts_in",
                                         "flows_out + flows_in", "bytes_out", "bytes_in")),
    "conversation": ("traffic_conv", ("src", "dest"), ("bytes", "pkts", "flows")),
    "country": ("traffic_country", ("cc",), ("bytes", "pkts", "flows")),
    "asn": ("traffic_asn", ("asn",), ("bytes", "pkts", "flows")),
}  # fmt: skip
#: How the other hosts of a conversation row are named (see ``Rollup.sum_flows``).
OTHER_KEY, OTHER_LABEL = "*", "(other hosts)"
_PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6", 132: "sctp", 47: "gre"}


@dataclass(frozen=True, slots=True)
class Point:
    """One step of the throughput chart (rates are averages over the step)."""

    ts: int  # bucket start, UTC µs
    bits_per_s: float
    packets_per_s: float
    flows_per_s: float
    drops: int = 0  # kernel drops in the step (SPAN capture health)
    packets_seen: int = 0  # packets the kernel delivered in the step


@dataclass(frozen=True, slots=True)
class TopItem:
    """One row of a top list."""

    key: str  # stable identifier (address, "tcp/443", "VN", AS name, "a>b")
    label: str
    bytes: int
    packets: int
    flows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def host_text(packed: bytes) -> str | None:
    """An address of a conversation row as text; None for other hosts."""
    if packed == OTHER_HOSTS:
        return None
    return unpack_ip(packed) or "?"


def pick_step(since: int, until: int) -> int:
    """The resolution for a chart of ``[since, until)``: at most a few hundred points."""
    span = until - since
    if span <= 6 * HOUR:
        return RES_MINUTE
    if span <= 14 * DAY:
        return RES_HOUR
    return RES_DAY


def service_label(proto: int, port: int) -> str:
    """``tcp/443``; ``icmp`` without a port."""
    name = _PROTO_NAMES.get(proto, str(proto))
    return name if port < 0 else f"{name}/{port}"


class TrafficReader:
    """The traffic views over one event store."""

    def __init__(self, store: EventStore, cfg: AppConfig | None = None) -> None:
        self.store = store
        self.cfg = cfg
        conn = getattr(store, "connection", None)
        if not isinstance(conn, sqlite3.Connection):
            raise TypeError("traffic views need the SQLite event store")
        self.conn = conn
        self.settings = settings_from_config(cfg) if cfg is not None else load_settings(conn)

    # -- helpers -----------------------------------------------------------------------

    def _query(self, sql: str, args: list[Any]) -> list[Any]:
        return self.conn.execute(sql, args).fetchall()

    def _marks(self) -> dict[int, int]:
        return current_marks(self.conn)

    # -- throughput ----------------------------------------------------------------------

    def throughput(self, since_us: int, until_us: int, *, iface: str | None = None,
                   step: int | None = None) -> list[Point]:  # fmt: skip
        """Bits, packets and flows per second per step, with the kernel drops of each step.

        ``iface`` limits to one interface (as Suricata names it; "" for captures read from
        files); ``step`` is a resolution (0 minute, 1 hour, 2 day), chosen from the span
        when omitted.
        """
        res = pick_step(since_us, until_us) if step is None else step
        width = RES_WIDTH[res]
        start = self.settings.bucket(res, since_us)
        segments = steps(start, until_us, res, self._marks())
        where, extra = ("iface = ?", [iface]) if iface is not None else ("", [])
        expr = self.settings.bucket_sql(res)
        inner, args = union("traffic_iface", f"{expr} AS b, bytes, pkts, flows", segments,
                            where, extra)  # fmt: skip
        sums = {b: (by, p, f) for b, by, p, f in self._query(
            f"SELECT b, sum(bytes), sum(pkts), sum(flows) FROM ({inner}) GROUP BY b", args)}
        inner, args = union("traffic_capture", f"{expr} AS b, packets, drops", segments,
                            where, extra)  # fmt: skip
        health = {b: (p, d) for b, p, d in self._query(
            f"SELECT b, sum(packets), sum(drops) FROM ({inner}) GROUP BY b", args)}
        seconds = width / 1_000_000
        points = []
        for b in sorted(set(sums) | set(health)):
            by, p, f = sums.get(b, (0, 0, 0))
            seen, drops = health.get(b, (0, 0))
            points.append(Point(b, by * 8 / seconds, p / seconds, f / seconds, int(drops),
                                int(seen)))  # fmt: skip
        return points

    def extent(self, since_us: int, until_us: int) -> tuple[int, int] | None:
        """Start of the first and the last bucket holding traffic within the range."""
        row = self._query("SELECT min(bucket), max(bucket) FROM traffic_iface "
                          "WHERE bucket >= ? AND bucket < ?", [since_us, until_us])[0]
        return None if row[0] is None else (int(row[0]), int(row[1]))

    def interfaces(self) -> list[tuple[str, str]]:
        """(sensor name, interface) pairs with traffic."""
        rows = self._query("SELECT DISTINCT t.sensor, t.iface FROM traffic_iface t "
                           "WHERE t.res = 2 OR t.res = 1 OR t.res = 0", [])  # fmt: skip
        names = dict(self._query("SELECT id, name FROM sensors", []))
        return sorted({(str(names.get(s, s)), str(i)) for s, i in rows})

    # -- tops ----------------------------------------------------------------------------

    def top(self, dimension: str, since_us: int, until_us: int, n: int = 10) -> list[TopItem]:
        """The ``n`` largest keys of ``dimension`` by bytes over ``[since_us, until_us)``."""
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}; one of {', '.join(DIMENSIONS)}")
        table, keys, sums = DIMENSIONS[dimension]
        segments = tiles(since_us, until_us, self._marks(), self.settings)
        key_list = ", ".join(keys)
        width = len(keys)
        # One GROUP BY per segment (each sorts only its own rows), merged here: about three
        # times faster than grouping their UNION ALL.
        select = f"SELECT {key_list}, {', '.join(f'sum({x})' for x in sums)} FROM {table}"
        sql = f"{select} WHERE res = ? AND bucket >= ? AND bucket < ? GROUP BY {key_list}"
        late_sql = f"{select}_late WHERE bucket >= ? AND bucket < ? GROUP BY {key_list}"
        queries: list[tuple[str, tuple[int, ...]]] = []
        for seg in segments:
            queries.append((sql, (seg.res, seg.start, seg.end)))
            span = late_span(seg)
            if span is not None:
                queries.append((late_sql, span))
        merged: dict[tuple[Any, ...], list[int]] = {}
        for query, params in queries:
            for row in self.conn.execute(query, params):
                key = tuple(row[:width])
                have = merged.get(key)
                if have is None:
                    merged[key] = [int(v or 0) for v in row[width:]]
                else:
                    for i, v in enumerate(row[width:]):
                        have[i] += int(v or 0)
        live = [(k, v) for k, v in merged.items() if any(v)]  # rows unrolled to zero
        best = heapq.nsmallest(int(n), live, key=lambda kv: (-kv[1][0], kv[0]))
        return [self._item(dimension, key, values) for key, values in best]

    @staticmethod
    def _item(dimension: str, key: Sequence[Any], sums: Sequence[Any]) -> TopItem:
        b, p, f = int(sums[0] or 0), int(sums[1] or 0), int(sums[2] or 0)
        extra: dict[str, Any] = {}
        if dimension == "service":
            k = label = service_label(int(key[0]), int(key[1]))
        elif dimension == "talker":
            k = label = unpack_ip(key[0]) or "?"
            extra = {"bytes_out": int(sums[3] or 0), "bytes_in": int(sums[4] or 0)}
        elif dimension == "conversation":
            # None: the other hosts a minute's pairs past its number count with.
            a, z = host_text(key[0]), host_text(key[1])
            k = f"{a or OTHER_KEY}>{z or OTHER_KEY}"
            label = f"{a or OTHER_LABEL} → {z or OTHER_LABEL}"
            extra = {"src": a, "dest": z}
        else:
            k = str(key[0])
            label = k if k and k != "--" else "(unknown)"
        return TopItem(k, label, b, p, f, extra)

    def tops(self, since_us: int, until_us: int, n: int = 10) -> dict[str, list[TopItem]]:
        """Every top list at once (what ``spanwatch traffic`` prints)."""
        return {d: self.top(d, since_us, until_us, n) for d in DIMENSIONS}

    def totals(self, since_us: int, until_us: int) -> dict[str, int]:
        """Bytes, packets and flows over the range (all interfaces)."""
        segments = tiles(since_us, until_us, self._marks(), self.settings)
        inner, args = union("traffic_iface", "bytes, pkts, flows", segments)
        row = self._query(f"SELECT sum(bytes), sum(pkts), sum(flows) FROM ({inner})", args)[0]
        return {"bytes": int(row[0] or 0), "packets": int(row[1] or 0), "flows": int(row[2] or 0)}

