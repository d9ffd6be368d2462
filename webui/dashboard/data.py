"""What the dashboard shows, gathered from the services in a few cheap reads.

Every figure comes from a summary the core keeps current (alert rollups per hour, risk
scores as of the last recompute, incident counts, sensor status), never from a scan of
the events, so the page costs the same at ten events or ten million. Areas that are not
installed (incidents, risk, sensors) are simply left out.

The window is the last 24 hours (or 7 days) up to now; when the newest alert is older
than the window's start (a capture analysed offline), it ends at that alert instead, so
an analysed capture shows its own day rather than an empty screen.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from appliance.service import Service

logger = logging.getLogger(__name__)

HOUR_US = 3_600_000_000
WINDOWS = {"24h": 24 * HOUR_US, "7d": 7 * 24 * HOUR_US}
TOP_N = 8


@dataclass
class Dashboard:
    """One dashboard's figures (plain data: the page and the JSON API both use it)."""

    window: str
    since_us: int
    until_us: int
    shifted: bool
    series: list[dict[str, Any]]
    severities: dict[int, int]
    open_alerts: int
    top_signatures: list[dict[str, Any]]
    top_findings: list[dict[str, Any]]
    top_hosts: list[dict[str, Any]]
    risk: dict[str, Any] | None = None
    incidents: dict[str, Any] | None = None
    sensors: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.severities.values())

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        out["severities"] = {str(k): v for k, v in self.severities.items()}
        out["total"] = self.total
        return out


Bounds = tuple[int, int, bool]


def window_bounds(service: Service, window: str, now_us: int | None = None) -> Bounds:
    """(since, until, shifted) of the window: up to now, or up to the newest alert."""
    length = WINDOWS.get(window, WINDOWS["24h"])
    now = now_us if now_us is not None else time.time_ns() // 1000
    until, shifted = now, False
    latest = service.alerts.latest_ts()
    if latest is not None and latest < now - length:
        until, shifted = latest - latest % HOUR_US + HOUR_US, True
    return until - length, until, shifted


def build(service: Service, window: str = "24h", now_us: int | None = None) -> Dashboard:
    """The dashboard for ``window`` ("24h" or "7d")."""
    window = window if window in WINDOWS else "24h"
    since, until, shifted = window_bounds(service, window, now_us)
    alerts = service.alerts
    board = Dashboard(
        window=window, since_us=since, until_us=until, shifted=shifted,
        series=alerts.over_time(since, until), severities=alerts.severity_counts(since, until),
        open_alerts=alerts.open_count(),
        top_signatures=alerts.top("sig", since, until, TOP_N, etype="alert"),
        top_findings=alerts.top("sig", since, until, TOP_N, etype="finding"),
        top_hosts=alerts.top("host", since, until, TOP_N),
    )  # fmt: skip
    board.risk = _area(board, "risk", lambda: _risk(service))
    board.incidents = _area(board, "incidents", lambda: _incidents(service))
    board.sensors = _area(board, "sensors", lambda: _sensors(service))
    return board


def _area(board: Dashboard, name: str, read: Any) -> Any:
    """An optional area's figures; None when the area is absent or fails (noted)."""
    if name not in dir(Service):
        return None
    try:
        return read()
    except Exception:  # one area's failure must not take the whole dashboard down
        logger.exception("Dashboard: the %s figures failed; shown without them.", name)
        board.notes.append(name)
        return None


def _risk(service: Service) -> dict[str, Any]:
    risk = service.risk
    network = risk.network()
    return {
        "score": int(network.score),
        "factors": [{"name": f.name, "points": f.points, "en": f.detail_en, "vi": f.detail_vi}
                    for f in network.factors][:5],
        "history": [{"day": d, "score": s} for d, s in risk.history(days=7)],
        "top": [{"ip": ip, "score": int(score.score)} for ip, score in risk.top(n=TOP_N)],
    }  # fmt: skip


def _incidents(service: Service) -> dict[str, Any]:
    incidents = service.incidents  # type: ignore[attr-defined]
    counts = incidents.counts_by_severity(open_only=True)
    page = incidents.list(limit=5)
    recent = []
    for item in page.items:
        data = item.as_json()
        data["title_vi"] = getattr(item, "title_vi", None)
        data["status"] = getattr(item, "status", None)
        recent.append(data)
    return {"by_severity": {k: int(counts.get(k, 0)) for k in
                            ("critical", "high", "medium", "low")},
            "open": int(sum(counts.values())), "recent": recent}  # fmt: skip


def _sensors(service: Service) -> list[dict[str, Any]]:
    sensors = service.sensors  # type: ignore[attr-defined]
    listed = sensors.list()
    items = listed.items if hasattr(listed, "items") and not isinstance(listed, dict) else listed
    out = []
    for item in items:
        data = item.as_json() if hasattr(item, "as_json") else dict(vars(item))
        out.append(data)
    return out


def hour_label(us: int, tz: str, with_day: bool) -> str:
    moment = datetime.fromtimestamp(us / 1e6, tz=UTC).astimezone(ZoneInfo(tz))
    return moment.strftime("%d/%m %H:00" if with_day else "%H:00")
