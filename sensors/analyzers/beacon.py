"""Beaconing: an inside host that connects to one outside destination on a timer.

Malware checks in with its command-and-control server every N seconds, give or take a
random jitter, sending about the same request each time. Each flow record is one
connection; the analyzer keeps the start times and bytes sent of the connections of
every (inside host, destination) pair and scores their regularity (see
:mod:`sensors.analyzers.periodicity`). A destination is the IP address, protocol and
port, or the HTTP host / TLS server name when that name is served from several
addresses; names looked up in DNS label the destination in the finding.

Periodic by design and left out: destinations inside ``networks.home`` (monitoring,
syslog, time and name servers, backups poll on a timer), multicast and broadcast, the
DNS and NTP ports, and periods under ``min_period_seconds`` (retries, brute force). A
beacon inside one long-lived connection (one flow) has no starts to compare.

A pair is scored at the record that makes it due and, once it qualifies, reported a
period (plus two minutes) of logging time later, with every check-in logged by then:
decisions are taken record by record, so the findings never depend on where batches end.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec

from appliance.config import BeaconConfig, NetworksConfig
from appliance.events import EveRecord, make_finding, parse_timestamp
from sensors.analyzers.address import AddressSet, address_value
from sensors.analyzers.periodicity import BeaconScore, quantile, score_beacon

logger = logging.getLogger(__name__)

_SECOND = 1_000_000
_EVIDENCE_IDS = 20
_MAX_NAMES = 65_536
#: How long after a period a qualifying pair waits for late flow records: more than the
#: closed-flow timeouts of spanwatch's Suricata configuration (TCP 60 s, UDP 30 s).
_LATE_FLOWS = 120 * _SECOND


class _Flow(msgspec.Struct):
    start: str = ""
    bytes_toserver: int = 0
    bytes_toclient: int = 0


class _FlowRecord(msgspec.Struct):
    flow: _Flow | None = None
    app_proto: str | None = None


class _Answer(msgspec.Struct):
    rrname: str | None = None
    rrtype: str | None = None
    rdata: Any = None


class _Dns(msgspec.Struct):
    answers: list[_Answer] | None = None


class _Http(msgspec.Struct):
    hostname: str | None = None


class _Tls(msgspec.Struct):
    sni: str | None = None


class _NameRecord(msgspec.Struct):
    http: _Http | None = None
    tls: _Tls | None = None
    dns: _Dns | None = None


_flow_decoder = msgspec.json.Decoder(_FlowRecord)
_name_decoder = msgspec.json.Decoder(_NameRecord)


@dataclass(slots=True)
class _Series:
    """The connections of one (inside host, destination) pair."""

    starts: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)
    last_us: int = 0
    last_ts: str = ""
    dest_ip: str = ""
    dest_port: int | None = None
    proto: str = ""
    app_proto: str | None = None
    dest_ips: set[str] = field(default_factory=set)
    flow_ids: list[int] = field(default_factory=list)
    community_ids: list[str] = field(default_factory=list)
    fresh: int = 0  # connections added since the pair was last scored
    is_scored: bool = False


#: Addresses that are no one host on the Internet: multicast, loopback, link-local,
#: unspecified, broadcast.
_SPECIAL = AddressSet([
    "224.0.0.0/4", "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/32", "255.255.255.255/32",
    "ff00::/8", "::1/128", "fe80::/10", "::/128",
])  # fmt: skip


class BeaconAnalyzer:
    """Finds inside hosts that contact one outside destination at regular intervals."""

    name = "beacon"
    event_types = frozenset({"flow", "http", "tls", "dns"})
    needs_networks = True

    def __init__(self, cfg: BeaconConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        home = (networks or NetworksConfig()).home
        self._home = AddressSet(home)
        self._ignored_nets = AddressSet(cfg.ignore_destinations)
        self._ignored_ports = {_port_key(spec) for spec in cfg.ignore_ports}
        self._ignored_domains = tuple(d.lower().strip(".") for d in cfg.ignore_domains)
        self._window = int(cfg.window_hours * 3600 * _SECOND)
        self._places: dict[str, str] = {}
        self._names: dict[int, str] = {}  # flow_id -> HTTP host or TLS server name
        self._ip_names: dict[str, str] = {}  # address -> name it was looked up by
        self._series: dict[tuple[str, ...], _Series] = {}
        self._due: set[tuple[str, ...]] = set()
        self._held: dict[tuple[str, ...], int] = {}  # qualifying pair -> report after
        self._reported: dict[tuple[str, ...], int] = {}
        self._watermark = 0  # the newest connection start seen (event time)
        #: The newest time a flow record was logged at: holds for late flows wait on it.
        #: Suricata stamps the flows of a capture file with one time, so a capture's
        #: beacons are reported when it ends, with all their check-ins.
        self._logged = 0
        self._swept = 0

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Add the batch's connections; findings for pairs that became regular enough."""
        places, names, add_flow = self._places, self._names, self._add_flow
        findings: list[bytes] = []
        for record in records:
            head = record.head
            kind = head.event_type
            if kind == "flow":
                if record.ts > self._logged:
                    self._logged = record.ts
                # Most flows do not start inside: settled here from the cache of places.
                place = places.get(head.src_ip) if head.src_ip else None
                if place is None or place == "inside":
                    add_flow(record)
                    # Scored, held and released at the record that makes them so, never at
                    # the end of a batch: the findings do not depend on where batches end.
                    if self._due:
                        self._hold(self._due)
                        self._due = set()
                    if self._held and self._logged >= min(self._held.values()):
                        findings += self._release(final=False)
                    if self._watermark - self._swept > self._window // 24:
                        self._sweep()
                elif head.flow_id is not None and names:
                    names.pop(head.flow_id, None)  # as _add_flow does
            elif kind == "dns":
                self._remember_answers(record)
            else:
                self._remember_name(record)
        return findings

    def shutdown(self) -> list[bytes]:
        """Score every pair that grew since it was last scored; report all that qualify."""
        least = self.cfg.min_connections
        grown = {k for k, s in self._series.items() if s.fresh and len(s.starts) >= least}
        self._hold(grown)
        return self._release(final=True)

    # -- intake ---------------------------------------------------------------------

    def _remember_name(self, record: EveRecord) -> None:
        if record.head.flow_id is None:
            return
        try:
            parsed = _name_decoder.decode(record.raw)
        except msgspec.DecodeError:
            return
        name = parsed.http.hostname if parsed.http else parsed.tls.sni if parsed.tls else None
        if name:
            if len(self._names) >= _MAX_NAMES:
                del self._names[next(iter(self._names))]
            self._names[record.head.flow_id] = name.lower().rstrip(".")

    def _remember_answers(self, record: EveRecord) -> None:
        try:
            parsed = _name_decoder.decode(record.raw)
        except msgspec.DecodeError:
            return
        for answer in (parsed.dns.answers or []) if parsed.dns else []:
            if answer.rrtype in ("A", "AAAA") and isinstance(answer.rdata, str) and answer.rrname:
                if len(self._ip_names) >= _MAX_NAMES:
                    del self._ip_names[next(iter(self._ip_names))]
                self._ip_names[answer.rdata] = answer.rrname.lower().rstrip(".")

    def _add_flow(self, record: EveRecord) -> None:
        head = record.head
        name = self._names.pop(head.flow_id, None) if head.flow_id is not None else None
        if head.proto not in ("TCP", "UDP") or not head.src_ip or not head.dest_ip:
            return
        if not self._is_candidate(head.src_ip, head.dest_ip, head.proto, head.dest_port):
            return
        try:
            parsed = _flow_decoder.decode(record.raw)
            flow = parsed.flow
            start = parse_timestamp(flow.start) if flow is not None else 0
        except (msgspec.DecodeError, ValueError):
            return
        if flow is None or self._is_ignored_name(name or self._ip_names.get(head.dest_ip)):
            return
        self._watermark = max(self._watermark, start)
        port = head.dest_port
        keys: list[tuple[str, ...]] = [("ip", head.src_ip, head.dest_ip, head.proto, str(port))]
        if name and not _is_address(name):
            keys.append(("name", head.src_ip, name))
        for key in keys:
            series = self._series.pop(key, None) or self._new_series()
            self._series[key] = series  # most recently used last, for eviction
            series.starts.append(start)
            series.sizes.append(flow.bytes_toserver)
            series.received.append(flow.bytes_toclient)
            if start >= series.last_us:
                series.last_us, series.last_ts = start, flow.start
                series.dest_ip, series.dest_port, series.proto = head.dest_ip, port, head.proto
                series.app_proto = parsed.app_proto
            if len(series.dest_ips) < 16:
                series.dest_ips.add(head.dest_ip)
            if len(series.flow_ids) < _EVIDENCE_IDS and head.flow_id is not None:
                series.flow_ids.append(head.flow_id)
                series.community_ids.append(head.community_id or "")
            series.fresh += 1
            if self._is_due(series):
                self._due.add(key)

    def _new_series(self) -> _Series:
        while len(self._series) >= self.cfg.max_pairs:
            del self._series[next(iter(self._series))]
        return _Series()

    def _is_candidate(self, src: str, dest: str, proto: str, port: int | None) -> bool:
        if not self._is_inside(src):
            return False
        place = self._place(dest)
        if place == "special" or (place == "inside" and not self.cfg.include_internal):
            return False
        proto = proto.lower()
        return (proto, port) not in self._ignored_ports and (proto, None) not in self._ignored_ports

    def _is_inside(self, ip: str) -> bool:
        """Whether _place(ip) is inside; a source outside networks.home is settled quickly
        (spoofed floods bring a new one with every flow)."""
        place = self._places.get(ip)
        if place is None:
            parsed = address_value(ip)
            if parsed is None or not self._home.holds(parsed):
                self._remember(ip, _NOT_INSIDE)
                return False
            place = self._place(ip)
        return place == "inside"

    def _place(self, ip: str) -> str:
        """inside (networks.home), outside, or special (multicast, broadcast, ignored)."""
        place = self._places.get(ip)
        if place is None or place == _NOT_INSIDE:
            parsed = address_value(ip)  # once for the three sets
            if parsed is None or _SPECIAL.holds(parsed) or self._ignored_nets.holds(parsed):
                place = "special"
            else:
                place = "inside" if self._home.holds(parsed) else "outside"
            self._remember(ip, place)
        return place

    def _remember(self, ip: str, place: str) -> None:
        if len(self._places) >= 100_000:
            self._places.clear()
        self._places[ip] = place

    def _is_ignored_name(self, name: str | None) -> bool:
        if not name or not self._ignored_domains:
            return False
        return any(name == d or name.endswith("." + d) for d in self._ignored_domains)

    # -- scoring --------------------------------------------------------------------

    def _hold(self, keys: set[tuple[str, ...]]) -> None:
        """Score due pairs; one that qualifies waits a period for late flow records.

        Suricata logs a flow when it times out, not in start order (all at once when a
        capture file ends), so the first qualifying score may lack check-ins that follow.
        """
        for key in sorted(keys - self._held.keys()):
            series = self._series.get(key)
            result = self._score(key, series) if series is not None else None
            if result is not None:
                wait = int(result.period_s * _SECOND) + _LATE_FLOWS
                self._held[key] = self._logged + wait

    def _release(self, *, final: bool) -> list[bytes]:
        findings = []
        # Names first: a name on rotating addresses also makes each address periodic.
        for key, until in sorted(self._held.items(), key=lambda item: item[0][0] != "name"):
            if not final and self._logged < until:
                continue
            del self._held[key]
            series = self._series.get(key)
            result = self._score(key, series) if series is not None else None
            if series is None or result is None:
                continue
            self._reported[key] = series.last_us + self._window
            if key[0] == "name":
                for address in series.dest_ips:
                    ip_key = ("ip", key[1], address, series.proto, str(series.dest_port))
                    self._reported[ip_key] = series.last_us + self._window
            findings.append(self._finding(key, series, result))
        return findings

    def _is_due(self, series: _Series) -> bool:
        """Score a pair at min_connections, then after each quarter more connections."""
        count = len(series.starts)
        if count < self.cfg.min_connections:
            return False
        return not series.is_scored or series.fresh >= max(self.cfg.min_connections // 2,
                                                            count // 4)  # fmt: skip

    def _score(self, key: tuple[str, ...], series: _Series) -> BeaconScore | None:
        """The pair's score if it qualifies and was not reported for this window."""
        self._trim(series)
        count, series.fresh, series.is_scored = len(series.starts), 0, True
        if count < self.cfg.min_connections:
            return None
        if key[0] == "name" and len(series.dest_ips) < 2:
            return None  # served from one address: the address's own series covers it
        until = self._reported.get(key)
        if until is not None and series.last_us < until:
            return None
        result = score_beacon(series.starts, series.sizes, self.cfg)
        return result if result is not None and result.score >= self.cfg.min_score else None

    def _trim(self, series: _Series) -> None:
        """Forget connections older than the window and beyond the per-pair cap."""
        oldest = max(self._watermark - self._window, 0)
        keep = self.cfg.max_connections
        if len(series.starts) <= keep and (not series.starts or min(series.starts) >= oldest):
            return
        rows = sorted(zip(series.starts, series.sizes, series.received))
        rows = [row for row in rows if row[0] >= oldest][-keep:]
        series.starts = [row[0] for row in rows]
        series.sizes = [row[1] for row in rows]
        series.received = [row[2] for row in rows]

    def _sweep(self) -> None:
        """Drop pairs and reports that fell out of the window (by event time)."""
        oldest = self._watermark - self._window
        for key in [k for k, s in self._series.items() if s.last_us < oldest]:
            del self._series[key]
        for key in [k for k, until in self._reported.items() if until < oldest]:
            del self._reported[key]
        self._swept = self._watermark

    def _finding(self, key: tuple[str, ...], series: _Series, result: BeaconScore) -> bytes:
        src = key[1]
        name = key[2] if key[0] == "name" else self._ip_names.get(series.dest_ip)
        target = key[2] if key[0] == "name" else f"{series.dest_ip}:{series.dest_port}"
        received = sorted(series.received)
        evidence = {
            "destination": target, "dest_name": name, "dest_ips": sorted(series.dest_ips),
            "period_seconds": round(result.period_s, 1), "check_ins": result.beats,
            "connections": len(series.starts), "span_seconds": round(result.span_s),
            "missed_check_ins": result.missed, "off_beat_intervals": result.off_beat,
            "jitter_percent": round(100 * result.jitter, 1),
            "on_beat_share": round(result.on_beat, 3), "coverage": round(result.coverage, 3),
            "interval_skewness": round(result.interval_skew, 3),
            "interval_score": round(result.interval_score, 3),
            "size_score": round(result.size_score, 3), "score": round(result.score, 3),
            "threshold_score": self.cfg.min_score,
            "bytes_sent_median": result.size_median,
            "bytes_received_median": int(quantile(received, 0.5)),
            "first_timestamp": _format_us(min(series.starts)), "last_timestamp": series.last_ts,
            "flow_ids": series.flow_ids, "community_ids": series.community_ids,
        }  # fmt: skip
        return make_finding(
            type="beaconing",
            category="command-and-control",
            severity=2,
            confidence=result.score,
            timestamp=series.last_ts,
            src_ip=src,
            dest_ip=series.dest_ip,
            explanation=_explain(src, target, result),
            evidence=evidence,
            dest_port=series.dest_port,
            proto=series.proto,
            app_proto=series.app_proto,
        )


def _explain(src: str, target: str, result: BeaconScore) -> dict[str, str]:
    period, jitter = _format_period(result.period_s), round(100 * result.jitter)
    return {
        "en": f"{src} connected to {target} {result.beats} times, about every {period} "
        f"(typical deviation {jitter}% of the period, {result.missed} missed check-ins), "
        f"sending about {result.size_median} bytes each time: the rhythm of malware checking "
        f"in with its command-and-control server. Find the program on {src} that makes these "
        "connections; if it is not known software (updates, monitoring agents), isolate the "
        "host and examine it.",
        "vi": f"{src} đã kết nối tới {target} {result.beats} lần, đều đặn khoảng {period} một "
        f"lần (độ lệch điển hình {jitter}% chu kỳ, bỏ lỡ {result.missed} lần), mỗi lần gửi "
        f"khoảng {result.size_median} byte: đây là nhịp liên lạc định kỳ của mã độc với máy "
        f"chủ điều khiển (C2). Hãy tìm chương trình trên {src} tạo ra các kết nối này; nếu "
        "không phải phần mềm đã biết (cập nhật, tác tử giám sát), hãy cô lập và kiểm tra máy.",
    }


def _format_period(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _format_us(micros: int) -> str:
    moment = datetime.fromtimestamp(micros / _SECOND, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _port_key(spec: str) -> tuple[str, int | None]:
    """``udp/123`` -> ("udp", 123); ``icmp`` -> ("icmp", None)."""
    proto, _, port = spec.lower().partition("/")
    return proto, int(port) if port else None


#: A cached place: outside or special, not yet told apart (enough for a source).
_NOT_INSIDE = "not inside"


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
