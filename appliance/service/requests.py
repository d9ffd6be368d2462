"""Requests from the web UI to spanwatch-core: "apply the rules", "run this job now".

The web process is unprivileged and never runs Suricata or the scheduler; it records
what a user asked for here, and the core (``appliance.core``) claims each request,
executes it and records the outcome, which the UI then shows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.state import StateDB

STATUSES = ("pending", "running", "done", "failed")


def now_us() -> int:
    """The current time in UTC microseconds."""
    return int(time.time() * 1_000_000)


@dataclass(frozen=True, slots=True)
class Request:
    """One request and, once the core has handled it, its outcome."""

    id: int
    kind: str
    params: dict[str, Any]
    status: str
    actor: str
    submitted_at: int
    started_at: int | None
    finished_at: int | None
    result: dict[str, Any] | None
    error: str | None


def _request(row: Any) -> Request:
    return Request(
        id=row["id"], kind=row["kind"], params=json.loads(row["params"]), status=row["status"],
        actor=row["actor"], submitted_at=row["submitted_at"], started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=json.loads(row["result"]) if row["result"] is not None else None,
        error=row["error"],
    )  # fmt: skip


class RequestService:
    """``Service.requests``: submit from the web, claim and finish in the core."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def submit(self, kind: str, params: dict[str, Any] | None = None, *, actor: str) -> int:
        """Queue a request for the core; returns its id."""
        if not kind or len(kind) > 64:
            raise ValueError("a request kind is 1-64 characters, e.g. rules.apply")
        payload = json.dumps(params or {}, ensure_ascii=False, sort_keys=True)
        with self.state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO requests (kind, params, actor, submitted_at) VALUES (?, ?, ?, ?)",
                (kind, payload, actor, now_us()),
            )
            return int(cur.lastrowid or 0)

    def get(self, request_id: int) -> Request | None:
        """One request, or None."""
        rows = self.state.query("SELECT * FROM requests WHERE id = ?", (request_id,))
        return _request(rows[0]) if rows else None

    def list(self, *, kind: str | None = None, limit: int = 50) -> list[Request]:
        """The latest requests, newest first."""
        if kind is None:
            rows = self.state.query("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.state.query(
                "SELECT * FROM requests WHERE kind = ? ORDER BY id DESC LIMIT ?", (kind, limit)
            )
        return [_request(r) for r in rows]

    def claim(self) -> Request | None:
        """The oldest pending request, now marked running (for the core only)."""
        with self.state.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM requests WHERE status = 'pending' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            started = now_us()
            conn.execute(
                "UPDATE requests SET status = 'running', started_at = ? WHERE id = ?",
                (started, row["id"]),
            )
        claimed = self.get(int(row["id"]))
        assert claimed is not None
        return claimed

    def finish(self, request_id: int, result: dict[str, Any] | None = None) -> None:
        """Record success."""
        self._close(request_id, "done", json.dumps(result or {}, ensure_ascii=False), None)

    def fail(self, request_id: int, error: str) -> None:
        """Record failure with a message the UI can show."""
        self._close(request_id, "failed", None, error[:2000])

    def requeue_interrupted(self) -> int:
        """Requests left running by a core that died go back to pending; returns how many."""
        with self.state.transaction() as conn:
            cur = conn.execute(
                "UPDATE requests SET status = 'pending', started_at = NULL "
                "WHERE status = 'running'"
            )
            return cur.rowcount

    def _close(self, request_id: int, status: str, result: str | None, error: str | None) -> None:
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE requests SET status = ?, finished_at = ?, result = ?, error = ? "
                "WHERE id = ?",
                (status, now_us(), result, error, request_id),
            )
