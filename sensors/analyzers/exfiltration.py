"""Inside hosts sending far more out of the monitored networks than they usually do.

Only connections the inside host opened count (it is the flow's source and the peer is
outside ``networks.home``): answers of inside servers to outside clients are service, not
exfiltration. Suricata reports a flow's bytes when the flow ends, so a long upload counts
in the interval (and window) where it ended.

Two rules:

- Baseline: each host's bytes sent out per ``interval_seconds`` are compared with an
  exponentially weighted mean of its earlier intervals (idle intervals count as zero).
  Once ``min_history_intervals`` have been seen, an interval above
  ``baseline_multiplier`` times the mean, and above the ``min_bytes`` floor, fires.
- Large upload: ``upload_min_bytes`` from one inside host to one outside address within
  ``upload_window_seconds`` fires with no history at all.

Baselines live in memory: a restart starts them again, and a capture file is usually far
too short (minutes; a baseline needs a day of hourly intervals), so offline analysis
mostly relies on the large-upload rule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from appliance.config import ExfiltrationConfig, NetworksConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.address import AddressSet, is_group_address
from sensors.analyzers.episode import (
    Episode,
    EpisodeTracker,
    Threshold,
    format_us,
)
from sensors.analyzers.flowrecord import FlowRecord, flow_batch
from sensors.analyzers.tally import EVIDENCE_IDS

logger = logging.getLogger(__name__)

#: An upload is reported once it sent nothing more for this long (event time).
UPLOAD_QUIET_SECONDS = 120
#: Destinations kept per host and interval, for the evidence.
MAX_DESTINATIONS = 50


@dataclass(slots=True)
class _Interval:
    nbytes: int = 0
    flows: int = 0
    destinations: dict[str, int] = field(default_factory=dict)
    flow_ids: list[int] = field(default_factory=list)
    last_us: int = 0
    last_timestamp: str = ""


@dataclass(slots=True)
class _Host:
    mean: float = 0.0
    history: int = 0
    last_closed: int | None = None
    open: dict[int, _Interval] = field(default_factory=dict)


class ExfiltrationAnalyzer:
    """Outbound volume against each inside host's own baseline, and large uploads."""

    name = "exfiltration"
    event_types = frozenset({"flow"})
    needs_networks = True

    def __init__(self, cfg: ExfiltrationConfig, networks: NetworksConfig | None = None) -> None:
        self.cfg = cfg
        self._home = AddressSet((networks or NetworksConfig()).home)
        self._exempt = AddressSet(cfg.exempt_destinations)
        self._interval_us = cfg.interval_seconds * 1_000_000
        self._delay_us = cfg.max_delay_seconds * 1_000_000
        window_us = cfg.upload_window_seconds * 1_000_000
        self._uploads = EpisodeTracker(
            window_us=window_us, threshold=Threshold(min_bytes=cfg.upload_min_bytes),
            quiet_us=UPLOAD_QUIET_SECONDS * 1_000_000, retention_us=window_us + self._delay_us,
            repeat_us=window_us, max_keys=cfg.max_hosts,
        )  # fmt: skip
        self._hosts: dict[str, _Host] = {}
        self._clock = 0
        self._next_close = 0
        self.late = 0

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """Count the batch's outbound bytes; judge the intervals that are complete."""
        batch = flow_batch(records)
        observe = self._observe
        for flow in batch.flows:
            observe(flow)
        # Judged by the log clock (when Suricata wrote the records): live it is the wall
        # clock; reading a capture it stands still, and intervals wait for the end.
        self._clock = max(self._clock, batch.clock)
        out = [self._upload_finding(e) for e in self._uploads.due(self._clock)]
        if self._clock >= self._next_close:
            self._next_close = self._clock + self._interval_us // 10
            out.extend(self._close(self._clock - self._delay_us))
        return out

    def shutdown(self) -> list[bytes]:
        """Judge what is still open, complete or not, and report open uploads."""
        out = [self._upload_finding(e) for e in self._uploads.flush()]
        out.extend(self._close(None))
        return out

    def _observe(self, flow: FlowRecord) -> None:
        src, dest, sent = flow.src_ip, flow.dest_ip, flow.counts.bytes_toserver
        # Servers repeat more than clients: the destination test is the better filter.
        if not sent or dest in self._home or src not in self._home:
            return
        if dest in self._exempt or is_group_address(dest):
            return
        end_us = flow.end_us
        obs = (end_us, flow.end, False, sent, 0, None, flow.dest_port, flow.flow_id,
               flow.community_id)  # fmt: skip
        self._uploads.add((src, dest), obs)
        host = self._hosts.get(src)
        if host is None:
            if len(self._hosts) >= self.cfg.max_hosts:
                del self._hosts[next(iter(self._hosts))]
            host = self._hosts[src] = _Host()
        index = end_us // self._interval_us
        if host.last_closed is not None and index <= host.last_closed:
            self.late += 1
            return
        interval = host.open.get(index)
        if interval is None:
            interval = host.open[index] = _Interval()
        interval.nbytes += sent
        interval.flows += 1
        if dest in interval.destinations or len(interval.destinations) < MAX_DESTINATIONS:
            interval.destinations[dest] = interval.destinations.get(dest, 0) + sent
        if flow.flow_id is not None and len(interval.flow_ids) < EVIDENCE_IDS:
            interval.flow_ids.append(flow.flow_id)
        if flow.end_us >= interval.last_us:
            interval.last_us, interval.last_timestamp = flow.end_us, flow.end

    def _close(self, before_us: int | None) -> list[bytes]:
        """Judge every interval that ended before ``before_us`` (None: all of them)."""
        out = []
        for address, host in self._hosts.items():
            for index in sorted(host.open):
                if before_us is not None and (index + 1) * self._interval_us > before_us:
                    break
                finding = self._judge(address, host, index, host.open.pop(index))
                if finding is not None:
                    out.append(finding)
        return out

    def _judge(self, address: str, host: _Host, index: int, interval: _Interval) -> bytes | None:
        """Compare an interval with the host's baseline, then fold it into the baseline."""
        weight = self.cfg.baseline_weight
        if host.last_closed is not None:
            idle = index - host.last_closed - 1
            host.mean *= (1 - weight) ** idle
            host.history += idle
        limit = max(float(self.cfg.min_bytes), self.cfg.baseline_multiplier * host.mean)
        finding = None
        if host.history >= self.cfg.min_history_intervals and interval.nbytes >= limit:
            finding = self._baseline_finding(address, host, index, interval, limit)
        value = min(float(interval.nbytes), limit)  # a burst must not become the norm at once
        host.mean = value if host.last_closed is None else (1 - weight) * host.mean + weight * value
        host.history += 1
        host.last_closed = index
        return finding

    def _baseline_finding(
        self, address: str, host: _Host, index: int, interval: _Interval, limit: float
    ) -> bytes:
        top = sorted(interval.destinations.items(), key=lambda kv: -kv[1])
        start_us = index * self._interval_us
        evidence: dict[str, Any] = {
            "rule": "baseline", "interval_start": format_us(start_us),
            "interval_end": format_us(start_us + self._interval_us),
            "bytes_out": interval.nbytes, "flows": interval.flows,
            "baseline_bytes": round(host.mean), "threshold_bytes": round(limit),
            "multiplier": self.cfg.baseline_multiplier, "history_intervals": host.history,
            "destinations": [{"ip": ip, "bytes": n} for ip, n in top[:10]],
            "destination_count": len(top), "flow_ids": interval.flow_ids,
        }  # fmt: skip
        ratio = interval.nbytes / max(host.mean, 1.0)
        return make_finding(
            type="data-exfiltration", category="exfiltration", severity=2,
            confidence=min(0.9, 0.45 + 0.15 * ratio / self.cfg.baseline_multiplier),
            timestamp=interval.last_timestamp, src_ip=address, dest_ip=top[0][0],
            explanation=_explain_baseline(address, interval.nbytes, host.mean, top[0][0]),
            evidence=evidence,
        )  # fmt: skip

    def _upload_finding(self, episode: Episode) -> bytes:
        src, dest = cast(tuple[str, str], episode.key)
        tally = episode.tally
        ports = sorted(cast(set[int], tally.others))
        evidence: dict[str, Any] = {
            "rule": "large-upload", "first": format_us(tally.first_us),
            "last": format_us(tally.last_us), "bytes_out": tally.nbytes, "flows": tally.flows,
            "dest_ports": ports[:20], "threshold_bytes": self.cfg.upload_min_bytes,
            "window_seconds": self.cfg.upload_window_seconds,
            "flow_ids": tally.flow_ids, "community_ids": tally.community_ids,
        }  # fmt: skip
        return make_finding(
            type="data-exfiltration", category="exfiltration", severity=2, confidence=0.6,
            timestamp=tally.last_timestamp, src_ip=src, dest_ip=dest,
            explanation=_explain_upload(src, dest, tally.nbytes, self.cfg.upload_window_seconds),
            evidence=evidence,
        )  # fmt: skip


def _explain_baseline(host: str, nbytes: int, mean: float, top: str) -> dict[str, str]:
    mb, usual = nbytes / 1e6, mean / 1e6
    return {
        "en": f"{host} sent {mb:.0f} MB out of the network in one interval, against a usual "
        f"{usual:.1f} MB; most went to {top}. Check which process sent it and whether the "
        "destination is a sanctioned service (backup, cloud sync); if not, treat it as "
        "possible data theft.",
        "vi": f"{host} đã gửi {mb:.0f} MB ra ngoài mạng trong một khoảng thời gian, trong khi "
        f"bình thường chỉ khoảng {usual:.1f} MB; phần lớn tới {top}. Hãy kiểm tra tiến trình "
        "nào đã gửi và đích đến có phải dịch vụ được phép không (sao lưu, đồng bộ đám mây); "
        "nếu không, hãy coi đây là khả năng bị đánh cắp dữ liệu.",
    }


def _explain_upload(host: str, dest: str, nbytes: int, seconds: int) -> dict[str, str]:
    mb, minutes = nbytes / 1e6, seconds // 60
    return {
        "en": f"{host} uploaded {mb:.0f} MB to {dest}, outside the network, within {minutes} "
        "minutes. Check which process sent it and whether the destination is a sanctioned "
        "service (backup, cloud sync); if not, treat it as possible data theft.",
        "vi": f"{host} đã tải lên {mb:.0f} MB tới {dest} (bên ngoài mạng) trong vòng {minutes} "
        "phút. Hãy kiểm tra tiến trình nào đã gửi và đích đến có phải dịch vụ được phép không "
        "(sao lưu, đồng bộ đám mây); nếu không, hãy coi đây là khả năng bị đánh cắp dữ liệu.",
    }
