"""Sensor health: silent SPAN ports, capture loss, Suricata down, clock skew, stale rules.

:func:`assess` is pure: it turns what was observed into :class:`HealthIssue` objects.
:func:`check_health` gathers the observations (the sensors' ``stats`` records in the
event store, the Suricata sockets, the active ruleset), records each NEW issue as a
``sensor-health`` finding in the event store and returns the issues for notification.
An issue that persists is reported once; when it clears, it is logged as recovered.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.config_core import HealthConfig
from appliance.events import decode_line, make_finding
from appliance.store import EventQuery

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

_MIN_US = 60 * 1_000_000
_SOURCE_FINGERPRINT = b"spanwatch-core/health"
_KV_ACTIVE = "health.active"
_KV_OFFSET = "health.offset"


@dataclass(frozen=True, slots=True)
class SensorSample:
    """One sensor's capture counters from a stats record."""

    sensor: str
    ts: int  # UTC µs of the record
    packets: int
    drops: int


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything the health checks look at, gathered at ``now``."""

    now: int
    samples: list[SensorSample] = field(default_factory=list)
    sockets_down: list[str] = field(default_factory=list)
    rules_mtime: float | None = None
    expect_capture: bool = True


@dataclass(frozen=True, slots=True)
class HealthIssue:
    """One problem, in both languages, with its evidence."""

    check: str  # silent, drops, suricata-down, clock-skew, stale-rules
    sensor: str
    severity: int  # 1 high, 2 medium, 3 low (as findings)
    en: str
    vi: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.check}:{self.sensor}"


def assess(obs: Observation, cfg: HealthConfig, local_sensor: str) -> list[HealthIssue]:
    """The health issues in ``obs`` (pure)."""
    issues: list[HealthIssue] = []
    by_sensor: dict[str, list[SensorSample]] = {}
    for sample in sorted(obs.samples, key=lambda s: s.ts):
        by_sensor.setdefault(sample.sensor, []).append(sample)
    if obs.expect_capture and not by_sensor:
        by_sensor[local_sensor] = []
    for sensor, samples in sorted(by_sensor.items()):
        issues += _capture_issues(sensor, samples, obs.now, cfg)
    for sock in obs.sockets_down:
        issues.append(HealthIssue(
            "suricata-down", local_sensor, 1,
            f"Suricata is not answering on its socket {sock}.",
            f"Suricata không phản hồi qua socket {sock}.", {"socket": sock},
        ))  # fmt: skip
    if obs.rules_mtime is not None:
        age = (obs.now / 1e6 - obs.rules_mtime) / 86400
        if age > cfg.max_rule_age_days:
            issues.append(HealthIssue(
                "stale-rules", local_sensor, 3,
                f"The rules were last updated {age:.0f} days ago.",
                f"Bộ luật được cập nhật lần cuối cách đây {age:.0f} ngày.",
                {"age_days": round(age, 1)},
            ))  # fmt: skip
    return issues


def _capture_issues(
    sensor: str, samples: list[SensorSample], now: int, cfg: HealthConfig
) -> list[HealthIssue]:
    window = cfg.silent_minutes * _MIN_US
    recent = [s for s in samples if s.ts >= now - window]
    out: list[HealthIssue] = []
    future = [s for s in samples if s.ts > now + cfg.max_skew_seconds * 1_000_000]
    if future:
        skew = (max(s.ts for s in future) - now) / 1e6
        out.append(HealthIssue(
            "clock-skew", sensor, 2,
            f"Sensor {sensor}'s clock is {skew:.0f} s ahead of the center.",
            f"Đồng hồ của cảm biến {sensor} nhanh hơn trung tâm {skew:.0f} giây.",
            {"skew_seconds": round(skew)},
        ))  # fmt: skip
    packets = [s.packets for s in recent]
    if len(recent) < 2 or max(packets) <= min(packets):
        out.append(HealthIssue(
            "silent", sensor, 1,
            f"No packets on sensor {sensor} for {cfg.silent_minutes} minutes: "
            "check the SPAN port and the cable.",
            f"Cảm biến {sensor} không nhận gói tin nào trong {cfg.silent_minutes} phút: "
            "kiểm tra cổng SPAN và cáp.",
            {"minutes": cfg.silent_minutes, "stats_records": len(recent)},
        ))  # fmt: skip
        return out
    got = max(packets) - min(packets)
    dropped = max(s.drops for s in recent) - min(s.drops for s in recent)
    percent = 100.0 * dropped / max(1, got + dropped)
    if percent > cfg.max_drop_percent:
        out.append(HealthIssue(
            "drops", sensor, 2,
            f"Sensor {sensor} dropped {percent:.1f}% of packets "
            f"(limit {cfg.max_drop_percent}%).",
            f"Cảm biến {sensor} bỏ sót {percent:.1f}% gói tin "
            f"(ngưỡng {cfg.max_drop_percent}%).",
            {"drop_percent": round(percent, 2), "packets": got, "drops": dropped},
        ))  # fmt: skip
    return out


def sample_of(record: dict[str, Any], sensor: str, ts: int) -> SensorSample | None:
    """Capture counters of a Suricata stats record, or None."""
    capture = (record.get("stats") or {}).get("capture") or {}
    if "kernel_packets" not in capture:
        return None
    return SensorSample(
        sensor, ts, int(capture.get("kernel_packets", 0)), int(capture.get("kernel_drops", 0))
    )


def observe(service: Service, now: int) -> Observation:
    """Gather the observations from the store, the sockets and the ruleset."""
    from appliance.errors import SuricataError
    from appliance.events import parse_timestamp
    from appliance.suricata.control import SuricataControl

    cfg = service.cfg
    since = now - max(cfg.core.health.silent_minutes * 2, 60) * _MIN_US
    samples = []
    for rec in service.store.events(EventQuery(event_type="stats", since_us=since)):
        ts = parse_timestamp(str(rec.get("timestamp", "")))
        sample = sample_of(rec, str(rec.get("sensor") or cfg.sensor.name), ts)
        if sample is not None:
            samples.append(sample)
    down = []
    for sock in sorted(cfg.suricata.run_dir.glob("suricata-*.sock")):
        try:
            with SuricataControl(sock, timeout=5.0) as control:
                control.uptime()
        except (SuricataError, OSError):
            down.append(str(sock))
    rules = cfg.rules_dir / "suricata.rules"
    mtime = rules.stat().st_mtime if rules.exists() else None
    return Observation(now, samples, down, mtime, expect_capture=bool(cfg.interfaces))


def remote_issues(sensors: list[Any]) -> list[HealthIssue]:
    """Issues of remote sensors from ``Service.sensors`` (down, or warnings with notes)."""
    out = []
    for s in sensors:
        if s.kind != "remote" or s.status not in ("down", "warn"):
            continue
        check, severity = ("silent", 1) if s.status == "down" else ("remote-warning", 2)
        out.append(HealthIssue(
            check, s.name, severity,
            f"Remote sensor {s.name}: {'; '.join(s.notes)}.",
            f"Cảm biến từ xa {s.name}: {'; '.join(s.notes_vi)}.",
            {"status": s.status, "last_contact": s.last_contact},
        ))  # fmt: skip
    return out


def check_health(service: Service, now: int | None = None) -> tuple[list[HealthIssue], list[
        HealthIssue]]:  # fmt: skip
    """Assess health; record new issues as findings. Returns (all issues, new issues)."""
    now = now if now is not None else int(time.time() * 1_000_000)
    issues = assess(observe(service, now), service.cfg.core.health, service.cfg.sensor.name)
    issues += remote_issues(service.sensors.list(now))
    active = _load(service, _KV_ACTIVE, {})
    new = [i for i in issues if i.key not in active]
    for key in sorted(set(active) - {i.key for i in issues}):
        logger.info("Sensor health recovered: %s.", key)
    if new:
        write_findings(service, new, now)
    _save(service, _KV_ACTIVE, {i.key: asdict(i) for i in issues})
    return issues, new


def write_findings(service: Service, issues: list[HealthIssue], now: int) -> int:
    """Store ``issues`` as sensor-health findings (EVE records) in the event store."""
    stamp = dt.datetime.fromtimestamp(now / 1e6, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    store = service.store
    source = store.source_id(_SOURCE_FINGERPRINT, "spanwatch-core:health")
    offset = int(_load(service, _KV_OFFSET, 0))
    records = []
    for n, issue in enumerate(issues):
        raw = make_finding(
            type=f"sensor-{issue.check}", category="sensor-health", severity=issue.severity,
            confidence=1.0, timestamp=stamp, src_ip=None, dest_ip=None,
            explanation={"en": issue.en, "vi": issue.vi},
            evidence={"sensor": issue.sensor, **issue.evidence},
        )  # fmt: skip
        records.append(decode_line(raw, (source << 40) | (offset + n)))
    added = store.add_events(records, service.cfg.sensor.name)
    _save(service, _KV_OFFSET, offset + len(records))
    logger.info("Recorded %d sensor-health findings.", added)
    return added


def _load(service: Service, key: str, default: Any) -> Any:
    rows = service.state.query("SELECT value FROM kv WHERE key = ?", (key,))
    return json.loads(rows[0]["value"]) if rows else default


def _save(service: Service, key: str, value: Any) -> None:
    now = int(time.time() * 1_000_000)
    with service.state.transaction() as conn:
        conn.execute(
            "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at",
            (key, json.dumps(value, ensure_ascii=False), now),
        )

