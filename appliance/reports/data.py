"""What goes into the daily report, gathered through the service interface only.

:func:`collect` asks each area for one local day (midnight to midnight in the
appliance's time zone). An area whose service is not installed yields an empty section
that the report shows as "no data", never an error.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass
class HostRow:
    ip: str
    name: str | None
    owner: str | None
    criticality: str
    score: int
    reasons_en: list[str] = field(default_factory=list)
    reasons_vi: list[str] = field(default_factory=list)


@dataclass
class IncidentRow:
    id: int
    title_en: str
    title_vi: str
    severity: str
    status: str
    stages: list[str]
    attackers: list[str]
    victims: list[str]
    first_seen: int


@dataclass
class AssetRow:
    ip: str
    name: str | None
    vendor: str | None
    os_guess: str | None
    first_seen: int | None


@dataclass
class SensorRow:
    name: str
    status: str  # ok, warning, down
    detail_en: str
    detail_vi: str


@dataclass
class ReportData:
    """One day's report content; None means the area has no data (not installed)."""

    day: dt.date
    tz: str
    start_us: int
    end_us: int
    generated_us: int
    organisation: str = ""
    network_score: int | None = None
    network_factors: list[Any] = field(default_factory=list)
    trend: list[tuple[dt.date, int | None]] = field(default_factory=list)
    top_hosts: list[HostRow] | None = None
    incident_summary: dict[str, int] | None = None
    open_by_severity: dict[str, int] = field(default_factory=dict)
    incidents: list[IncidentRow] = field(default_factory=list)
    severity_counts: dict[int, int] | None = None
    categories: list[tuple[str, int]] = field(default_factory=list)
    signatures: list[tuple[str, int, int]] = field(default_factory=list)
    hourly: list[int] = field(default_factory=list)
    new_assets: list[AssetRow] | None = None
    sensors: list[SensorRow] = field(default_factory=list)
    rules_count: int | None = None
    rules_age_days: float | None = None
    days_left: dict[str, float | None] = field(default_factory=dict)
    traffic: dict[str, Any] | None = None

    @property
    def alerts_total(self) -> int:
        return sum((self.severity_counts or {}).values())

    @property
    def quiet(self) -> bool:
        """Nothing that needs a manager's attention: the one-page report."""
        opened = (self.incident_summary or {}).get("opened", 0)
        high = (self.severity_counts or {}).get(1, 0)
        problems = [s for s in self.sensors if s.status != "ok"]
        return opened == 0 and high == 0 and not problems and (self.network_score or 0) < 50


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[int, int]:
    """Local midnight to the next local midnight, in UTC µs."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return int(start.timestamp() * 1e6), int(end.timestamp() * 1e6)


def _area(service: Service, name: str) -> Any:
    """``Service.<name>``, or None when that area is not part of this installation."""
    try:
        return getattr(service, name)
    except (AttributeError, ImportError) as err:
        logger.info("Report section without data: area=%s reason=%s.", name, err)
        return None


def collect(service: Service, day: dt.date) -> ReportData:
    """Everything the report shows for ``day`` (appliance-local)."""
    cfg = service.cfg
    tz = ZoneInfo(cfg.timezone)
    start, end = day_bounds(day, tz)
    data = ReportData(day, cfg.timezone, start, end, int(time.time() * 1e6),
                      organisation=cfg.core.report.organisation)  # fmt: skip
    for step in (_risk, _incidents, _alerts, _assets, _sensors, _rules, _retention, _traffic):
        try:
            step(service, data)
        except Exception:  # one failing section must not cost the whole report
            logger.exception("Report section failed: section=%s.", step.__name__.strip("_"))
    return data


def _risk(service: Service, data: ReportData) -> None:
    risk = _area(service, "risk")
    if risk is None:
        return
    network = risk.network()
    data.network_score, data.network_factors = network.score, list(network.factors)
    history = dict(risk.history(None, days=7, now_us=data.end_us - 1))
    tz = ZoneInfo(data.tz)
    for back in range(6, -1, -1):
        d = data.day - dt.timedelta(days=back)
        start, _ = day_bounds(d, tz)
        data.trend.append((d, history.get(start)))
    if data.trend and data.trend[-1][1] is None:
        data.trend[-1] = (data.day, network.score)
    assets = _area(service, "assets")
    data.top_hosts = []
    for ip, score in risk.top(5):
        detail = assets.get(ip) if assets is not None else None
        asset = detail.asset if detail is not None else None
        top = sorted(score.factors, key=lambda f: -f.points)[:3]
        data.top_hosts.append(HostRow(
            ip, asset.name if asset else None, asset.owner if asset else None,
            asset.criticality if asset else "normal", score.score,
            [f.detail_en for f in top], [f.detail_vi for f in top],
        ))  # fmt: skip


def _incidents(service: Service, data: ReportData) -> None:
    incidents = _area(service, "incidents")
    if incidents is None:
        return
    data.incident_summary = dict(incidents.summary(data.start_us, data.end_us))
    data.open_by_severity = dict(incidents.counts_by_severity(open_only=True))
    page = incidents.list(since_us=data.start_us, until_us=data.end_us, limit=200)
    rows = sorted(page.items, key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), -i.last_seen))
    data.incidents = [IncidentRow(
        i.id, i.title, i.title_vi, i.severity, i.status, list(i.stages), list(i.attackers),
        list(i.victims), i.first_seen) for i in rows[:8]]  # fmt: skip


def _alerts(service: Service, data: ReportData) -> None:
    alerts = _area(service, "alerts")
    if alerts is None:
        return
    data.severity_counts = alerts.severity_counts(data.start_us, data.end_us)
    data.categories = [(r["key"], r["count"]) for r in alerts.top(
        "category", data.start_us, data.end_us, n=8)]  # fmt: skip
    data.signatures = [(r["label"], r["count"], r["severity"]) for r in alerts.top(
        "sig", data.start_us, data.end_us, n=8, etype="alert")]  # fmt: skip
    hours = alerts.over_time(data.start_us, data.end_us)
    data.hourly = [sum(v for k, v in h.items() if k != "hour") for h in hours][:24]


def _assets(service: Service, data: ReportData) -> None:
    assets = _area(service, "assets")
    if assets is None:
        return
    new = [a for a in assets.new_since(data.start_us)
           if a.first_seen is not None and a.first_seen < data.end_us]  # fmt: skip
    data.new_assets = [AssetRow(a.ip, a.name, a.vendor, a.os_guess, a.first_seen)
                       for a in sorted(new, key=lambda a: a.first_seen or 0)]  # fmt: skip


_SENSOR_STATUS = {"ok": "ok", "warn": "warning", "down": "down", "pending": "warning"}


def _sensors(service: Service, data: ReportData) -> None:
    """Every sensor's state (``Service.sensors``) with the health checks' open issues."""
    import json

    rows = service.state.query("SELECT value FROM kv WHERE key = 'health.active'")
    active = json.loads(rows[0]["value"]) if rows else {}
    issues: dict[str, list[dict[str, Any]]] = {}
    for issue in active.values():
        issues.setdefault(issue["sensor"], []).append(issue)
    sensors = _area(service, "sensors")
    known = [s for s in (sensors.list() if sensors is not None else [])
             if s.status in _SENSOR_STATUS]  # fmt: skip
    states = {s.name: (_SENSOR_STATUS[s.status], list(s.notes), list(s.notes_vi))
              for s in known}  # fmt: skip
    for name in sorted(set(states) | set(issues) | {service.cfg.sensor.name}):
        status, en, vi = states.get(name, ("ok", [], []))
        for issue in issues.get(name, []):
            en.append(issue["en"].rstrip("."))
            vi.append(issue["vi"].rstrip("."))
            worst = "down" if issue["severity"] == 1 else "warning"
            status = "down" if "down" in (status, worst) else worst
        if not en:
            data.sensors.append(SensorRow(name, status, "Capturing normally.",
                                          "Đang thu thập bình thường."))  # fmt: skip
        else:
            data.sensors.append(SensorRow(name, status, "; ".join(en) + ".",
                                          "; ".join(vi) + "."))  # fmt: skip


def _rules(service: Service, data: ReportData) -> None:
    from appliance.suricata.rules import rule_count

    path = service.cfg.rules_dir / "suricata.rules"
    if path.exists():
        data.rules_count = rule_count(path)
        data.rules_age_days = (data.generated_us / 1e6 - path.stat().st_mtime) / 86400


def _retention(service: Service, data: ReportData) -> None:
    from appliance.jobs.tasks import retention_forecast

    for kind, usage in retention_forecast(service).items():
        data.days_left[kind] = usage.get("days_left")


def _traffic(service: Service, data: ReportData) -> None:
    traffic = _area(service, "traffic")
    if traffic is None:
        return
    data.traffic = dict(traffic.daily(data.start_us))
    limit = service.cfg.core.health.max_drop_percent
    for cap in data.traffic.get("capture", []):
        percent = 100.0 * float(cap.get("drop_ratio", 0.0))
        if percent <= limit:
            continue
        where = f"{cap['sensor']}/{cap['iface']}" if cap.get("iface") else str(cap["sensor"])
        data.sensors.append(SensorRow(
            where, "warning",
            f"{percent:.1f}% of packets dropped on this day (limit {limit}%).",
            f"Bỏ sót {percent:.1f}% gói tin trong ngày (ngưỡng {limit}%).",
        ))  # fmt: skip
