"""What an incident is: its stages, severities, statuses and the records around it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low")
#: Attack stages, in kill-chain order. "initial-access" (exploits, malware delivery) and
#: "policy" (cleartext credentials, risky protocols) extend the issue's six stages.
STAGES = ("reconnaissance", "initial-access", "credential-access", "lateral-movement",
          "command-and-control", "exfiltration", "impact", "policy")  # fmt: skip
STATUSES = ("new", "acknowledged", "investigating", "resolved", "false-positive")
#: Statuses of an incident that still needs work.
OPEN_STATUSES = ("new", "acknowledged", "investigating")
CLOSED_STATUSES = ("resolved", "false-positive")

#: (English, Vietnamese) names, for titles and pages.
STAGE_LABELS: dict[str, tuple[str, str]] = {
    "reconnaissance": ("reconnaissance", "trinh sát"),
    "initial-access": ("initial access", "xâm nhập ban đầu"),
    "credential-access": ("credential access", "đánh cắp thông tin đăng nhập"),
    "lateral-movement": ("lateral movement", "di chuyển ngang"),
    "command-and-control": ("command and control", "điều khiển từ xa (C2)"),
    "exfiltration": ("exfiltration", "rò rỉ dữ liệu"),
    "impact": ("impact", "gây ảnh hưởng"),
    "policy": ("policy violation", "vi phạm chính sách"),
}
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "critical": ("critical", "nghiêm trọng"),
    "high": ("high", "cao"),
    "medium": ("medium", "trung bình"),
    "low": ("low", "thấp"),
}
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "new": ("new", "mới"),
    "acknowledged": ("acknowledged", "đã tiếp nhận"),
    "investigating": ("investigating", "đang điều tra"),
    "resolved": ("resolved", "đã xử lý"),
    "false-positive": ("false positive", "cảnh báo nhầm"),
}


def iso_utc(us: int | None) -> str | None:
    """UTC microseconds as ISO-8601 (``2025-03-04T11:40:00.000000Z``)."""
    if us is None:
        return None
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident: a story of related alerts and findings between some hosts."""

    id: int
    title: str
    title_vi: str
    severity: str
    status: str
    stages: list[str]
    attackers: list[str]
    victims: list[str]
    first_seen: int
    last_seen: int
    alert_count: int
    finding_count: int
    assignee: str | None
    sensors: list[str]
    updated_at: int
    created_at: int = 0
    reopened: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def as_json(self) -> dict[str, Any]:
        """The documented JSON shape (``spanwatch incidents --json``, ``analyze --json``)."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "stages": list(self.stages),
            "attackers": list(self.attackers),
            "victims": list(self.victims),
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            "title_vi": self.title_vi,
            "status": self.status,
            "alert_count": self.alert_count,
            "finding_count": self.finding_count,
            "assignee": self.assignee,
            "sensors": list(self.sensors),
            "reopened": self.reopened,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """Repeated alerts of one signature (or findings of one type) between two hosts."""

    kind: str  # "alert" | "finding"
    key: str  # signature id or finding type
    label: str
    stage: str
    src_ip: str | None
    dest_ip: str | None
    count: int
    first_seen: int
    last_seen: int
    event_ids: list[int] = field(default_factory=list)
    severity: int = 3

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "label": self.label, "stage": self.stage,
                "src_ip": self.src_ip, "dest_ip": self.dest_ip, "count": self.count,
                "first_seen": iso_utc(self.first_seen), "last_seen": iso_utc(self.last_seen),
                "event_ids": list(self.event_ids), "severity": self.severity}  # fmt: skip


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change to an incident: who, when, what."""

    ts: int
    actor: str
    action: str
    detail: str


@dataclass(frozen=True, slots=True)
class Comment:
    """An analyst's note on an incident."""

    id: int
    ts: int
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident with everything about it."""

    incident: Incident
    evidence: list[Evidence]
    history: list[HistoryEntry]
    comments: list[Comment]
    #: Kinds of evidence in all (``evidence`` may hold only the first of them).
    evidence_total: int = 0

    def as_json(self) -> dict[str, Any]:
        return {**self.incident.as_json(),
                "evidence": [e.as_json() for e in self.evidence],
                "evidence_total": self.evidence_total,
                "history": [{"ts": iso_utc(h.ts), "actor": h.actor, "action": h.action,
                             "detail": h.detail} for h in self.history],
                "comments": [{"id": c.id, "ts": iso_utc(c.ts), "author": c.author,
                              "text": c.text} for c in self.comments]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Suppression:
    """Evidence this suppression matches opens and feeds no incident until it expires."""

    id: int
    sid: int | None
    finding_type: str | None
    src: str | None
    dest: str | None
    reason: str
    expires_at: int | None
    created_by: str
    created_at: int
    incident_id: int | None = None
    hits: int = 0

    def is_active(self, now_us: int) -> bool:
        return self.expires_at is None or now_us < self.expires_at


class TriageError(ValueError):
    """A triage request that cannot be done; ``str()`` is English, ``vi`` Vietnamese."""

    def __init__(self, en: str, vi: str) -> None:
        super().__init__(en)
        self.en, self.vi = en, vi
