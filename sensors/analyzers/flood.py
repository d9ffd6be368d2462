"""SYN floods and UDP floods (reflection/amplification or direct) against one host."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from appliance.config import FloodConfig, NetworksConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet, is_group_address
from sensors.analyzers.episode import (
    Episode,
    EpisodeTracker,
    Threshold,
    format_us,
)
from sensors.analyzers.flowrecord import ACK, SYN, FlowRecord, flow_batch
from sensors.analyzers.tally import Tally

logger = logging.getLogger(__name__)

#: Sources or ports listed in the evidence.
EVIDENCE_ITEMS = 20


class FloodAnalyzer:
    """Floods of one target host, from Suricata's flow records.

    - SYN flood: within ``window_seconds``, at least ``syn_min_half_open`` TCP connection
      attempts to the host never complete (the source never ACKs: spoofed sources cannot),
      they are most of the host's attempts, and they come from many sources (spoofed or a
      botnet) or aim at few ports (a single-source flood; many ports are a port scan).
    - UDP reflection/amplification: the host receives UDP from reflection ports (DNS, NTP,
      SSDP, memcached...) of many servers, answers to queries it never sent (its address
      was spoofed), at least ``udp_min_bytes`` in the window. Inside servers answering one
      outside host with ``udp_min_amplification`` times its bytes are abused reflectors.
    - Direct UDP flood: ``udp_direct_min_bytes`` of unanswered UDP toward the host.
    """

    name = "flood"
    event_types = frozenset({"flow"})
    needs_networks = True

    def __init__(self, cfg: FloodConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        self._exempt = AddressSet(cfg.exempt_targets)
        self._has_exempt = bool(self._exempt)
        self._home = AddressSet(networks.home if networks else [])
        self._reflection_ports = frozenset(cfg.udp_reflection_ports)
        common = {
            "window_us": cfg.window_seconds * 1_000_000,
            "quiet_us": cfg.report_delay_seconds * 1_000_000,
            "retention_us": cfg.max_delay_seconds * 1_000_000,
            "repeat_us": cfg.max_delay_seconds * 1_000_000,
            "max_keys": cfg.max_tracked,
        }
        syn = Threshold(min_failed=cfg.syn_min_half_open, accept=self._is_syn_flood)
        self._syn = EpisodeTracker(threshold=syn, **common)
        amp = Threshold(min_bytes=cfg.udp_min_bytes, accept=self._is_reflection)
        self._amp = EpisodeTracker(threshold=amp, **common)
        abused = Threshold(min_bytes=cfg.udp_min_bytes, accept=self._is_amplified)
        self._abused = EpisodeTracker(threshold=abused, **common)
        direct = Threshold(min_bytes=cfg.udp_direct_min_bytes)
        self._direct = EpisodeTracker(threshold=direct, **common)
        self._trackers = (self._syn, self._amp, self._abused, self._direct)

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Count the batch's flows; report the floods that have ended."""
        batch = flow_batch(records)
        observe_tcp, observe_udp = self._observe_tcp, self._observe_udp
        for flow in batch.flows:
            proto = flow.proto
            if proto == "TCP":
                if flow.fts & SYN:  # the source sent a SYN: a connection attempt
                    observe_tcp(flow)
            elif proto == "UDP":
                observe_udp(flow)
        return self._report([t.due(batch.clock) for t in self._trackers])

    def shutdown(self) -> list[bytes]:
        """Report the floods still open at the end of input."""
        return self._report([t.flush() for t in self._trackers])

    def _observe_tcp(self, flow: FlowRecord) -> None:
        counts, dest = flow.counts, flow.dest_ip
        if not flow.fts & SYN or counts.pkts_toserver == 0 or self._ignored(dest):
            return
        half_open = not flow.fts & ACK
        self._syn.add(dest, (
            flow.start_cache, counts.end or counts.start, half_open, 0, 0,
            flow.src_ip if half_open else None, flow.dest_port if half_open else None,
            flow.flow_id, flow.community_id,
        ))  # fmt: skip

    def _observe_udp(self, flow: FlowRecord) -> None:
        # Orient by the reflection port: Suricata makes the side with a well-known port the
        # server even when its answer is the first packet seen.
        c = flow.counts
        if flow.dest_port in self._reflection_ports:
            server, port, target = flow.dest_ip, flow.dest_port, flow.src_ip
            sent, asked, target_pkts = c.bytes_toclient, c.bytes_toserver, c.pkts_toserver
        elif flow.src_port in self._reflection_ports:
            server, port, target = flow.src_ip, flow.src_port, flow.dest_ip
            sent, asked, target_pkts = c.bytes_toserver, c.bytes_toclient, c.pkts_toclient
        else:
            server, port, target = flow.src_ip, flow.dest_port, flow.dest_ip
            sent, target_pkts = c.bytes_toserver, c.pkts_toclient
            if c.pkts_toserver and not target_pkts and not self._ignored(target):
                _add(self._direct, target, flow, True, sent, 0, server, port)
            return
        if not sent or self._ignored(target):
            return
        unasked = target_pkts == 0
        _add(self._amp, target, flow, unasked, sent, asked, server, port)
        if not unasked and server in self._home and target not in self._home:
            _add(self._abused, target, flow, False, sent, asked, server, port)

    def _ignored(self, target: str) -> bool:
        return is_group_address(target) or (self._has_exempt and target in self._exempt)

    def _is_syn_flood(self, tally: Tally) -> bool:
        cfg = self.cfg
        if tally.failed_share < cfg.syn_min_share:
            return False
        return len(tally.items) >= cfg.syn_min_sources or len(tally.others) <= cfg.syn_max_ports

    def _is_reflection(self, tally: Tally) -> bool:
        """Answers nobody asked for, from many servers."""
        return len(tally.items) >= self.cfg.udp_min_reflectors and tally.failed_share >= 0.5

    def _is_amplified(self, tally: Tally) -> bool:
        """Inside servers answering one outside host with far more than it asked."""
        return tally.nbytes >= self.cfg.udp_min_amplification * max(tally.nbytes_back, 1)

    def _report(self, episodes: list[list[Episode]]) -> list[bytes]:
        syn, amp, abused, direct = episodes
        out = [self._finding(e, "syn-flood", _explain_syn) for e in syn]
        out.extend(self._finding(e, "udp-flood", _explain_amp) for e in amp)
        out.extend(self._finding(e, "udp-flood", _explain_abused) for e in abused)
        out.extend(self._finding(e, "udp-flood", _explain_direct) for e in direct)
        return out

    def _finding(
        self, episode: Episode, kind: str, explain: Callable[[str, Tally], dict[str, str]]
    ) -> bytes:
        target = str(episode.key)
        tally = episode.tally
        sources = sorted(str(s) for s in tally.items)
        ports = sorted(cast(set[int], tally.others))
        seconds = max((tally.last_us - tally.first_us) / 1e6, 1.0)
        evidence: dict[str, Any] = {
            "first": format_us(tally.first_us), "last": format_us(tally.last_us),
            "flows": tally.flows, "source_count": len(sources),
            "sources": sources[:EVIDENCE_ITEMS], "window_seconds": self.cfg.window_seconds,
            "flow_ids": tally.flow_ids, "community_ids": tally.community_ids,
        }  # fmt: skip
        if kind == "syn-flood":
            evidence.update(half_open=tally.failed, half_open_share=round(tally.failed_share, 3),
                            dest_ports=ports[:EVIDENCE_ITEMS], dest_port_count=len(ports),
                            rate_per_second=round(tally.failed / seconds, 1),
                            threshold=self.cfg.syn_min_half_open)  # fmt: skip
        else:
            evidence.update(bytes=tally.nbytes, bytes_asked=tally.nbytes_back,
                            unanswered_share=round(tally.failed_share, 3),
                            source_ports=ports[:EVIDENCE_ITEMS],
                            bits_per_second=round(8 * tally.nbytes / seconds),
                            threshold_bytes=self.cfg.udp_direct_min_bytes
                            if explain is _explain_direct else self.cfg.udp_min_bytes)  # fmt: skip
        one_source = sources[0] if len(sources) == 1 else None
        return make_finding(
            type=kind, category="impact", severity=1 if len(sources) >= 10 else 2,
            confidence=0.9 if tally.failed_share >= 0.9 else 0.7,
            timestamp=tally.last_timestamp, src_ip=one_source, dest_ip=target,
            explanation=explain(target, tally), evidence=evidence,
            proto="TCP" if kind == "syn-flood" else "UDP",
        )  # fmt: skip


def _add(tracker: EpisodeTracker, target: str, flow: FlowRecord, failed: bool, sent: int,
         asked: int, server: str, port: int) -> None:  # fmt: skip
    tracker.add(target, (flow.start_us, flow.end, failed, sent, asked, server, port,
                         flow.flow_id, flow.community_id))  # fmt: skip


def _span(tally: Tally) -> str:
    return f"{format_us(tally.first_us)} - {format_us(tally.last_us)}"


def _explain_syn(target: str, tally: Tally) -> dict[str, str]:
    n, share, sources = tally.failed, round(100 * tally.failed_share), len(tally.items)
    return {
        "en": f"{target} received {n} TCP connection attempts that were never completed "
        f"({share}% of its attempts) from {sources} sources in {_span(tally)}: a SYN flood. "
        "Check the service's availability and SYN cookies, and ask the upstream provider to "
        "filter if the link is saturated.",
        "vi": f"{target} nhận {n} yêu cầu kết nối TCP không bao giờ hoàn tất ({share}% số yêu "
        f"cầu) từ {sources} nguồn trong khoảng {_span(tally)}: tấn công SYN flood. Hãy kiểm "
        "tra dịch vụ còn hoạt động không, bật SYN cookies, và đề nghị nhà cung cấp đường "
        "truyền lọc chặn nếu đường truyền bị nghẽn.",
    }


def _explain_amp(target: str, tally: Tally) -> dict[str, str]:
    mb, servers = tally.nbytes / 1e6, len(tally.items)
    return {
        "en": f"{target} received {mb:.1f} MB of UDP answers from {servers} servers on "
        f"reflection ports in {_span(tally)}, answers to queries it did not send (or far "
        "larger than them): a reflection/amplification flood. Check the target's bandwidth, "
        "and that inside DNS/NTP/SSDP servers do not answer the Internet.",
        "vi": f"{target} nhận {mb:.1f} MB gói trả lời UDP từ {servers} máy chủ qua các cổng "
        f"phản xạ trong khoảng {_span(tally)}, là trả lời cho những truy vấn nó không gửi "
        "(hoặc lớn hơn nhiều so với truy vấn): tấn công phản xạ/khuếch đại UDP. Hãy kiểm tra "
        "băng thông của máy bị nhắm, và bảo đảm các máy chủ DNS/NTP/SSDP bên trong không trả "
        "lời Internet.",
    }


def _explain_abused(target: str, tally: Tally) -> dict[str, str]:
    mb, servers = tally.nbytes / 1e6, ", ".join(sorted(str(s) for s in tally.items)[:5])
    ratio = tally.nbytes / max(tally.nbytes_back, 1)
    return {
        "en": f"Inside servers ({servers}) sent {target} {mb:.1f} MB of UDP answers in "
        f"{_span(tally)}, {ratio:.0f} times the bytes of its queries: they are being used as "
        "reflectors to flood that address, whose queries were spoofed. Stop the service from "
        "answering the Internet (e.g. no open recursion), or rate-limit its answers.",
        "vi": f"Các máy chủ bên trong ({servers}) đã gửi tới {target} {mb:.1f} MB gói trả lời "
        f"UDP trong khoảng {_span(tally)}, gấp {ratio:.0f} lần dung lượng truy vấn: chúng đang "
        "bị lợi dụng làm máy phản xạ để tấn công địa chỉ đó, vốn bị giả mạo trong truy vấn. "
        "Hãy ngừng cho dịch vụ trả lời Internet (ví dụ tắt phân giải đệ quy mở) hoặc giới hạn "
        "tốc độ trả lời.",
    }


def _explain_direct(target: str, tally: Tally) -> dict[str, str]:
    mb, sources = tally.nbytes / 1e6, len(tally.items)
    return {
        "en": f"{target} received {mb:.0f} MB of UDP that it never answered, from {sources} "
        f"sources in {_span(tally)}: a UDP flood. Check the target's bandwidth and whether "
        "the traffic is a legitimate one-way stream (e.g. logs to a collector).",
        "vi": f"{target} nhận {mb:.0f} MB gói UDP mà nó không hề trả lời, từ {sources} nguồn "
        f"trong khoảng {_span(tally)}: tấn công UDP flood. Hãy kiểm tra băng thông của máy bị "
        "nhắm và xem đây có phải luồng một chiều hợp lệ không (ví dụ nhật ký gửi tới máy thu).",
    }
