"""TrafficService (``Service.traffic``): throughput, tops, a host's traffic, flow search,
capture health and the daily report's traffic section.

Everything but the flow search reads the rollups; the flow search reads flow records
through the event store (its host zone map finds an address's chunks).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ApplianceError
from appliance.events import pack_ip, proto_number, unpack_ip
from appliance.store import EventQuery
from appliance.traffic.query import steps, tiles, union
from appliance.traffic.reader import (
    DIMENSIONS,
    OTHER_KEY,
    OTHER_LABEL,
    Point,
    TopItem,
    TrafficReader,
    host_text,
    pick_step,
    service_label,
)
from appliance.traffic.settings import (
    DAY,
    HOUR,
    RES_HOUR,
    RES_WIDTH,
    settings_from_config,
    write_settings,
)

#: Flow records read at most per search (newest first is not guaranteed by the store).
SCAN_LIMIT = 20_000

__all__ = ["DIMENSIONS", "FirstContact", "HostTraffic", "Point", "TopItem", "TrafficService"]


class TrafficQueryError(ApplianceError):
    """A traffic query with a bad argument (address, port, dimension)."""


@dataclass(frozen=True, slots=True)
class FirstContact:
    """An internal host's first contact with a country, an AS, or serving a port."""

    host: str
    kind: str  # "cc", "as", "port", "host"
    key: str
    first_seen: int


@dataclass(slots=True)
class HostTraffic:
    """One internal host over a time range."""

    ip: str
    totals: dict[str, int] = field(default_factory=dict)
    points: list[dict[str, float]] = field(default_factory=list)  # ts, bits in/out per s
    peers: list[TopItem] = field(default_factory=list)
    services_offered: list[FirstContact] = field(default_factory=list)
    services_used: list[TopItem] = field(default_factory=list)
    countries: list[FirstContact] = field(default_factory=list)
    first_seen: int | None = None


def _packed(ip: str) -> bytes:
    try:
        ipaddress.ip_address(ip)
    except ValueError as err:
        raise TrafficQueryError(f"{ip!r} is not an IP address") from err
    packed = pack_ip(ip)
    assert packed is not None
    return packed


def _port_label(key: str) -> str:
    """``6/443`` (as first contacts record it) -> ``tcp/443``."""
    proto, _, port = key.partition("/")
    try:
        return service_label(int(proto), int(port))
    except ValueError:
        return key


class TrafficService(TrafficReader):
    """The traffic views over one event store (see :class:`.reader.TrafficReader`)."""

    # -- a host --------------------------------------------------------------------------

    def host(self, ip: str, since_us: int, until_us: int, n: int = 10) -> HostTraffic:
        """In/out over time, totals, top peers, services offered and used, first contacts."""
        packed = _packed(ip)
        out = HostTraffic(ip)
        res = pick_step(since_us, until_us)
        seconds = RES_WIDTH[res] / 1_000_000
        segments = steps(self.settings.bucket(res, since_us), until_us, res, self._marks())
        expr = self.settings.bucket_sql(res)
        inner, args = union("traffic_host", f"{expr} AS b, bytes_in, bytes_out", segments,
                            "ip = ?", [packed])  # fmt: skip
        for b, bin_, bout in self._query(
            f"SELECT b, sum(bytes_in), sum(bytes_out) FROM ({inner}) GROUP BY b ORDER BY b", args
        ):
            out.points.append({"ts": b, "bits_in_per_s": bin_ * 8 / seconds,
                               "bits_out_per_s": bout * 8 / seconds})  # fmt: skip
        tiled = tiles(since_us, until_us, self._marks(), self.settings)
        inner, args = union("traffic_host", "bytes_in, bytes_out, pkts_in, pkts_out, flows_in, "
                            "flows_out", tiled, "ip = ?", [packed])  # fmt: skip
        row = self._query(f"SELECT sum(bytes_in), sum(bytes_out), sum(pkts_in), sum(pkts_out), "
                          f"sum(flows_in), sum(flows_out) FROM ({inner})", args)[0]  # fmt: skip
        names = ("bytes_in", "bytes_out", "packets_in", "packets_out", "flows_in", "flows_out")
        out.totals = {k: int(v or 0) for k, v in zip(names, row, strict=True)}
        out.peers = self._peers(packed, tiled, n)
        contacts = self.first_contacts(host=ip)
        out.services_offered = [FirstContact(c.host, c.kind, _port_label(c.key), c.first_seen)
                                for c in contacts if c.kind == "port"]  # fmt: skip
        out.countries = [c for c in contacts if c.kind in ("cc", "as") and c.key != "--"]
        first = [c.first_seen for c in contacts if c.kind == "host"]
        out.first_seen = first[0] if first else None
        out.services_used = self._services_used(ip, since_us, until_us, n)
        return out

    def _peers(self, packed: bytes, tiled: list[Any], n: int) -> list[TopItem]:
        inner, args = union("traffic_conv", "src, dest, bytes, pkts, flows", tiled,
                            "(src = ? OR dest = ?)", [packed, packed])  # fmt: skip
        rows = self._query(
            "SELECT CASE WHEN src = ? THEN dest ELSE src END AS peer, sum(bytes), sum(pkts), "
            f"sum(flows) FROM ({inner}) GROUP BY peer ORDER BY 2 DESC, 1 LIMIT ?",
            [packed, *args, n])  # fmt: skip
        out = []
        for peer, b, k, f in rows:
            name = host_text(peer)
            out.append(TopItem(name or OTHER_KEY, name or OTHER_LABEL, int(b), int(k), int(f)))
        return out

    def _services_used(self, ip: str, since_us: int, until_us: int, n: int) -> list[TopItem]:
        """Services the host used as a client, from its flow records in the range."""
        sums: dict[tuple[int, int], list[int]] = {}
        query = EventQuery(event_type="flow", since_us=since_us, until_us=until_us, ip=ip,
                           limit=SCAN_LIMIT)  # fmt: skip
        for record in self.store.events(query):
            if record.get("src_ip") != ip:
                continue
            flow = record.get("flow") or {}
            key = (proto_number(record.get("proto")) or 0, int(record.get("dest_port") or -1))
            have = sums.setdefault(key, [0, 0, 0])
            have[0] += int(flow.get("bytes_toserver", 0)) + int(flow.get("bytes_toclient", 0))
            have[1] += int(flow.get("pkts_toserver", 0)) + int(flow.get("pkts_toclient", 0))
            have[2] += 1
        ranked = sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
        return [TopItem(service_label(*k), service_label(*k), v[0], v[1], v[2])
                for k, v in ranked]  # fmt: skip

    # -- first contacts --------------------------------------------------------------------

    def first_contacts(self, *, host: str | None = None, since_us: int | None = None,
                       until_us: int | None = None, kinds: tuple[str, ...] = (),
                       limit: int = 1000) -> list[FirstContact]:  # fmt: skip
        """First contacts recorded by the rollups, oldest first."""
        clauses: list[str] = []
        args: list[Any] = []
        if host is not None:
            clauses.append("host = ?")
            args.append(_packed(host))
        if since_us is not None:
            clauses.append("first_seen >= ?")
            args.append(since_us)
        if until_us is not None:
            clauses.append("first_seen < ?")
            args.append(until_us)
        if kinds:
            clauses.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self._query(f"SELECT host, kind, key, first_seen FROM traffic_seen{where} "
                           "ORDER BY first_seen, id LIMIT ?", [*args, limit])  # fmt: skip
        return [FirstContact(unpack_ip(h) or "?", k, key, int(t)) for h, k, key, t in rows]

    # -- flows ---------------------------------------------------------------------------

    def flows(self, since_us: int, until_us: int, *, ip: str | None = None,
              port: int | None = None, proto: str | None = None, app: str | None = None,
              country: str | None = None, offset: int = 0, limit: int = 50) -> Any:
        """Flow records matching every given filter -> ``Page`` of raw EVE records.

        Reads at most :data:`SCAN_LIMIT` flow records of the range (the page's ``total``
        counts matches among them).
        """
        from appliance.service import Page
        from appliance.traffic.geo import shared_database

        if ip is not None:
            _packed(ip)
        if port is not None and not 0 <= port <= 65535:
            raise TrafficQueryError(f"{port} is not a port number")
        geo = shared_database() if country else None
        query = EventQuery(event_type="flow", since_us=since_us, until_us=until_us, ip=ip,
                           limit=SCAN_LIMIT)  # fmt: skip
        matched: list[dict[str, Any]] = []
        total = 0
        for record in self.store.events(query):
            if port is not None and port not in (record.get("src_port"), record.get("dest_port")):
                continue
            if proto is not None and str(record.get("proto", "")).lower() != proto.lower():
                continue
            if app is not None and str(record.get("app_proto") or "unknown") != app:
                continue
            if geo is not None and country is not None and country.upper() not in (
                    geo.lookup(str(record.get("src_ip"))).country,
                    geo.lookup(str(record.get("dest_ip"))).country):  # fmt: skip
                continue
            total += 1
            if offset < total <= offset + limit:
                matched.append(record)
        return Page(matched, total, offset, limit)

    # -- capture health ------------------------------------------------------------------

    def capture_health(self, since_us: int, until_us: int) -> list[dict[str, Any]]:
        """Per sensor and interface: packets the kernel delivered, drops, and their share."""
        tiled = tiles(since_us, until_us, self._marks(), self.settings)
        inner, args = union("traffic_capture", "sensor, iface, packets, drops", tiled)
        names = dict(self._query("SELECT id, name FROM sensors", []))
        out = []
        for sensor, iface, packets, drops in self._query(
            f"SELECT sensor, iface, sum(packets), sum(drops) FROM ({inner}) "
            "GROUP BY sensor, iface ORDER BY sensor, iface", args
        ):
            seen = int(packets or 0) + int(drops or 0)
            out.append({"sensor": names.get(sensor, str(sensor)), "iface": iface,
                        "packets": int(packets or 0), "drops": int(drops or 0),
                        "drop_ratio": (int(drops or 0) / seen) if seen else 0.0})  # fmt: skip
        return out

    # -- new and unusual -----------------------------------------------------------------

    def run_novelty(self) -> int:
        """Store findings for new and unusual traffic since the last run (spanwatch core)."""
        from appliance.traffic.novelty import NoveltyDetector

        if self.cfg is None:
            raise TrafficQueryError("the novelty detector needs the configuration")
        return NoveltyDetector(self.store, self.cfg).run_once()

    # -- daily report --------------------------------------------------------------------

    def daily(self, day_start_us: int, n: int = 5) -> dict[str, Any]:
        """The report's traffic section for the local day starting at ``day_start_us``."""
        end = day_start_us + DAY
        hours = self.throughput(day_start_us, end, step=RES_HOUR)
        peak = max(hours, key=lambda p: p.bits_per_s, default=None)
        contacts = self.first_contacts(since_us=day_start_us, until_us=end, kinds=("cc", "as"))
        known_before = {c.host for c in self.first_contacts(until_us=day_start_us,
                                                            kinds=("host",))}  # fmt: skip
        new = [c for c in contacts if c.host in known_before]
        return {
            "day_start": day_start_us,
            "volume": self.totals(day_start_us, end),
            "peak_hour": None if peak is None else {
                "start": peak.ts, "end": peak.ts + HOUR, "bits_per_s": peak.bits_per_s},
            "hours": [{"start": p.ts, "bits_per_s": p.bits_per_s} for p in hours],
            "top_apps": [t.as_json() for t in self.top("app", day_start_us, end, n)],
            "top_talkers": [t.as_json() for t in self.top("talker", day_start_us, end, n)],
            "top_countries": [t.as_json() for t in self.top("country", day_start_us, end, n)],
            "new_destinations": [
                {"host": c.host, "kind": "country" if c.kind == "cc" else "asn", "value": c.key,
                 "first_seen": c.first_seen} for c in new],
            "capture": self.capture_health(day_start_us, end),
        }  # fmt: skip


def open_traffic(store: Any, cfg: AppConfig, *, writable: bool) -> TrafficService:
    """The service over ``store``; a writable store also learns the configuration's settings
    (HOME_NET, the day's start, retention) for every process that rolls up into it."""
    if writable:
        write_settings(store.connection, settings_from_config(cfg))
    return TrafficService(store, cfg)
