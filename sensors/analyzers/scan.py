"""Port scans and host sweeps, from the failed connection attempts in Suricata's flow records."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from appliance.config import NetworksConfig, ScanConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet, is_group_address
from sensors.analyzers.episode import (
    Episode,
    EpisodeTracker,
    Threshold,
    format_us,
)
from sensors.analyzers.flowrecord import ICMP_PROTOS, FlowRecord, attempt_failed, flow_batch
from sensors.analyzers.tally import Tally

logger = logging.getLogger(__name__)

#: UDP ports of traceroute and mtr probes: many unanswered ports, but no scan.
TRACEROUTE_PORTS = range(33434, 33535)
#: Ports or hosts listed in the evidence.
EVIDENCE_ITEMS = 50
_PROTO_NUMBERS = {"TCP": 6, "UDP": 17}


class ScanAnalyzer:
    """Vertical port scans (one source, many ports of one host) and horizontal host sweeps
    (one source, one port or ping, many hosts).

    A scan is a source whose attempts mostly fail: it does not know what answers, a client
    does. A flow counts toward a scan when its connection attempt failed (see
    :func:`~sensors.analyzers.flowrecord.attempt_failed`): a SYN that got no answer, a RST,
    or a SYN/ACK the scanner reset (half-open scan); a connect() that closed without an
    exchange; a NULL/FIN/Xmas probe answered by a RST; an unanswered UDP datagram or echo
    request. Within ``window_seconds``, ``min_ports`` distinct failed ports of one host
    make a port scan and ``min_hosts`` distinct failed hosts on one port make a host sweep,
    provided at least ``min_failed_share`` of the source's flows in the window failed.
    """

    name = "scan"
    event_types = frozenset({"flow"})
    needs_networks = True

    def __init__(self, cfg: ScanConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        self._exempt = AddressSet(cfg.exempt_sources)
        self._has_exempt = bool(self._exempt)
        self._home = AddressSet(networks.home if networks else [])
        share = cfg.min_failed_share

        def accept(tally: Tally) -> bool:
            return tally.failed_share >= share

        common = {
            "window_us": cfg.window_seconds * 1_000_000,
            "quiet_us": cfg.report_delay_seconds * 1_000_000,
            "retention_us": cfg.max_delay_seconds * 1_000_000,
            "repeat_us": cfg.max_delay_seconds * 1_000_000,
            "max_keys": cfg.max_tracked,
        }
        self._ports = EpisodeTracker(
            threshold=Threshold(min_failed=cfg.min_ports, min_items=cfg.min_ports, accept=accept),
            **common,
        )  # fmt: skip
        self._hosts = EpisodeTracker(
            threshold=Threshold(min_failed=cfg.min_hosts, min_items=cfg.min_hosts, accept=accept),
            **common,
        )  # fmt: skip

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Count the batch's flows; report the scans that have ended."""
        batch = flow_batch(records)
        observe = self._observe
        for flow in batch.flows:
            observe(flow)
        return self._report(self._ports.due(batch.clock), self._hosts.due(batch.clock))

    def shutdown(self) -> list[bytes]:
        """Report the scans still open at the end of input."""
        return self._report(self._ports.flush(), self._hosts.flush())

    def _observe(self, flow: FlowRecord) -> None:
        failed = attempt_failed(flow)
        if failed is None:
            return
        proto, src, dest, dest_port = flow.proto, flow.src_ip, flow.dest_ip, flow.dest_port
        if is_group_address(dest) or (self._has_exempt and src in self._exempt):
            return
        if proto == "UDP" and dest_port in TRACEROUTE_PORTS:
            return
        counts = flow.counts
        # start_cache: the start decoded once (see flowrecord); end as FlowRecord.end.
        ts, end = flow.start_cache, counts.end or counts.start
        fid, cid = flow.flow_id, flow.community_id
        if proto in ICMP_PROTOS:
            key: tuple[str, str, int] = (src, "ICMP", flow.icmp_type or 0)
        else:
            key = (src, proto, dest_port)
            port = _PROTO_NUMBERS.get(proto, 0) << 16 | dest_port
            self._ports.add((src, dest), (ts, end, failed, 0, 0, port if failed else None, None,
                                          fid, cid))  # fmt: skip
        self._hosts.add(key, (ts, end, failed, 0, 0, dest if failed else None, None, fid, cid))

    def _report(self, port_scans: list[Episode], sweeps: list[Episode]) -> list[bytes]:
        out = [self._port_scan(e) for e in port_scans]
        out.extend(self._sweep(e) for e in sweeps)
        return out

    def _port_scan(self, episode: Episode) -> bytes:
        src, dest = cast(tuple[str, str], episode.key)
        tally = episode.tally
        ports = sorted(cast(set[int], tally.items), key=lambda p: (p & 0xFFFF, p >> 16))
        listed = [f"{p & 0xFFFF}/{'udp' if p >> 16 == 17 else 'tcp'}" for p in ports]
        evidence = self._evidence(tally, self.cfg.min_ports)
        evidence.update(ports=listed[:EVIDENCE_ITEMS], port_count=len(listed))
        return make_finding(
            type="port-scan", category="reconnaissance", severity=self._severity(src, tally),
            confidence=_confidence(len(listed), self.cfg.min_ports, tally.failed_share),
            timestamp=tally.last_timestamp, src_ip=src, dest_ip=dest,
            explanation=_explain_ports(src, dest, len(listed), tally), evidence=evidence,
        )  # fmt: skip

    def _sweep(self, episode: Episode) -> bytes:
        src, proto, port = cast(tuple[str, str, int], episode.key)
        tally = episode.tally
        hosts = sorted(str(h) for h in tally.items)
        what = "ICMP echo" if proto == "ICMP" else f"{port}/{proto.lower()}"
        evidence = self._evidence(tally, self.cfg.min_hosts)
        evidence.update(service=what, hosts=hosts[:EVIDENCE_ITEMS], host_count=len(hosts),
                        networks=_networks(hosts))  # fmt: skip
        extra: dict[str, Any] = {"proto": proto}
        if proto != "ICMP":
            extra["dest_port"] = port
        return make_finding(
            type="host-sweep", category="reconnaissance", severity=self._severity(src, tally),
            confidence=_confidence(len(hosts), self.cfg.min_hosts, tally.failed_share),
            timestamp=tally.last_timestamp, src_ip=src, dest_ip=None,
            explanation=_explain_sweep(src, what, len(hosts), tally), evidence=evidence, **extra,
        )  # fmt: skip

    def _evidence(self, tally: Tally, threshold: int) -> dict[str, Any]:
        return {
            "first": format_us(tally.first_us), "last": format_us(tally.last_us),
            "flows": tally.flows, "failed_flows": tally.failed,
            "failed_share": round(tally.failed_share, 3), "threshold": threshold,
            "min_failed_share": self.cfg.min_failed_share,
            "window_seconds": self.cfg.window_seconds,
            "flow_ids": tally.flow_ids, "community_ids": tally.community_ids,
        }  # fmt: skip

    def _severity(self, src: str, tally: Tally) -> int:
        """An inside host that scans is likely compromised; the Internet scans everyone."""
        return 2 if src in self._home or len(tally.items) >= 100 else 3


def _confidence(count: int, threshold: int, share: float) -> float:
    """0.6 at the threshold, toward 0.95 for four times as many and all attempts failed."""
    over = min(1.0, (count - threshold) / (3 * threshold))
    return 0.6 + 0.25 * over + 0.1 * share


def _networks(hosts: list[str]) -> list[str]:
    """The /24 (IPv4) or /64 (IPv6) networks swept, most hosts first (at most 10)."""
    counts: dict[str, int] = {}
    for host in hosts:
        if ":" in host:
            net = ":".join(host.split(":")[:4]) + "::/64"
        else:
            net = host.rsplit(".", 1)[0] + ".0/24"
        counts[net] = counts.get(net, 0) + 1
    return sorted(counts, key=lambda n: -counts[n])[:10]


def _explain_ports(src: str, dest: str, count: int, tally: Tally) -> dict[str, str]:
    share = round(100 * tally.failed_share)
    return {
        "en": f"{src} probed {count} different ports of {dest} between {format_us(tally.first_us)} "
        f"and {format_us(tally.last_us)}; {share}% of its {tally.flows} connection attempts "
        "failed or were never completed, as in a port scan. Check whether the source is an "
        "authorised scanner; if not, look for what it did next to the ports that answered.",
        "vi": f"{src} đã dò {count} cổng khác nhau trên {dest} từ {format_us(tally.first_us)} "
        f"đến {format_us(tally.last_us)}; {share}% trong {tally.flows} lần thử kết nối bị từ "
        "chối hoặc không hoàn tất, đúng kiểu quét cổng. Hãy kiểm tra nguồn này có phải máy "
        "quét được phép không; nếu không, xem nó đã làm gì tiếp theo với các cổng có trả lời.",
    }


def _explain_sweep(src: str, what: str, count: int, tally: Tally) -> dict[str, str]:
    share = round(100 * tally.failed_share)
    return {
        "en": f"{src} tried {what} on {count} different hosts between {format_us(tally.first_us)} "
        f"and {format_us(tally.last_us)}; {share}% of its {tally.flows} attempts got no answer "
        "or were refused, as in a sweep for live hosts or for one service. Check whether the "
        "source is an authorised scanner, and which hosts answered it.",
        "vi": f"{src} đã thử {what} tới {count} máy khác nhau từ {format_us(tally.first_us)} "
        f"đến {format_us(tally.last_us)}; {share}% trong {tally.flows} lần thử không được trả "
        "lời hoặc bị từ chối, đúng kiểu quét dải địa chỉ để tìm máy đang chạy hoặc một dịch "
        "vụ. Hãy kiểm tra nguồn này có phải máy quét được phép không, và những máy nào đã trả lời.",
    }
