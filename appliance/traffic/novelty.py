"""New and unusual traffic, from the rollups' history, as low-severity findings.

* ``new-country`` / ``new-asn``: an internal server (a host that answers on some port)
  talks for the first time with a country or an autonomous system;
* ``new-service-port``: an internal host answers on a port it never served before;
* ``traffic-volume``: a host's bytes in one hour are far above its own hourly average.

Each needs history: a host is judged only once the rollups have known it for
``traffic.novelty.learning_days`` (by the traffic's own time), so a new appliance or an
analysed capture reports nothing. First contacts come from ``traffic_seen`` (kept at
ingest, exactly once); the detector keeps a cursor on its ids and writes each finding
with an event id derived from that row, so a rerun after a crash stores nothing twice.
spanwatch-core runs :meth:`NoveltyDetector.run_once` every minute.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from appliance.config import AppConfig
from appliance.events import decode_line, make_finding, unpack_ip
from appliance.traffic.fold import newest_minute
from appliance.traffic.query import current_marks, tiles, union
from appliance.traffic.settings import DAY, HOUR, settings_from_config

logger = logging.getLogger(__name__)

_SOURCE = b"spanwatch:traffic-novelty"
_CURSOR = "novelty_cursor"
_VOLUME = "novelty_volume_hour"


def _iso(us: int) -> str:
    stamp = dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"


class NoveltyDetector:
    """Turns first contacts and volume outliers into findings in the event store."""

    def __init__(self, store: Any, cfg: AppConfig) -> None:
        self.store = store
        self.cfg = cfg
        self.conf = cfg.traffic.novelty
        self.settings = settings_from_config(cfg)
        self.conn = store.connection

    def _get(self, name: str) -> int:
        row = self.conn.execute("SELECT value FROM traffic_settings WHERE name = ?",
                                (name,)).fetchone()  # fmt: skip
        return int(json.loads(row[0])) if row else 0

    def _set(self, name: str, value: int) -> None:
        with self.conn:
            self.conn.execute("INSERT INTO traffic_settings VALUES (?, ?) ON CONFLICT(name) "
                              "DO UPDATE SET value = excluded.value", (name, json.dumps(value)))

    def run_once(self) -> int:
        """Report what is new since the last run; returns the number of findings stored."""
        if not self.conf.enabled:
            return 0
        findings = self._contacts() + self._volume()
        if not findings:
            return 0
        source = self.store.source_id(_SOURCE, "traffic-novelty")
        records = [decode_line(raw, (source << 40) | offset) for offset, raw in findings]
        stored = int(self.store.add_events(records, self.cfg.sensor.name))
        logger.info("Traffic novelty: findings=%d stored=%d.", len(findings), stored)
        return stored

    # -- first contacts ------------------------------------------------------------------

    def _contacts(self) -> list[tuple[int, bytes]]:
        cursor = self._get(_CURSOR)
        rows = self.conn.execute(
            "SELECT s.id, s.host, s.kind, s.key, s.first_seen, h.first_seen, "
            "(SELECT min(p.first_seen) FROM traffic_seen p WHERE p.host = s.host AND "
            "p.kind = 'port') FROM traffic_seen s LEFT JOIN traffic_seen h ON h.host = s.host "
            "AND h.kind = 'host' AND h.key = '' WHERE s.id > ? AND s.kind IN ('cc','as','port') "
            "ORDER BY s.id LIMIT 10000", (cursor,)).fetchall()  # fmt: skip
        learning = int(self.conf.learning_days * DAY)
        out = []
        for rid, host, kind, key, first, host_first, serves_since in rows:
            cursor = max(cursor, rid)
            if host_first is None or first - host_first < learning:
                continue  # still learning this host
            raw = self._contact_finding(unpack_ip(host) or "?", kind, key, first, host_first,
                                        serves_since)  # fmt: skip
            if raw is not None:
                out.append((rid, raw))
        if rows:
            self._set(_CURSOR, cursor)
        return out

    def _contact_finding(self, host: str, kind: str, key: str, first: int, known: int,
                         serves_since: int | None) -> bytes | None:  # fmt: skip
        days = round((first - known) / DAY, 1)
        if kind == "port":
            if not self.conf.new_port:
                return None
            proto, _, port = key.partition("/")
            name = {"6": "tcp", "17": "udp"}.get(proto, proto) + "/" + port
            return make_finding(
                type="new-service-port", category="policy", severity=3, confidence=0.6,
                timestamp=_iso(first), src_ip=host, dest_ip=None,
                explanation={
                    "en": f"{host} answered on {name} for the first time after {days} days "
                          "of observed traffic: a new service, or a backdoor.",
                    "vi": f"{host} lần đầu phục vụ trên cổng {name} sau {days} ngày theo dõi: "
                          "một dịch vụ mới, hoặc một cửa hậu."},
                evidence={"service": name, "first_seen": _iso(first), "host_known_days": days},
            )  # fmt: skip
        wanted = self.conf.new_country if kind == "cc" else self.conf.new_asn
        if not wanted or serves_since is None or serves_since > first or key in ("--", ""):
            return None  # only servers: their clients' destinations are expected to vary
        what_en = f"country {key}" if kind == "cc" else f"autonomous system {key}"
        what_vi = f"quốc gia {key}" if kind == "cc" else f"hệ thống tự trị (AS) {key}"
        return make_finding(
            type="new-country" if kind == "cc" else "new-asn", category="policy", severity=3,
            confidence=0.5, timestamp=_iso(first), src_ip=host, dest_ip=None,
            explanation={
                "en": f"Server {host} exchanged traffic with {what_en} for the first time "
                      f"in {days} days of observed traffic.",
                "vi": f"Máy chủ {host} lần đầu trao đổi dữ liệu với {what_vi} sau {days} ngày "
                      "theo dõi."},
            evidence={"kind": "country" if kind == "cc" else "asn", "value": key,
                      "first_seen": _iso(first), "host_known_days": days},
        )  # fmt: skip

    # -- volume --------------------------------------------------------------------------

    def _volume(self) -> list[tuple[int, bytes]]:
        """Hosts whose last complete hours are far above their own average."""
        newest = newest_minute(self.conn)
        if newest is None:
            return []
        done = newest - newest % HOUR  # hours before this one are complete
        start = max(self._get(_VOLUME), done - 24 * HOUR)
        out: list[tuple[int, bytes]] = []
        hour = start
        while hour < done:
            out += self._volume_hour(hour)
            hour += HOUR
        if done > self._get(_VOLUME):
            self._set(_VOLUME, done)
        return out

    def _host_bytes(self, since: int, until: int) -> dict[bytes, tuple[int, int]]:
        segments = tiles(since, until, current_marks(self.conn), self.settings)
        inner, args = union("traffic_host", "ip, bytes_out, bytes_in", segments)
        return {ip: (int(o), int(i)) for ip, o, i in self.conn.execute(
            f"SELECT ip, sum(bytes_out), sum(bytes_in) FROM ({inner}) GROUP BY ip", args)}

    def _volume_hour(self, hour: int) -> list[tuple[int, bytes]]:
        learning = max(int(self.conf.learning_days * DAY), HOUR)
        current = {ip: v for ip, v in self._host_bytes(hour, hour + HOUR).items()
                   if sum(v) >= self.conf.volume_min_mb * 2**20}  # fmt: skip
        if not current:
            return []
        known = {ip for (ip,) in self.conn.execute(
            "SELECT host FROM traffic_seen WHERE kind = 'host' AND first_seen <= ?",
            (hour - learning,))}  # fmt: skip
        before = self._host_bytes(hour - learning, hour)
        hours = learning / HOUR
        out = []
        for ip, (b_out, b_in) in current.items():
            if ip not in known:
                continue
            average = sum(before.get(ip, (0, 0))) / hours
            if b_out + b_in <= self.conf.volume_factor * max(average, 1.0):
                continue
            row = self.conn.execute(
                "INSERT INTO traffic_seen(host, kind, key, first_seen) VALUES (?, 'volume', ?, ?) "
                "ON CONFLICT(host, kind, key) DO NOTHING RETURNING id",
                (ip, str(hour), hour)).fetchone()  # fmt: skip
            self.conn.commit()
            if row is None:
                continue  # reported already
            out.append((int(row[0]), self._volume_finding(unpack_ip(ip) or "?", hour, b_out,
                                                           b_in, average)))  # fmt: skip
        return out

    def _volume_finding(self, host: str, hour: int, b_out: int, b_in: int, average: float
                        ) -> bytes:  # fmt: skip
        total = b_out + b_in
        ratio = total / max(average, 1.0)
        mib = total / 2**20
        return make_finding(
            type="traffic-volume", category="exfiltration" if b_out > b_in else "policy",
            severity=3, confidence=0.5, timestamp=_iso(hour + HOUR - 1), src_ip=host,
            dest_ip=None,
            explanation={
                "en": f"{host} moved {mib:.0f} MiB in one hour, {ratio:.0f} times its own "
                      "hourly average.",
                "vi": f"{host} đã truyền {mib:.0f} MiB trong một giờ, gấp {ratio:.0f} lần "
                      "mức trung bình mỗi giờ của chính nó."},
            evidence={"hour_start": _iso(hour), "bytes_out": b_out, "bytes_in": b_in,
                      "hourly_average": round(average), "factor": round(ratio, 1)},
        )  # fmt: skip

