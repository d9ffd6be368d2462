"""Incident-shaped objects for notification, report and sharing tests (the fields of
``appliance.incidents.model.Incident`` those modules read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BASE_US = 1_795_500_000_000_000  # 2026-11-24 ~06:40 UTC


@dataclass(frozen=True)
class FakeIncident:
    id: int
    title: str = "Port scan then SSH brute force"
    title_vi: str = "Quét cổng rồi dò mật khẩu SSH"
    severity: str = "high"
    status: str = "new"
    stages: list[str] = field(default_factory=lambda: ["reconnaissance", "credential-access"])
    attackers: list[str] = field(default_factory=lambda: ["203.0.113.7"])
    victims: list[str] = field(default_factory=lambda: ["192.0.2.10"])
    first_seen: int = BASE_US
    last_seen: int = BASE_US + 60_000_000
    alert_count: int = 12
    finding_count: int = 2
    assignee: str | None = None
    sensors: list[str] = field(default_factory=lambda: ["test-sensor"])
    updated_at: int = BASE_US + 60_000_000

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity}


def incidents(n: int, **kwargs: Any) -> list[FakeIncident]:
    return [FakeIncident(id=i + 1, **kwargs) for i in range(n)]
