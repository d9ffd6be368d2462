"""``/api/v1/audit``: the audit log (admins), for a SIEM or an archive."""

from __future__ import annotations

from typing import Any

from flask import request

from appliance.audit import AuditEntry
from webui.api import api_blueprint, iso_time, json_page, paging, parse_time_arg
from webui.auth.guard import require_role
from webui.extensions import current_service

bp = api_blueprint("audit", __name__)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "ts": iso_time(entry.ts), "actor": entry.actor,
            "action": entry.action, "target": entry.target, "detail": entry.detail,
            "remote_addr": entry.remote_addr}  # fmt: skip


@bp.get("/")
@require_role("admin")
def list_entries() -> Any:
    """Audit entries, newest first.

    Query: actor, action (a name or an area such as "user"), q (text in target or
    detail), since and until (ISO-8601), offset, limit.
    """
    offset, limit = paging()
    args = request.args
    page = current_service().audit.list(
        actor=args.get("actor") or None, action=args.get("action") or None,
        q=args.get("q") or None, since_us=parse_time_arg("since"),
        until_us=parse_time_arg("until"), offset=offset, limit=limit,
    )  # fmt: skip
    return json_page(page, entry_json)
