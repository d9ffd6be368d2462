"""QUIC clients that are no browser, from ``quic`` records.

Browsers speak QUIC (HTTP/3) only to a site they found by name (its Alt-Svc header or
HTTPS DNS record), so their QUIC ClientHello always names the server (SNI). A ClientHello
without a server name, from an internal host to a public address, is a program dialling
an address it carries: how QUIC-capable implants (Merlin, and C2 frameworks built on
quic-go) reach their controller. Low severity: the finding asks the analyst to look at a
program, it does not prove one. Server hellos, Google's old gQUIC packets without a parsed
hello, and servers inside HOME_NET or in private ranges are not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.config import NetworksConfig
from appliance.config_attacks import QuicConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet
from sensors.analyzers.repeat import RepeatGate

_SECOND = 1_000_000
_TYPE = "quic-without-server-name"
#: Servers that are not out on the internet: private (RFC 1918, RFC 6598 shared, unique
#: local), loopback, link-local, multicast and reserved addresses.
_NOT_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
               "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8", "224.0.0.0/3", "::/127",
               "fc00::/7", "fe80::/10", "ff00::/8")  # fmt: skip


def _client_hello_without_name(quic: dict[str, Any]) -> bool:
    """A parsed ClientHello (it has a client fingerprint) that names no server."""
    if not (isinstance(quic.get("ja3"), dict) or quic.get("ja4")) or quic.get("sni"):
        return False
    extensions = quic.get("extensions")
    return not (isinstance(extensions, list) and any(
        isinstance(e, dict) and e.get("type") == 0 for e in extensions))  # fmt: skip


def _alpn(quic: dict[str, Any]) -> list[str]:
    for ext in quic.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("type") == 16:
            return [str(v)[:32] for v in (ext.get("values") or [])][:8]
    return []


class QuicAnalyzer:
    """Finds QUIC handshakes without a server name to public addresses."""

    name = "quic"
    event_types = frozenset({"quic"})
    needs_networks = True

    def __init__(self, cfg: QuicConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        self._home = AddressSet((networks or NetworksConfig()).home)
        self._exempt = AddressSet(cfg.exempt_servers)
        self._not_public = AddressSet(_NOT_PUBLIC)
        self._reported = RepeatGate(cfg.window_seconds * _SECOND, cfg.max_tracked)

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Every finding is reported as its batch is seen."""
        return []

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for this batch's client hellos."""
        out = []
        for record in records:
            head = record.head
            client, server = head.src_ip, head.dest_ip
            quic = record.data.get("quic")
            if (not client or not server or not isinstance(quic, dict)
                    or not _client_hello_without_name(quic)):  # fmt: skip
                continue
            if client not in self._home or server in self._home or server in self._not_public:
                continue
            if self._exempt and server in self._exempt:
                continue
            if self._reported.due((client, server), record.ts):
                out.append(self._finding(record, quic))
        return out

    def _finding(self, record: EveRecord, quic: dict[str, Any]) -> bytes:
        head = record.head
        client, server, port = head.src_ip or "", head.dest_ip or "", head.dest_port
        ja3 = quic.get("ja3")
        ja4 = quic.get("ja4")
        return make_finding(
            type=_TYPE, category="command-and-control", severity=3, confidence=0.5,
            timestamp=head.timestamp, src_ip=client, dest_ip=server,
            explanation={
                "en": f"{client} opened a QUIC (HTTP/3) connection to {server} port {port} "
                      "without naming the server: browsers always name it, programs that "
                      "dial a built-in address (such as QUIC C2 implants) do not.",
                "vi": f"{client} đã mở kết nối QUIC (HTTP/3) tới {server} cổng {port} mà "
                      "không nêu tên máy chủ: trình duyệt luôn nêu tên, còn chương trình gọi "
                      "tới một địa chỉ cài sẵn (như mã độc điều khiển qua QUIC) thì không."},
            evidence={"version": str(quic.get("version") or "")[:16],
                      "ja3": str(ja3.get("hash") or "")[:32] if isinstance(ja3, dict) else "",
                      "ja4": str(ja4 or "")[:64], "alpn": _alpn(quic),
                      "server_port": port, "flow_id": head.flow_id,
                      "community_id": head.community_id, "timestamp": head.timestamp,
                      "window_seconds": self.cfg.window_seconds},
            dest_port=port, app_proto="quic", flow_id=head.flow_id,
            community_id=head.community_id,
        )  # fmt: skip
