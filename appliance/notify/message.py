"""What a notification says, in Vietnamese and English, before a channel formats it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
SEVERITY_VI = {"critical": "nghiêm trọng", "high": "cao", "medium": "trung bình", "low": "thấp"}
_HEALTH_SEVERITY = {1: "high", 2: "medium", 3: "low"}


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: a subject and lines in both languages, and structured items."""

    kind: str  # incident, digest, health
    severity: str
    subject_vi: str
    subject_en: str
    lines_vi: list[str] = field(default_factory=list)
    lines_en: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        """Plain text: Vietnamese first, then English."""
        vi = "\n".join([self.subject_vi, "", *self.lines_vi])
        en = "\n".join([self.subject_en, "", *self.lines_en])
        return f"{vi}\n\n---\n\n{en}\n"


def _when(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def incident_item(incident: Any) -> dict[str, Any]:
    """The fields of an incident a notification carries."""
    return {
        "id": incident.id, "title": incident.title, "title_vi": incident.title_vi,
        "severity": incident.severity, "stages": list(incident.stages),
        "attackers": list(incident.attackers), "victims": list(incident.victims),
        "first_seen": incident.first_seen, "last_seen": incident.last_seen,
    }  # fmt: skip


def _line(item: dict[str, Any], vi: bool) -> str:
    sev = SEVERITY_VI[item["severity"]] if vi else item["severity"]
    title = item["title_vi"] if vi else item["title"]
    hosts = ", ".join(item["attackers"][:3]) + " → " + ", ".join(item["victims"][:3])
    return f"#{item['id']} [{sev}] {title} ({hosts}; {_when(item['last_seen'])})"


def incident_message(item: dict[str, Any]) -> Message:
    """One new incident."""
    sev_vi = SEVERITY_VI[item["severity"]]
    return Message(
        "incident", item["severity"],
        f"[spanwatch] Sự cố mới, mức {sev_vi}: {item['title_vi']}",
        f"[spanwatch] New {item['severity']} incident: {item['title']}",
        [_line(item, True)], [_line(item, False)], [item],
    )  # fmt: skip


def digest_message(items: list[dict[str, Any]], limit: int = 50) -> Message:
    """Many incidents folded into one message, worst first."""
    items = sorted(items, key=lambda i: (SEVERITY_RANK[i["severity"]], -i["last_seen"]))
    counts: dict[str, int] = {}
    for item in items:
        counts[item["severity"]] = counts.get(item["severity"], 0) + 1
    worst = items[0]["severity"] if items else "low"
    by_vi = ", ".join(f"{n} {SEVERITY_VI[s]}" for s, n in counts.items())
    by_en = ", ".join(f"{n} {s}" for s, n in counts.items())
    more = len(items) - limit
    lines_vi = [_line(i, True) for i in items[:limit]] + ([f"... và {more} sự cố khác."]
                                                          if more > 0 else [])
    lines_en = [_line(i, False) for i in items[:limit]] + ([f"... and {more} more."]
                                                           if more > 0 else [])
    return Message(
        "digest", worst,
        f"[spanwatch] Tổng hợp: {len(items)} sự cố mới ({by_vi})",
        f"[spanwatch] Digest: {len(items)} new incidents ({by_en})",
        lines_vi, lines_en, items,
    )  # fmt: skip


def health_message(issues: list[Any]) -> Message:
    """Sensor-health problems."""
    worst = min((i.severity for i in issues), default=3)
    return Message(
        "health", _HEALTH_SEVERITY[worst],
        f"[spanwatch] Cảnh báo tình trạng cảm biến ({len(issues)})",
        f"[spanwatch] Sensor health warning ({len(issues)})",
        [i.vi for i in issues], [i.en for i in issues],
        [{"check": i.check, "sensor": i.sensor, "severity": _HEALTH_SEVERITY[i.severity],
          "en": i.en, "vi": i.vi} for i in issues],
    )  # fmt: skip
