"""Rogue DHCP servers: offers and acknowledgements from a server that should not answer.

A rogue server hands clients its own gateway or DNS server and so sits in the middle of
their traffic. With ``allowed_servers`` set, any other server that sends an OFFER or ACK
is reported. Without it the first server seen is taken as the legitimate one and every
further server is reported (a network normally has one DHCP service; a failover pair
belongs in the allow-list). A relayed answer is attributed to its server identifier
(option 54), not to the relay that forwarded it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.config import RogueDhcpConfig
from appliance.events import make_finding
from sensors.analyzers.packet import capped, dhcp_options, eve_timestamp

if TYPE_CHECKING:
    from scapy.packet import Packet

logger = logging.getLogger(__name__)

_KINDS = {2: "offer", 5: "ack"}
_MAX_SERVERS = 256
_MAX_ITEMS = 1024


@dataclass
class _Server:
    """What one DHCP server handed out."""

    ip: str
    mac: str | None
    first: float
    last: float
    messages: dict[str, int] = field(default_factory=dict)
    clients: set[str] = field(default_factory=set)
    offered: set[str] = field(default_factory=set)
    routers: set[str] = field(default_factory=set)
    dns: set[str] = field(default_factory=set)


class RogueDhcpAnalyzer:
    """Finds DHCP servers outside the allow-list, or beyond the first one seen."""

    name = "rogue_dhcp"

    def __init__(self, cfg: RogueDhcpConfig) -> None:
        self.cfg = cfg
        self._allowed = frozenset(cfg.allowed_servers)
        self._servers: dict[str, _Server] = {}  # server identifier -> what it did
        self._reported: dict[str, float] = {}

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Findings are raised when the server answers; nothing is held back."""
        return []

    def process(self, packets: Sequence[Packet]) -> list[bytes]:
        """One finding per unexpected server and window."""
        from scapy.layers.dhcp import BOOTP

        out = []
        for packet in packets:
            bootp = packet.getlayer(BOOTP)
            if bootp is None or bootp.op != 2:
                continue
            options = dhcp_options(packet)
            kind = _KINDS.get(options.get("message-type", (0,))[0])
            if kind is None:
                continue
            ts = float(packet.time)
            server_id, server = self._record(packet, bootp, options, kind, ts)
            if server is not None and self._is_rogue(server_id, server):
                finding = self._report(server_id, server, bootp, ts)
                if finding is not None:
                    out.append(finding)
        return out

    def _record(self, packet: Packet, bootp: Any, options: dict[str, tuple[Any, ...]],
                kind: str, ts: float) -> tuple[str, _Server | None]:  # fmt: skip
        from scapy.layers.inet import IP
        from scapy.layers.l2 import Ether

        ip = packet.getlayer(IP)
        src = str(ip.src) if ip is not None else "0.0.0.0"
        server_id = str(options.get("server_id", (src,))[0])
        server = self._servers.get(server_id)
        if server is None:
            if len(self._servers) >= _MAX_SERVERS:
                return server_id, None
            ether = packet.getlayer(Ether)
            mac = str(ether.src).lower() if ether is not None and src == server_id else None
            server = self._servers[server_id] = _Server(ip=src, mac=mac, first=ts, last=ts)
        server.last = max(server.last, ts)
        server.messages[kind] = server.messages.get(kind, 0) + 1
        if len(server.clients) < _MAX_ITEMS:
            server.clients.add(_mac(bootp.chaddr))
            if str(bootp.yiaddr) != "0.0.0.0":
                server.offered.add(str(bootp.yiaddr))
        server.routers.update(str(r) for r in options.get("router", ())[:8])
        server.dns.update(str(r) for r in options.get("name_server", ())[:8])
        return server_id, server

    def _is_rogue(self, server_id: str, server: _Server) -> bool:
        if self._allowed:
            return not ({server_id, server.ip, server.mac} & self._allowed)
        return next(iter(self._servers)) != server_id

    def _report(self, server_id: str, server: _Server, bootp: Any, ts: float) -> bytes | None:
        last = self._reported.get(server_id)
        if last is not None and ts - last < self.cfg.window_seconds:
            return None
        self._reported[server_id] = ts
        others = [(sid, s) for sid, s in self._servers.items() if sid != server_id]
        differs = any(s.routers != server.routers or s.dns != server.dns for _, s in others)
        listed = bool(self._allowed)
        yiaddr = str(bootp.yiaddr)
        return make_finding(
            type="rogue-dhcp-server",
            category="credential-access",
            severity=1 if listed or differs else 2,
            confidence=(0.9 if listed else 0.6) + (0.05 if differs else 0.0),
            timestamp=eve_timestamp(ts),
            src_ip=server_id,
            dest_ip=yiaddr if yiaddr != "0.0.0.0" else None,
            explanation=_explain(server_id, server, [sid for sid, _ in others], listed),
            evidence={
                "server_id": server_id,
                "server_ip": server.ip,
                "server_mac": server.mac,
                "messages": dict(server.messages),
                "clients": capped(server.clients),
                "offered_addresses": capped(server.offered),
                "routers": capped(server.routers),
                "dns_servers": capped(server.dns),
                "other_servers": [
                    {
                        "server_id": sid,
                        "mac": s.mac,
                        "routers": capped(s.routers),
                        "dns_servers": capped(s.dns),
                        "first_seen": eve_timestamp(s.first),
                    }
                    for sid, s in others[:20]
                ],
                "allowed_servers": sorted(self._allowed),
                "first_seen": eve_timestamp(server.first),
                "last_seen": eve_timestamp(server.last),
                "window_seconds": self.cfg.window_seconds,
            },  # fmt: skip
            src_mac=server.mac,
            dest_mac=_mac(bootp.chaddr),
            proto="UDP",
            src_port=67,
            dest_port=68,
            app_proto="dhcp",
        )


def _mac(chaddr: bytes | str) -> str:
    raw = chaddr.encode("latin-1") if isinstance(chaddr, str) else bytes(chaddr)
    return ":".join(f"{b:02x}" for b in raw[:6])


def _explain(server_id: str, server: _Server, others: list[str], listed: bool) -> dict[str, str]:
    routers = ", ".join(sorted(server.routers)) or "-"
    dns = ", ".join(sorted(server.dns)) or "-"
    clients = len(server.clients)
    if listed:
        why_en, why_vi = "is not in the allowed list", "không nằm trong danh sách được phép"
    else:
        first = others[0] if others else "-"
        why_en = f"answers besides {first}, the server seen first"
        why_vi = f"trả lời song song với {first}, máy chủ được thấy trước"
    return {
        "en": f"DHCP server {server_id} (MAC {server.mac or '?'}) {why_en}: it offered "
        f"addresses to {clients} client(s) with gateway {routers} and DNS {dns}. A rogue "
        f"DHCP server redirects its clients' traffic. Find its switch port, and if it is "
        f"legitimate add it to analyzers.rogue_dhcp.allowed_servers.",
        "vi": f"Máy chủ DHCP {server_id} (MAC {server.mac or '?'}) {why_vi}: nó đã cấp "
        f"địa chỉ cho {clients} máy khách với gateway {routers} và DNS {dns}. Máy chủ DHCP "
        f"giả mạo sẽ chuyển hướng lưu lượng của các máy khách. Hãy tìm cổng switch của nó; "
        f"nếu hợp lệ, hãy thêm vào analyzers.rogue_dhcp.allowed_servers.",
    }
