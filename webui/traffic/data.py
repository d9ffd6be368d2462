"""View models of the traffic pages: the time window, chart configs, formatted rates."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from appliance.traffic.fold import newest_minute
from appliance.traffic.service import TrafficService

#: Windows offered on the pages: code -> span in microseconds.
WINDOWS: dict[str, int] = {"1h": 3_600_000_000, "24h": 86_400_000_000,
                           "7d": 7 * 86_400_000_000, "30d": 30 * 86_400_000_000}  # fmt: skip
DIMENSIONS = ("app", "service", "talker", "conversation", "country", "asn")


def window_title(code: str) -> str:
    return {"1h": _("Last hour"), "24h": _("Last 24 hours"), "7d": _("Last 7 days"),
            "30d": _("Last 30 days")}.get(code, code)  # fmt: skip


def dimension_title(dim: str) -> str:
    return {"app": _("Applications"), "service": _("Services"), "talker": _("Top talkers"),
            "conversation": _("Conversations"), "country": _("Remote countries"),
            "asn": _("Remote autonomous systems")}[dim]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Window:
    """The range a page shows; ``shifted`` when it ends at the newest traffic, not now."""

    code: str
    since_us: int
    until_us: int
    shifted: bool


def window(traffic: TrafficService, code: str) -> Window:
    """``code`` (a key of :data:`WINDOWS`) ending now, or at the newest traffic when the
    store holds only older traffic (an analysed capture)."""
    code = code if code in WINDOWS else "24h"
    now = time.time_ns() // 1000
    newest = newest_minute(traffic.conn)
    until, shifted = now, False
    if newest is not None and newest + 60_000_000 < now - WINDOWS[code]:
        until, shifted = newest + 60_000_000, True
    since = until - WINDOWS[code]
    if code in ("7d", "30d"):  # whole local days, today included: one row per day and key
        since = traffic.settings.day_start(until) - (WINDOWS[code] - 86_400_000_000)
    return Window(code, since, until, shifted)


def rate(bits: float) -> str:
    """1.2 Mbit/s."""
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if bits < 1000 or unit == "Gbit/s":
            return f"{bits:,.1f} {unit}"
        bits /= 1000
    return f"{bits:,.1f} Gbit/s"


def _unit(peak_bits: float) -> tuple[str, float]:
    """The unit a chart whose highest value is ``peak_bits`` reads best in."""
    for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if peak_bits >= size:
            return unit, size
    return "bit/s", 1.0


def _labels(points: list[Any], fmt: Any) -> list[str]:
    return [fmt(p.ts if hasattr(p, "ts") else p["ts"]) for p in points]


def throughput_chart(points: list[Any], fmt: Any) -> dict[str, Any]:
    """Chart.js config: throughput as a line, SPAN (kernel) drops as bars on their own axis."""
    unit, size = _unit(max((p.bits_per_s for p in points), default=0.0))
    return {"type": "bar", "data": {"labels": _labels(points, fmt), "datasets": [
                {"type": "line", "label": _("Throughput (%(unit)s)", unit=unit), "yAxisID": "y",
                 "data": [round(p.bits_per_s / size, 3) for p in points],
                 "borderColor": "#0b5cab", "backgroundColor": "rgba(11,92,171,.12)",
                 "fill": True, "tension": 0.2, "pointRadius": 0 if len(points) > 60 else 3},
                {"type": "bar", "label": _("SPAN drops (packets)"), "yAxisID": "drops",
                 "data": [p.drops for p in points], "backgroundColor": "#c0392b"}]},
            "options": {"plugins": {"legend": {"position": "bottom"}},
                        "scales": {"y": {"beginAtZero": True, "position": "left"},
                                   "drops": {"beginAtZero": True, "position": "right",
                                             "grid": {"drawOnChartArea": False},
                                             "ticks": {"precision": 0}},
                                   "x": {"grid": {"display": False},
                                         "ticks": {"maxTicksLimit": 12}}}}}  # fmt: skip


def host_chart(points: list[dict[str, float]], fmt: Any) -> dict[str, Any]:
    """Chart.js config: a host's traffic in and out."""
    unit, size = _unit(max((max(p["bits_in_per_s"], p["bits_out_per_s"]) for p in points),
                           default=0.0))  # fmt: skip
    radius = 0 if len(points) > 60 else 3
    return {"type": "line", "data": {"labels": _labels(points, fmt), "datasets": [
                {"label": _("In (%(unit)s)", unit=unit),
                 "data": [round(p["bits_in_per_s"] / size, 3) for p in points],
                 "borderColor": "#0b5cab", "pointRadius": radius, "tension": 0.2},
                {"label": _("Out (%(unit)s)", unit=unit),
                 "data": [round(p["bits_out_per_s"] / size, 3) for p in points],
                 "borderColor": "#e67e22", "pointRadius": radius, "tension": 0.2}]},
            "options": {"plugins": {"legend": {"position": "bottom"}},
                        "scales": {"y": {"beginAtZero": True},
                                   "x": {"grid": {"display": False},
                                         "ticks": {"maxTicksLimit": 12}}}}}  # fmt: skip
