"""The audit log: every admin and analyst action, with who, when and what.

Actions are ``area.verb`` names (``user.create``, ``settings.update``, ``incident.status``);
each area declares its own by using them, and :func:`record` refuses a malformed name so
the log stays filterable. The detail is a small JSON object; never put a secret in it.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from appliance.state import StateDB

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$")
_MAX_DETAIL = 8192


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    ts: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    remote_addr: str | None


def record(
    state: StateDB, actor: str, action: str, target: str = "",
    detail: dict[str, Any] | None = None, *, remote_addr: str | None = None,
    ts: int | None = None,
) -> int:  # fmt: skip
    """Append one entry; returns its id. ``action`` must look like ``area.verb``."""
    if not _ACTION_RE.match(action):
        raise ValueError(f"audit action {action!r} is not of the form area.verb")
    text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > _MAX_DETAIL:
        text = json.dumps({"truncated": text[:_MAX_DETAIL]}, ensure_ascii=False)
    when = int(time.time() * 1_000_000) if ts is None else ts
    with state.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO audit_log (ts, actor, action, target, detail, remote_addr) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (when, actor, action, str(target)[:500], text, remote_addr),
        )
    return int(cur.lastrowid or 0)


class AuditService:
    """Reading and writing the audit log (``Service.audit``)."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def record(
        self, actor: str, action: str, target: str = "",
        detail: dict[str, Any] | None = None, *, remote_addr: str | None = None,
    ) -> int:  # fmt: skip
        """Same as the module-level :func:`record`."""
        return record(self.state, actor, action, target, detail, remote_addr=remote_addr)

    def list(
        self, *, actor: str | None = None, action: str | None = None, q: str | None = None,
        since_us: int | None = None, until_us: int | None = None, offset: int = 0,
        limit: int = 50,
    ) -> Any:  # fmt: skip
        """Newest first, filtered; a ``Page[AuditEntry]``.

        ``action`` matches a whole name or an area prefix (``user`` matches ``user.create``).
        """
        from appliance.service import Page

        where: builtins.list[str] = ["1 = 1"]
        params: builtins.list[Any] = []
        if actor:
            where.append("actor = ?")
            params.append(actor)
        if action:
            where.append("(action = ? OR action LIKE ? ESCAPE '\\')")
            params += [action, _like_prefix(action) + ".%"]
        if q:
            where.append("(target LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\')")
            params += ["%" + _like_prefix(q) + "%"] * 2
        if since_us is not None:
            where.append("ts >= ?")
            params.append(since_us)
        if until_us is not None:
            where.append("ts < ?")
            params.append(until_us)
        sql_where = " AND ".join(where)
        total = self.state.query(f"SELECT count(*) FROM audit_log WHERE {sql_where}", tuple(params))
        rows = self.state.query(
            f"SELECT * FROM audit_log WHERE {sql_where} ORDER BY ts DESC, id DESC "
            "LIMIT ? OFFSET ?", (*params, limit, offset),
        )  # fmt: skip
        items = [_entry(r) for r in rows]
        return Page(items=items, total=int(total[0][0]), offset=offset, limit=limit)

    def count_recent(self, action: str, *, remote_addr: str | None, since_us: int) -> int:
        """How many ``action`` entries came from ``remote_addr`` since ``since_us``."""
        rows = self.state.query(
            "SELECT count(*) FROM audit_log WHERE ts >= ? AND action = ? AND remote_addr IS ?",
            (since_us, action, remote_addr),
        )
        return int(rows[0][0])

    def actors(self) -> builtins.list[str]:
        return [r[0] for r in self.state.query("SELECT DISTINCT actor FROM audit_log ORDER BY 1")]

    def areas(self) -> builtins.list[str]:
        rows = self.state.query("SELECT DISTINCT action FROM audit_log")
        return sorted({r[0].split(".", 1)[0] for r in rows})


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _entry(row: Any) -> AuditEntry:
    try:
        detail = json.loads(row["detail"])
    except ValueError:
        detail = {"raw": row["detail"]}
    return AuditEntry(row["id"], row["ts"], row["actor"], row["action"], row["target"],
                      detail if isinstance(detail, dict) else {"value": detail},
                      row["remote_addr"])  # fmt: skip
