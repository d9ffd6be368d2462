"""Capture loss: the sensor does not see the whole SPAN link (kernel drops)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from appliance.config import CaptureLossConfig
from appliance.events import EveRecord, make_finding

logger = logging.getLogger(__name__)


class CaptureLossAnalyzer:
    """Raises a finding when Suricata's stats show more kernel drops than allowed.

    Suricata's ``stats`` records carry cumulative counters; the analyzer compares each
    record with the previous one so the finding describes the interval, not the uptime.
    """

    name = "capture_loss"
    event_types = frozenset({"stats"})

    def __init__(self, cfg: CaptureLossConfig) -> None:
        self.cfg = cfg
        self._last: dict[str, tuple[int, int]] = {}

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """One finding per stats interval whose drop ratio crosses the threshold."""
        out = []
        for record in records:
            finding = self._check(record)
            if finding is not None:
                out.append(finding)
        return out

    def shutdown(self) -> list[bytes]:
        """No state worth reporting at exit."""
        return []

    def _check(self, record: EveRecord) -> bytes | None:
        capture = (record.data.get("stats") or {}).get("capture") or {}
        packets, drops = _int(capture.get("kernel_packets")), _int(capture.get("kernel_drops"))
        if packets is None or drops is None:
            return None
        key = str(record.data.get("in_iface") or record.data.get("host") or "")
        prev_packets, prev_drops = self._last.get(key, (0, 0))
        if packets < prev_packets or drops < prev_drops:  # Suricata restarted.
            prev_packets, prev_drops = 0, 0
        self._last[key] = (packets, drops)
        seen = (packets - prev_packets) + (drops - prev_drops)
        lost = drops - prev_drops
        if seen < self.cfg.min_packets or lost * 100 < self.cfg.max_drop_percent * seen:
            return None
        percent = 100.0 * lost / seen
        return make_finding(
            type="capture-loss",
            category="sensor-health",
            severity=2 if percent < 10 else 1,
            confidence=1.0,
            timestamp=record.head.timestamp,
            src_ip=None,
            dest_ip=None,
            explanation=_explain(percent, lost, seen),
            evidence={"kernel_packets": packets, "kernel_drops": drops, "interval_packets": seen,
                      "interval_drops": lost, "drop_percent": round(percent, 2),
                      "threshold_percent": self.cfg.max_drop_percent},  # fmt: skip
        )


def _explain(percent: float, lost: int, seen: int) -> dict[str, str]:
    return {
        "en": f"The sensor dropped {lost} of {seen} packets ({percent:.1f}%) since the "
        "previous statistics: detections may be missed. Check CPU load, capture threads "
        "and the SPAN port's bandwidth.",
        "vi": f"Cảm biến đã bỏ sót {lost} trên {seen} gói tin ({percent:.1f}%) kể từ lần "
        "thống kê trước: có thể bỏ lỡ phát hiện. Hãy kiểm tra tải CPU, số luồng bắt gói "
        "và băng thông cổng SPAN.",
    }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None
