"""LLMNR, NBT-NS and mDNS poisoning: one host answering name queries for many names.

When DNS has no answer, Windows asks the link by LLMNR and NetBIOS (and Apple or Linux
hosts by mDNS); whoever answers gets the connection, and with it the NTLM handshake
(Responder, Inveigh). A host answers these queries only for its own name, so the count
of distinct names one host answers for with an address gives the poisoner away.

Names are compared without case, a trailing ``.local`` and the NetBIOS suffix, so one
host name answered by the three protocols counts once. Only address answers count (A,
AAAA, NB): mDNS service records name services, not hosts. NBT-NS answers with the
"recursion available" flag come from a WINS server, which answers for others by design.
Avahi reflectors, WINS servers and Bonjour sleep proxies belong in the allow-list.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.config import NamePoisoningConfig
from appliance.events import make_finding
from sensors.analyzers.packet import BROADCAST_MACS, capped, eve_timestamp

if TYPE_CHECKING:
    from scapy.packet import Packet

logger = logging.getLogger(__name__)

_ADDRESS_TYPES = frozenset({1, 28})  # A, AAAA
_NB_RA = 0x08  # NM_FLAGS bit "recursion available": the answer of a NetBIOS name server
_MAX_RESPONDERS = 16384
_MAX_ITEMS = 256


@dataclass
class _Responder:
    """What one host answered within the window."""

    mac: str | None
    first: float
    last: float
    names: dict[str, float] = field(default_factory=dict)  # name -> last answer
    protocols: set[str] = field(default_factory=set)
    victims: dict[str, str | None] = field(default_factory=dict)  # ip -> mac
    addresses: set[str] = field(default_factory=set)
    answers: int = 0


class NamePoisoningAnalyzer:
    """Finds hosts answering LLMNR / NBT-NS / mDNS queries for many different names."""

    name = "name_poisoning"

    def __init__(self, cfg: NamePoisoningConfig) -> None:
        self.cfg = cfg
        self._allowed = frozenset(cfg.allowed_responders)
        self._responders: dict[str, _Responder] = {}
        self._reported: dict[str, float] = {}
        self._next_sweep = 0.0

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Findings are raised as the names add up; nothing is held back."""
        return []

    def process(self, packets: Sequence[Packet]) -> list[bytes]:
        """One finding per poisoning host and window."""
        out = []
        for packet in packets:
            answer = _answer(packet)
            if answer is None:
                continue
            protocol, names, addresses = answer
            src, dst, src_mac, dst_mac = _ends(packet)
            if src is None or src in self._allowed or not names:
                continue
            ts = float(packet.time)
            if ts >= self._next_sweep:
                self._sweep(ts)
            host = self._record(src, src_mac, ts, protocol, names, addresses)
            if dst is not None and len(host.victims) < _MAX_ITEMS:
                host.victims.setdefault(dst, dst_mac)
            finding = self._check(src, host, ts)
            if finding is not None:
                out.append(finding)
        return out

    def _record(self, src: str, mac: str | None, ts: float, protocol: str, names: list[str],
                addresses: list[str]) -> _Responder:  # fmt: skip
        host = self._responders.get(src)
        if host is None:
            if len(self._responders) >= _MAX_RESPONDERS:
                self._sweep(ts, everything=True)
            host = self._responders[src] = _Responder(mac=mac, first=ts, last=ts)
        host.last = max(host.last, ts)
        host.answers += 1
        host.protocols.add(protocol)
        for name in names:
            if name in host.names or len(host.names) < _MAX_ITEMS:
                host.names[name] = ts
        if len(host.addresses) < _MAX_ITEMS:
            host.addresses.update(addresses)
        return host

    def _check(self, src: str, host: _Responder, ts: float) -> bytes | None:
        if len(host.names) < self.cfg.min_names:
            return None
        last = self._reported.get(src)
        if last is not None and ts - last < self.cfg.window_seconds:
            return None
        self._reported[src] = ts
        victim = next(iter(host.victims), None)
        extra = len(host.names) - self.cfg.min_names
        return make_finding(
            type="name-poisoning",
            category="credential-access",
            severity=1,
            confidence=min(0.95, 0.75 + 0.05 * extra),
            timestamp=eve_timestamp(ts),
            src_ip=src,
            dest_ip=victim,
            explanation=_explain(src, host),
            evidence={
                "names": capped(host.names),
                "distinct_names": len(host.names),
                "protocols": sorted(host.protocols),
                "answered_addresses": capped(host.addresses),
                "victims": capped(host.victims),
                "answers": host.answers,
                "first_seen": eve_timestamp(host.first),
                "last_seen": eve_timestamp(host.last),
                "threshold_names": self.cfg.min_names,
                "window_seconds": self.cfg.window_seconds,
            },
            src_mac=host.mac,
            dest_mac=host.victims.get(victim) if victim else None,
            proto="UDP",
            app_proto=sorted(host.protocols)[0],
        )

    def _sweep(self, now: float, *, everything: bool = False) -> None:
        horizon = now if everything else now - self.cfg.window_seconds
        self._next_sweep = now + max(1.0, self.cfg.window_seconds / 10)
        for src in [s for s, h in self._responders.items() if h.last < horizon]:
            del self._responders[src]
        for host in self._responders.values():
            host.names = {n: t for n, t in host.names.items() if t >= horizon}
        self._reported = {s: t for s, t in self._reported.items() if t >= horizon}


def _answer(packet: Packet) -> tuple[str, list[str], list[str]] | None:
    """(protocol, answered names, answered addresses) of a name answer, or None."""
    from scapy.layers.inet import UDP

    udp = packet.getlayer(UDP)
    sport = udp.sport if udp is not None else 0
    if sport == 5355:
        from scapy.layers.llmnr import LLMNRResponse

        llmnr = packet.getlayer(LLMNRResponse)
        return ("llmnr", *_dns_answers(llmnr)) if llmnr is not None else None
    if sport == 5353:
        from scapy.layers.dns import DNS

        dns = packet.getlayer(DNS)
        if dns is None or dns.qr != 1 or dns.opcode != 0:
            return None
        return ("mdns", *_dns_answers(dns))
    if sport == 137:
        return _nbns_answer(packet)
    return None


def _nbns_answer(packet: Packet) -> tuple[str, list[str], list[str]] | None:
    from scapy.layers.netbios import NBNSHeader, NBNSQueryResponse

    header = packet.getlayer(NBNSHeader)
    response = packet.getlayer(NBNSQueryResponse)
    if header is None or response is None or not header.RESPONSE or header.OPCODE != 0:
        return None
    if header.RCODE != 0 or int(header.NM_FLAGS) & _NB_RA:
        return None
    name = _normalize(response.RR_NAME)
    addresses = [str(e.NB_ADDRESS) for e in response.ADDR_ENTRY or [] if hasattr(e, "NB_ADDRESS")]
    return "nbns", [name] if name else [], addresses


def _dns_answers(dns: Any) -> tuple[list[str], list[str]]:
    names, addresses = [], []
    if dns.rcode != 0:
        return [], []
    for rr in dns.an or []:
        if getattr(rr, "type", None) in _ADDRESS_TYPES:
            name = _normalize(rr.rrname)
            if name:
                names.append(name)
                addresses.append(str(rr.rdata))
    return names, addresses


def _normalize(name: bytes | str) -> str:
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    text = text.strip().strip("\x00").rstrip(".").lower()
    return text.removesuffix(".local")


def _ends(packet: Packet) -> tuple[str | None, str | None, str | None, str | None]:
    """(responder ip, victim ip, responder mac, victim mac); the victim only if unicast."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    ip = packet.getlayer(IP) or packet.getlayer(IPv6)
    if ip is None:
        return None, None, None, None
    ether = packet.getlayer(Ether)
    src_mac = str(ether.src).lower() if ether is not None else None
    dst_mac = str(ether.dst).lower() if ether is not None else None
    unicast = dst_mac is None or not (dst_mac in BROADCAST_MACS or int(dst_mac[:2], 16) & 1)
    dst = str(ip.dst) if unicast and not str(ip.dst).endswith(".255") else None
    return str(ip.src), dst, src_mac, dst_mac if dst else None


def _explain(src: str, host: _Responder) -> dict[str, str]:
    names = ", ".join(sorted(host.names)[:8])
    protocols = "/".join(p.upper() for p in sorted(host.protocols))
    return {
        "en": f"Host {src} answered {protocols} name queries for {len(host.names)} different "
        f"names ({names}): a host answers only for its own name, so it is poisoning name "
        f"resolution to capture connections and NTLM password hashes (Responder). Find the "
        f"host, and disable LLMNR and NetBIOS over TCP/IP on the clients by policy.",
        "vi": f"Máy {src} đã trả lời truy vấn tên {protocols} cho {len(host.names)} tên khác "
        f"nhau ({names}): một máy chỉ trả lời cho tên của chính nó, nên đây là đầu độc phân "
        f"giải tên để chiếm kết nối và mã băm mật khẩu NTLM (Responder). Hãy tìm máy này và "
        f"tắt LLMNR cùng NetBIOS over TCP/IP trên các máy khách bằng chính sách nhóm.",
    }
