"""What EVE records say about hosts: addresses, names, services, OS clues, evidence.

Pure code, no I/O: :class:`Observations` takes records one by one and keeps, per host,
the first and last time each fact was seen. The inventory writes a batch of them to the
state database in one transaction. Packet data is attacker-controlled: names and banners
are cut to a bounded length and stripped of control characters here; the UI escapes them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from appliance.assets import osguess
from appliance.assets.oui import normalize_mac

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NAME_RE = re.compile(r"^[A-Za-z0-9_*.-]{1,253}$")
_TLS_RANK = {"SSLv2": 0, "SSLv3": 1, "TLSv1": 2, "TLS 1.0": 2, "TLS 1.1": 3, "TLS 1.2": 4,
             "TLS 1.3": 5}  # fmt: skip
#: Suricata's own stream, decoder and app-layer events: engine noise on mirrored
#: traffic (checksum offload, asymmetric routing), no evidence against a host.
ENGINE_SIDS = range(2200000, 2300000)
#: Confidence given to a signature alert (findings carry their own).
ALERT_CONFIDENCE = 0.7

Span = list[int]  # [first_seen, last_seen] in UTC microseconds


def clean_text(value: Any, limit: int = 200) -> str:
    """A printable, bounded string from packet data."""
    return _CONTROL_RE.sub("", str(value))[:limit].strip()


_names: dict[str, str | None] = {}


def clean_name(value: Any) -> str | None:
    """A host name as it can appear in DNS, lower-case, or None when it is not one."""
    if isinstance(value, str):
        found = _names.get(value, "")
        if found != "":
            return found
    text = clean_text(value, 300).rstrip(".").lower()
    name: str | None = text
    if not _NAME_RE.match(text) or any(len(label) > 63 for label in text.split(".")):
        name = None
    else:
        try:
            ipaddress.ip_address(text)
            name = None  # an address literal is not a name
        except ValueError:
            pass
    if isinstance(value, str):
        if len(_names) > 100_000:  # DGA and tunnels: every name new
            _names.clear()
        _names[value] = name
    return name


def _touch(table: dict[Any, Span], key: Any, ts: int, last: int | None = None) -> None:
    span = table.get(key)
    end = last if last is not None else ts
    if span is None:
        table[key] = [ts, end]
    else:
        span[0] = min(span[0], ts)
        span[1] = max(span[1], end)


@dataclass(slots=True)
class ServiceSeen:
    """A service (port, proto) of a home host as seen in a batch."""

    app_proto: str | None = None
    banner: str | None = None
    tls_version: str | None = None
    flows: int = 0
    external_flows: int = 0
    first: int = 0
    last: int = 0


@dataclass(slots=True)
class EvidenceSeen:
    """Alerts or findings of one kind against or from one host, deduplicated."""

    label: str
    category: str | None
    severity: int
    confidence: float
    count: int
    first: int
    last: int


@dataclass
class Observations:
    """Facts about hosts from a batch of EVE records."""

    is_home: Callable[[str], bool]
    os_fingerprints: dict[tuple[str, str], str] = field(default_factory=dict)
    hosts: dict[str, Span] = field(default_factory=dict)
    sensors: dict[tuple[str, str], Span] = field(default_factory=dict)
    macs: dict[tuple[str, str, str], Span] = field(default_factory=dict)
    names: dict[tuple[str, str, str], Span] = field(default_factory=dict)
    services: dict[tuple[str, int, str], ServiceSeen] = field(default_factory=dict)
    os_hints: dict[tuple[str, str, str], tuple[str, float, int]] = field(default_factory=dict)
    evidence: dict[tuple[str, str, str, str], EvidenceSeen] = field(default_factory=dict)
    dhcp_pending: dict[str, list[tuple[dict[str, Any], int, str]]] = field(default_factory=dict)
    dhcp_ips: dict[str, str] = field(default_factory=dict)
    max_ts: int = 0

    def resolve_dhcp(self, known: Callable[[str], str | None]) -> None:
        """Give pending DHCP requests the address their MAC got (this batch, or ``known``)."""
        from appliance.assets.handlers import dhcp_facts

        for mac, requests in self.dhcp_pending.items():
            ip = self.dhcp_ips.get(mac) or known(mac)
            if ip is None:
                continue
            for d, ts, sensor in requests:
                dhcp_facts(self, d, ip, ts, sensor)
        self.dhcp_pending.clear()

    def add(self, record: dict[str, Any], sensor: str) -> None:
        """Take what one EVE record says."""
        from appliance.assets.handlers import observe

        observe(self, record, sensor)

    # -- building blocks -------------------------------------------------------------

    def seen(self, ip: str, ts: int, sensor: str, last: int | None = None) -> None:
        if self.is_home(ip):
            _touch(self.hosts, ip, ts, last)
            _touch(self.sensors, (ip, sensor), ts, last)

    def name(self, ip: str | None, value: Any, source: str, ts: int) -> None:
        name = clean_name(value) if ip is not None else None
        if name is not None and ip is not None:
            _touch(self.names, (ip, name, source), ts)

    def mac(self, ip: str | None, value: Any, source: str, ts: int) -> None:
        mac = normalize_mac(str(value)) if ip is not None and value else None
        if mac is not None and ip is not None and self.is_home(ip):
            _touch(self.macs, (ip, mac, source), ts)

    def hint(self, ip: str | None, hint: osguess.OsHint | None, ts: int) -> None:
        if ip is not None and hint is not None and self.is_home(ip):
            self.os_hints[(ip, hint.source, hint.value)] = (hint.os, hint.weight, ts)

    def service(self, ip: str, port: Any, proto: str, ts: int, **facts: Any) -> ServiceSeen | None:
        if not self.is_home(ip) or not isinstance(port, int) or not 0 < port < 65536:
            return None
        svc = self.services.get((ip, port, proto))
        if svc is None:
            svc = self.services[(ip, port, proto)] = ServiceSeen(first=ts, last=ts)
        svc.first, svc.last = min(svc.first, ts), max(svc.last, ts)
        for key, value in facts.items():
            if value:
                setattr(svc, key, value)
        return svc

    def proof(self, ip: str | None, role: str, kind: str, key: str, label: str,
              category: str | None, severity: int, confidence: float, ts: int) -> None:
        if ip is None or not self.is_home(ip):
            return
        k = (ip, role, kind, key)
        ev = self.evidence.get(k)
        if ev is None:
            self.evidence[k] = EvidenceSeen(label, category, severity, confidence, 1, ts, ts)
            return
        ev.count += 1
        ev.severity = min(ev.severity, severity)
        ev.confidence = max(ev.confidence, confidence)
        ev.first, ev.last = min(ev.first, ts), max(ev.last, ts)


@lru_cache(maxsize=4096)
def _parse_ip6(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def ip_of(value: Any) -> str | None:
    """The address in canonical form; IPv4 as Suricata writes it (checked in C, cheap on
    spoofed floods where every source is new), IPv6 normalised."""
    if not isinstance(value, str) or not value:
        return None
    if ":" in value:
        return _parse_ip6(value)
    try:
        socket.inet_pton(socket.AF_INET, value)
    except OSError:
        return None
    return value


def home_matcher(cidrs: Iterable[str]) -> Callable[[str], bool]:
    """A fast test of whether an address (as :func:`_ip` returns it) is inside HOME_NET."""
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    v4 = [(int(n.network_address), int(n.netmask)) for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]

    known: dict[str, bool] = {}

    def is_home(ip: str) -> bool:
        found = known.get(ip)
        if found is None:
            if ":" in ip:
                addr = ipaddress.ip_address(ip)
                found = any(addr in n for n in v6)
            else:
                value = int.from_bytes(socket.inet_aton(ip), "big")
                found = any(value & mask == net for net, mask in v4)
            if len(known) > 100_000:  # spoofed floods: every source new
                known.clear()
            known[ip] = found
        return found

    return is_home
