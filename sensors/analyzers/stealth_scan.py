"""Stealth scans: TCP probes that no ordinary stack sends.

Every TCP segment of a real connection carries SYN, ACK or RST. NULL scans (no flag at
all), FIN scans and Xmas scans (FIN, PSH and URG) send segments without them, to sneak past
stateless filters and to tell operating systems apart by how they answer (nmap's OS
detection sends such probes among its SYNs). Suricata's flow records keep the flags each
side sent (``tcp.tcp_flags_ts``); a source whose flows to one host carry none of SYN, ACK
and RST, again and again, is probing it. A handful of probes is enough: port scans need
many ports, these do not.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from appliance.config import StealthScanConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.flowrecord import flow_batch

_SECOND = 1_000_000
_SYN, _RST, _ACK = 0x02, 0x04, 0x10
_SAMPLES = 10


@dataclass
class _Probes:
    first_ts: int
    flows: list[dict[str, object]] = field(default_factory=list)
    count: int = 0
    reported: bool = False


class StealthScanAnalyzer:
    """Finds NULL, FIN and Xmas probes from flow records."""

    name = "stealth_scan"
    event_types = frozenset({"flow"})

    def __init__(self, cfg: StealthScanConfig) -> None:
        self.cfg = cfg
        self._pairs: OrderedDict[tuple[str, str], _Probes] = OrderedDict()

    def init(self) -> None:
        """Nothing to prepare."""

    def shutdown(self) -> list[bytes]:
        """Findings are reported as soon as a pair crosses the threshold."""
        return []

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Findings for source and host pairs whose probes crossed the threshold."""
        out: list[bytes] = []
        window = self.cfg.window_seconds * _SECOND
        batch = flow_batch(records)
        for record, flow in zip(batch.owners, batch.flows):
            if flow.fts & (_SYN | _RST | _ACK) or flow.proto != "TCP" or flow.tcp is None:
                continue
            if flow.counts.pkts_toserver == 0 or not flow.tcp.tcp_flags_ts:
                continue
            if not flow.fts:  # no flags at all, or flags that are not hex
                try:
                    int(flow.tcp.tcp_flags_ts, 16)
                except ValueError:
                    continue
            key = (flow.src_ip, flow.dest_ip)
            probes = self._pairs.get(key)
            if probes is None or record.ts - probes.first_ts > window:
                probes = self._pairs[key] = _Probes(record.ts)
                while len(self._pairs) > self.cfg.max_tracked:
                    self._pairs.popitem(last=False)
            probes.count += 1
            if len(probes.flows) < _SAMPLES:
                probes.flows.append({"flow_id": flow.flow_id, "dest_port": flow.dest_port,
                                     "flags": flow.tcp.tcp_flags_ts,
                                     "packets": flow.counts.pkts_toserver,
                                     "community_id": flow.community_id})  # fmt: skip
            if not probes.reported and probes.count >= self.cfg.min_probes:
                probes.reported = True
                out.append(self._finding(record, key, probes))
        return out

    def _finding(self, record: EveRecord, key: tuple[str, str], probes: _Probes) -> bytes:
        src, dest = key
        ports = sorted({int(str(f["dest_port"])) for f in probes.flows})
        return make_finding(
            type="stealth-scan", category="reconnaissance", severity=2, confidence=0.8,
            timestamp=record.head.timestamp, src_ip=src, dest_ip=dest,
            explanation={
                "en": f"{src} sent {probes.count} TCP probes without SYN, ACK or RST to {dest} "
                      f"(ports {', '.join(map(str, ports))}): NULL, FIN or Xmas scanning, or "
                      "operating system fingerprinting.",
                "vi": f"{src} đã gửi {probes.count} gói TCP thăm dò không có cờ SYN, ACK hay "
                      f"RST tới {dest} (cổng {', '.join(map(str, ports))}): quét lén NULL, FIN, "
                      "Xmas hoặc dò hệ điều hành.",
            },
            evidence={"probes": probes.count, "threshold": self.cfg.min_probes,
                      "ports": ports, "flows": probes.flows,
                      "window_seconds": self.cfg.window_seconds},
        )  # fmt: skip
