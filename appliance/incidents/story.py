"""An incident told as a story: one line per kind of evidence, in the order it began.

A finding's line is the analyzer's own explanation (English and Vietnamese, with the
numbers that matter: "203.0.113.45 tried 22/tcp on 254 different hosts ..."), read from
the first stored record behind it; an alert's line names the signature, the hosts, and
how often it fired. Lines are plain text: packet data inside them (a signature, a host
name in an explanation) is for the caller to escape, as everything else it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.incidents.model import STAGE_LABELS, Evidence, iso_utc
from appliance.store import EventQuery

if TYPE_CHECKING:
    from appliance.store import EventStore

#: Lines in one story (the rest are summed up in a last line).
MAX_LINES = 40


@dataclass(frozen=True, slots=True)
class StoryLine:
    """One step of an incident."""

    ts: int
    stage: str
    en: str
    vi: str

    def as_json(self) -> dict[str, Any]:
        return {"ts": iso_utc(self.ts), "stage": self.stage, "en": self.en, "vi": self.vi}


def _explanation(store: EventStore, ev: Evidence) -> tuple[str, str] | None:
    for eid in ev.event_ids[:1]:
        for record in store.events(EventQuery(event_id=eid, limit=1)):
            finding = record.get("finding")
            text = finding.get("explanation") if isinstance(finding, dict) else None
            if isinstance(text, dict) and text.get("en"):
                return str(text["en"]), str(text.get("vi") or text["en"])
    return None


def _times(count: int) -> tuple[str, str]:
    return ("once", "1 lần") if count == 1 else (f"{count:,} times", f"{count:,} lần")


def _line(store: EventStore, ev: Evidence) -> StoryLine:
    src, dest = ev.src_ip or "?", ev.dest_ip or "?"
    stage_en, stage_vi = STAGE_LABELS.get(ev.stage, (ev.stage, ev.stage))
    if ev.kind == "finding":
        told = _explanation(store, ev)
        if told is not None:
            extra_en = f" (reported {_times(ev.count)[0]})" if ev.count > 1 else ""
            extra_vi = f" (được báo {_times(ev.count)[1]})" if ev.count > 1 else ""
            return StoryLine(ev.first_seen, ev.stage, told[0] + extra_en, told[1] + extra_vi)
        return StoryLine(ev.first_seen, ev.stage, f"{stage_en}: {ev.label} from {src} to {dest}",
                         f"{stage_vi}: {ev.label} từ {src} tới {dest}")  # fmt: skip
    times_en, times_vi = _times(ev.count)
    return StoryLine(ev.first_seen, ev.stage,
                     f"{stage_en}: {src} → {dest}, alert \"{ev.label}\" (sid {ev.key}) "
                     f"{times_en}",
                     f"{stage_vi}: {src} → {dest}, cảnh báo \"{ev.label}\" (sid {ev.key}) "
                     f"{times_vi}")  # fmt: skip


def tell(store: EventStore, evidence: list[Evidence]) -> list[StoryLine]:
    """The story of an incident's evidence, oldest first."""
    ordered = sorted(evidence, key=lambda e: (e.first_seen, e.kind, e.key))
    lines = [_line(store, ev) for ev in ordered[:MAX_LINES]]
    rest = ordered[MAX_LINES:]
    if rest:
        total = sum(e.count for e in rest)
        lines.append(StoryLine(rest[0].first_seen, rest[0].stage,
                               f"... and {len(rest)} more kinds of evidence ({total:,} records)",
                               f"... và {len(rest)} loại bằng chứng khác ({total:,} bản ghi)"))
    return lines  # fmt: skip
