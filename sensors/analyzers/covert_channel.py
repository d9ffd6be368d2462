"""Covert channels around DNS inspection: ICMP tunnels and DNS over HTTPS/TLS.

* **icmp-tunnel**: one ICMP echo session (a flow: same hosts and echo identifier) that
  carries far more data than ping does. ``ping`` sends 74 (Windows) to 98 (Linux) byte
  frames and monitoring tools a few packets at a time; tunnels (ptunnel, icmpsh, hans)
  fill echo payloads with data, so the session's bytes and its mean frame size are both
  large. Only flow totals are known, so a variable payload cannot be measured itself.
* **encrypted-dns**: TLS to a public resolver's address on port 443 (DNS over HTTPS),
  to a DoH service name, or to port 853 (DNS over TLS): the host's DNS bypasses the
  monitored resolver, and a tunnel such as dns2tcp can ride inside. A policy finding.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence

import msgspec

from appliance.config import CovertChannelConfig, NetworksConfig
from appliance.events import EveRecord, make_finding, parse_timestamp

logger = logging.getLogger(__name__)

_SECOND = 1_000_000
#: ICMP and ICMPv6 echo request and reply types.
_ECHO_TYPES = frozenset({0, 8, 128, 129})


class _Flow(msgspec.Struct):
    pkts_toserver: int = 0
    pkts_toclient: int = 0
    bytes_toserver: int = 0
    bytes_toclient: int = 0
    end: str = ""


class _Tls(msgspec.Struct):
    sni: str | None = None


class _Record(msgspec.Struct):
    flow: _Flow | None = None
    icmp_type: int | None = None
    tls: _Tls | None = None


_decoder = msgspec.json.Decoder(_Record)


class CovertChannelAnalyzer:
    """Finds data tunnelled in ICMP echo and DNS sent encrypted to public resolvers."""

    name = "covert_channel"
    event_types = frozenset({"flow", "tls"})
    needs_networks = True

    def __init__(self, cfg: CovertChannelConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        home = (networks or NetworksConfig()).home
        self._home = [ipaddress.ip_network(net) for net in home]
        self._window_us = cfg.window_seconds * _SECOND
        self._resolvers = frozenset(str(ipaddress.ip_address(ip)) for ip in cfg.public_resolvers)
        self._doh_names = tuple(n.lower().strip(".") for n in cfg.doh_names)
        self._reported: dict[tuple[str, str, str], int] = {}  # -> report again after

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """One finding per kind and host pair per window."""
        out: list[bytes] = []
        for record in records:
            head = record.head
            if head.event_type == "flow" and (
                head.proto not in ("ICMP", "IPv6-ICMP") or not self.cfg.icmp_tunnel
            ):
                continue
            try:
                parsed = _decoder.decode(record.raw)
            except msgspec.DecodeError:
                continue
            if parsed.flow is not None:
                self._check_icmp(record, parsed, out)
            elif parsed.tls is not None and self.cfg.encrypted_dns:
                self._check_tls(record, (parsed.tls.sni or "").lower().rstrip("."), out)
        return out

    def shutdown(self) -> list[bytes]:
        """Findings are emitted as records arrive: nothing is held back."""
        return []

    def _check_icmp(self, record: EveRecord, parsed: _Record, out: list[bytes]) -> None:
        flow = parsed.flow
        if flow is None or parsed.icmp_type not in _ECHO_TYPES:
            return
        packets = flow.pkts_toserver + flow.pkts_toclient
        volume = flow.bytes_toserver + flow.bytes_toclient
        if not packets or volume < self.cfg.icmp_min_bytes:
            return
        if volume < self.cfg.icmp_min_mean_packet_bytes * packets:
            return
        try:
            when = parse_timestamp(flow.end) if flow.end else record.ts
        except ValueError:
            when = record.ts
        self._once(out, "icmp-tunnel", record, when,
                   lambda: self._icmp_finding(record, flow, packets, volume))  # fmt: skip

    def _check_tls(self, record: EveRecord, name: str, out: list[bytes]) -> None:
        head = record.head
        is_doh = head.dest_port == 443 and (
            head.dest_ip in self._resolvers
            or any(name == n or name.endswith("." + n) for n in self._doh_names)
        )
        if is_doh or (head.dest_port == 853 and not self._is_inside(head.dest_ip)):
            self._once(out, "encrypted-dns", record, record.ts,
                       lambda: self._doh_finding(record, name, is_doh))  # fmt: skip

    def _is_inside(self, ip: str | None) -> bool:
        """Whether ip is in networks.home: an organisation's own DoT resolver is fine."""
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return False
        return any(address in net for net in self._home)

    def _once(
        self, out: list[bytes], kind: str, record: EveRecord, when: int, build: Callable[[], bytes]
    ) -> None:
        """Emit ``build()`` unless this kind was reported for the same hosts in the window."""
        key = (kind, record.head.src_ip or "", record.head.dest_ip or "")
        until = self._reported.get(key)
        if until is not None and when < until:
            return
        if len(self._reported) >= self.cfg.max_tracked:
            oldest = when - self._window_us
            self._reported = {k: u for k, u in self._reported.items() if u >= oldest}
            while len(self._reported) >= self.cfg.max_tracked:
                del self._reported[next(iter(self._reported))]
        self._reported[key] = when + self._window_us
        out.append(build())

    def _icmp_finding(self, record: EveRecord, flow: _Flow, packets: int, volume: int) -> bytes:
        head, mean = record.head, volume // packets
        when = flow.end or head.timestamp
        evidence = {
            "packets": packets, "bytes": volume, "mean_packet_bytes": mean,
            "bytes_toserver": flow.bytes_toserver, "bytes_toclient": flow.bytes_toclient,
            "threshold_bytes": self.cfg.icmp_min_bytes,
            "threshold_mean_packet_bytes": self.cfg.icmp_min_mean_packet_bytes,
            "last_timestamp": when, "flow_ids": [head.flow_id] if head.flow_id else [],
            "community_ids": [head.community_id] if head.community_id else [],
        }  # fmt: skip
        return make_finding(
            type="icmp-tunnel", category="command-and-control", severity=2, confidence=0.7,
            timestamp=when, src_ip=head.src_ip, dest_ip=head.dest_ip, evidence=evidence,
            explanation={
                "en": f"{head.src_ip} and {head.dest_ip} exchanged {volume} bytes in {packets} "
                f"ICMP echo (ping) packets, {mean} bytes each on average: ping sends 74-98 byte "
                "packets, so data is being carried inside ICMP (a tunnel such as ptunnel or "
                "icmpsh). Check both hosts for tunnelling tools.",
                "vi": f"{head.src_ip} và {head.dest_ip} đã trao đổi {volume} byte trong {packets} "
                f"gói ICMP echo (ping), trung bình {mean} byte mỗi gói: lệnh ping chỉ gửi gói "
                "74-98 byte, nên dữ liệu đang được truyền lén trong ICMP (công cụ tạo đường hầm "
                "như ptunnel, icmpsh). Hãy kiểm tra công cụ tạo đường hầm trên cả hai máy.",
            },
            proto=head.proto,
        )  # fmt: skip

    def _doh_finding(self, record: EveRecord, name: str, is_doh: bool) -> bytes:
        head = record.head
        what = "DNS over HTTPS" if is_doh else "DNS over TLS"
        server = f"{head.dest_ip}" + (f" ({name})" if name else "")
        is_public = head.dest_ip in self._resolvers
        where = "the public resolver" if is_public else "the outside server"
        where_vi = "máy chủ phân giải công cộng" if is_public else "máy chủ bên ngoài"
        return make_finding(
            type="encrypted-dns", category="policy", severity=3, confidence=0.8,
            timestamp=head.timestamp, src_ip=head.src_ip, dest_ip=head.dest_ip,
            evidence={"protocol": what, "server_name": name or None, "dest_port": head.dest_port,
                      "known_resolver": head.dest_ip in self._resolvers,
                      "timestamp": head.timestamp,
                      "flow_ids": [head.flow_id] if head.flow_id is not None else [],
                      "community_ids": [head.community_id] if head.community_id else []},
            explanation={
                "en": f"{head.src_ip} used {what} with {where} {server}: its DNS "
                "bypasses the organisation's resolver and cannot be inspected, which also hides "
                "DNS tunnels (e.g. dns2tcp). Check which program does this; browsers can be set "
                "to use the internal resolver.",
                "vi": f"{head.src_ip} đã dùng {what} với {where_vi} {server}: "
                "truy vấn DNS của máy này đi vòng qua máy chủ DNS của cơ quan và không thể giám "
                "sát, có thể che giấu đường hầm DNS (ví dụ dns2tcp). Hãy kiểm tra chương trình "
                "nào làm việc này; có thể cấu hình trình duyệt dùng máy chủ DNS nội bộ.",
            },
            dest_port=head.dest_port, app_proto="tls",
        )  # fmt: skip
