"""``Service.incidents``: list, read and work incidents; suppressions and false positives.

Every change is written with who and when into the incident's history and the audit log.
Marking an incident a false positive adds a suppression per kind of evidence it holds
(signature or finding type, between the same two hosts), so the same noise feeds no
incident again; a suppression with an expiry ends by itself.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from appliance import audit
from appliance.incidents import repository as repo
from appliance.incidents.model import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    SEVERITIES,
    STATUSES,
    Comment,
    Evidence,
    HistoryEntry,
    Incident,
    IncidentDetail,
    TriageError,
)
from appliance.incidents.triage import TriageActions

if TYPE_CHECKING:
    from appliance.incidents.story import StoryLine
    from appliance.service import Page, Service

_COLS = ("id, title, title_vi, severity, status, stages, attackers, victims, first_seen, "
         "last_seen, alert_count, finding_count, assignee, sensors, updated_at, created_at, "
         "reopened")  # fmt: skip
MAX_COMMENT = 10_000
#: Kinds of evidence an incident's detail holds by default.
EVIDENCE_LIMIT = 1000
_VI_NAMES = {"comment": "bình luận"}


def incident_of(row: sqlite3.Row | Sequence[Any]) -> Incident:
    """An :class:`Incident` from a row of ``_COLS``."""
    times: dict[str, int] = json.loads(row[5])
    stages = sorted(times, key=lambda s: (times[s], s))
    return Incident(id=row[0], title=row[1], title_vi=row[2], severity=row[3], status=row[4],
                    stages=stages, attackers=json.loads(row[6]), victims=json.loads(row[7]),
                    first_seen=row[8], last_seen=row[9], alert_count=row[10],
                    finding_count=row[11], assignee=row[12], sensors=json.loads(row[13]),
                    updated_at=row[14], created_at=row[15], reopened=row[16])  # fmt: skip


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(value: str, name: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise TriageError(f"{name} must not be empty",
                          f"{_VI_NAMES.get(name, name)} không được để trống")
    if len(text) > limit:
        raise TriageError(f"{name} is longer than {limit} characters",
                          f"{_VI_NAMES.get(name, name)} dài quá {limit} ký tự")
    return text


class IncidentService(TriageActions):
    """Incidents for the web UI, the reports and the CLI."""

    def __init__(self, service: Service, *, clock: Callable[[], int] | None = None) -> None:
        self.service = service
        self.state = service.state
        self.clock = clock or (lambda: time.time_ns() // 1000)

    # -- reading ---------------------------------------------------------------------------

    def list(self, *, status: str | Sequence[str] | None = None, severity: str | None = None,
             host: str | None = None, since_us: int | None = None, until_us: int | None = None,
             q: str | None = None, offset: int = 0, limit: int = 50,
             order: str = "last_seen") -> Page[Incident]:  # fmt: skip
        """Incidents, newest activity first (``order="id"``: newest opened first).
        ``status`` "open" means any open status."""
        from appliance.service import Page

        where: builtins.list[str] = ["merged_into IS NULL"]
        args: builtins.list[Any] = []
        statuses = ([status] if isinstance(status, str) else list(status or []))
        if statuses:
            wanted = [s for x in statuses for s in (OPEN_STATUSES if x == "open" else [x])]
            where.append(f"status IN ({','.join('?' * len(wanted))})")
            args += wanted
        if severity:
            where.append("severity = ?")
            args.append(severity)
        if host:
            where.append("id IN (SELECT incident_id FROM incident_hosts WHERE ip = ?)")
            args.append(host.strip())
        if since_us is not None:
            where.append("last_seen >= ?")
            args.append(since_us)
        if until_us is not None:
            where.append("first_seen < ?")
            args.append(until_us)
        if q:
            like = "%" + _escape_like(q.strip()) + "%"
            where.append("(title LIKE ? ESCAPE '\\' OR title_vi LIKE ? ESCAPE '\\' OR "
                         "attackers LIKE ? ESCAPE '\\' OR victims LIKE ? ESCAPE '\\' OR "
                         "CAST(id AS TEXT) = ?)")  # fmt: skip
            args += [like, like, like, like, q.strip().lstrip("#")]
        sql_where = " AND ".join(where)
        total = int(self.state.query(f"SELECT count(*) FROM incidents WHERE {sql_where}",
                                     tuple(args))[0][0])  # fmt: skip
        rows = self.state.query(
            f"SELECT {_COLS} FROM incidents WHERE {sql_where} ORDER BY "
            f"{'id DESC' if order == 'id' else 'last_seen DESC, id DESC'} LIMIT ? OFFSET ?",
            (*args, max(0, limit), max(0, offset)))  # fmt: skip
        return Page([incident_of(r) for r in rows], total, offset, limit)

    def _resolve(self, incident_id: int) -> int | None:
        """The id an incident lives on as (it may have been merged into another)."""
        seen = set()
        current: int | None = int(incident_id)
        while current is not None and current not in seen:
            seen.add(current)
            rows = self.state.query("SELECT merged_into FROM incidents WHERE id = ?", (current,))
            if not rows:
                return None
            if rows[0][0] is None:
                return current
            current = int(rows[0][0])
        return current

    def get(self, incident_id: int, *, evidence_limit: int | None = EVIDENCE_LIMIT
            ) -> IncidentDetail | None:  # fmt: skip
        """An incident with its evidence (the first ``evidence_limit`` kinds; a scan of a
        whole network has one per host), history and comments; None if there is none."""
        real = self._resolve(incident_id)
        if real is None:
            return None
        rows = self.state.query(f"SELECT {_COLS} FROM incidents WHERE id = ?", (real,))
        limit = -1 if evidence_limit is None else max(0, evidence_limit)
        evidence = [Evidence(kind=r[0], key=r[1], src_ip=r[2] or None, dest_ip=r[3] or None,
                             label=r[4], stage=r[5], severity=r[6], count=r[7],
                             first_seen=r[8], last_seen=r[9], event_ids=json.loads(r[10]))
                    for r in self.state.query(
                        "SELECT kind, key, src_ip, dest_ip, label, stage, severity, count, "
                        "first_seen, last_seen, event_ids FROM incident_evidence "
                        "WHERE incident_id = ? ORDER BY first_seen, kind, key LIMIT ?",
                        (real, limit))]  # fmt: skip
        total = len(evidence)
        if evidence_limit is not None and total >= evidence_limit:
            total = int(self.state.query("SELECT count(*) FROM incident_evidence WHERE "
                                         "incident_id = ?", (real,))[0][0])  # fmt: skip
        history = [HistoryEntry(*r) for r in self.state.query(
            "SELECT ts, actor, action, detail FROM incident_history WHERE incident_id = ? "
            "ORDER BY ts, id", (real,))]  # fmt: skip
        comments = [Comment(*r) for r in self.state.query(
            "SELECT id, ts, author, text FROM incident_comments WHERE incident_id = ? "
            "ORDER BY ts, id", (real,))]  # fmt: skip
        return IncidentDetail(incident_of(rows[0]), evidence, history, comments, total)

    def story(self, incident_id: int) -> builtins.list[StoryLine]:
        """The incident told step by step (en and vi), oldest first; [] if there is none."""
        from appliance.incidents.story import tell

        detail = self.get(incident_id)
        return [] if detail is None else tell(self.service.store, detail.evidence)

    def for_host(self, ip: str, limit: int = 20) -> builtins.list[Incident]:
        """Incidents naming ``ip`` as attacker or victim, newest first."""
        return self.list(host=ip, limit=limit).items

    def for_sources(self, source_ids: Sequence[int]) -> builtins.list[Incident]:
        """Incidents fed by any of the event-store sources (e.g. one analysed capture)."""
        if not source_ids:
            return []
        marks = ",".join("?" * len(source_ids))
        rows = self.state.query(
            f"SELECT {_COLS} FROM incidents WHERE merged_into IS NULL AND id IN (SELECT "
            f"incident_id FROM incident_sources WHERE source_id IN ({marks})) ORDER BY id",
            tuple(source_ids))  # fmt: skip
        return [incident_of(r) for r in rows]

    def counts_by_severity(self, open_only: bool = True) -> dict[str, int]:
        """Incidents per severity (every severity present, zeros included)."""
        where = f"AND status IN ({','.join('?' * len(OPEN_STATUSES))})" if open_only else ""
        rows = self.state.query(
            f"SELECT severity, count(*) FROM incidents WHERE merged_into IS NULL {where} "
            f"GROUP BY severity", tuple(OPEN_STATUSES) if open_only else ())  # fmt: skip
        counts = {s: 0 for s in SEVERITIES}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    def summary(self, since_us: int, until_us: int) -> dict[str, int]:
        """Incidents opened and resolved in a period, and open now."""
        opened = self.state.query(
            "SELECT count(*) FROM incidents WHERE merged_into IS NULL AND created_at >= ? "
            "AND created_at < ?", (since_us, until_us))[0][0]  # fmt: skip
        resolved = self.state.query(
            "SELECT count(*) FROM incidents WHERE merged_into IS NULL AND closed_at >= ? "
            "AND closed_at < ?", (since_us, until_us))[0][0]  # fmt: skip
        now_open = sum(self.counts_by_severity(open_only=True).values())
        return {"opened": int(opened), "resolved": int(resolved), "open": now_open}

    # -- working an incident -----------------------------------------------------------------

    def _change(self, incident_id: int, actor: str, action: str, detail: str,
                sql: str | None = None, args: tuple[Any, ...] = ()) -> int:  # fmt: skip
        real = self._resolve(incident_id)
        if real is None:
            raise KeyError(f"no incident #{incident_id}")
        now = self.clock()
        with self.state.transaction() as conn:
            if sql is not None:
                conn.execute(sql, (*args, real))
            repo.touch(conn, real, now)
            repo.add_history(conn, real, now, actor, action, detail)
        audit.record(self.state, actor, f"incident.{action}", f"incident:{real}",
                     {"detail": detail}, ts=now)  # fmt: skip
        return real

    def set_status(self, incident_id: int, status: str, *, actor: str,
                   note: str | None = None) -> None:  # fmt: skip
        """Move an incident through its lifecycle (a false positive needs a reason: ``note``)."""
        if status not in STATUSES:
            raise TriageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}",
                              f"trạng thái phải là một trong {', '.join(STATUSES)}")
        if status == "false-positive":
            self.mark_false_positive(incident_id, actor=actor, reason=note or "")
            return
        closed = "?" if status in CLOSED_STATUSES else "NULL"
        detail = status + (f": {note.strip()}" if note and note.strip() else "")
        self._change(incident_id, actor, "status", detail,
                     f"UPDATE incidents SET status = ?, closed_at = {closed} WHERE id = ?",
                     (status, self.clock()) if closed == "?" else (status,))  # fmt: skip

    def assign(self, incident_id: int, assignee: str | None, *, actor: str) -> None:
        """Give an incident to someone (None: to nobody)."""
        who = (assignee or "").strip() or None
        self._change(incident_id, actor, "assign", who or "(nobody)",
                     "UPDATE incidents SET assignee = ? WHERE id = ?", (who,))  # fmt: skip

    def comment(self, incident_id: int, text: str, *, actor: str) -> int:
        """Add a note; its id."""
        body = _text(text, "comment", MAX_COMMENT)
        real = self._change(incident_id, actor, "comment", body[:200])
        with self.state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO incident_comments(incident_id, ts, author, text) VALUES (?, ?, ?, ?)",
                (real, self.clock(), actor, body))  # fmt: skip
        return int(cur.lastrowid or 0)

    def set_severity(self, incident_id: int, severity: str, *, actor: str) -> None:
        """Override the computed severity (the correlator leaves a hand-set one alone)."""
        if severity not in SEVERITIES:
            raise TriageError(f"severity must be one of {', '.join(SEVERITIES)}",
                              f"mức độ phải là một trong {', '.join(SEVERITIES)}")
        self._change(incident_id, actor, "severity", severity,
                     "UPDATE incidents SET severity = ? WHERE id = ?", (severity,))  # fmt: skip
