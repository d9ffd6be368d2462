"""``/api/v1/incidents``: the incident list, one incident, and triage as JSON.

Reading needs a viewer; triage (status, assignee, severity, comments) an analyst. Every
change lands in the incident's history and the audit log.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import abort, jsonify, request
from pydantic import BaseModel, Field

from webui.api import api_blueprint, json_page, paging, parse_json, raise_bad_request
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service
from webui.incidents import error_text, list_filters

bp = api_blueprint("incidents", __name__)


@bp.get("/")
@require_role("viewer")
def list_incidents() -> Any:
    """Incidents, newest activity first.

    Query: status (open = new/acknowledged/investigating, the default; new, acknowledged,
    investigating, resolved, false-positive; all), severity (critical, high, medium, low),
    host, q (title, host or id), range (24h, 7d, 30d, 90d), offset, limit.
    """
    offset, limit = paging()
    page = current_service().incidents.list(**list_filters(request.args), offset=offset,
                                            limit=limit)  # fmt: skip
    return json_page(page, lambda i: i.as_json())


@bp.get("/<int:incident_id>")
@require_role("viewer")
def get_incident(incident_id: int) -> Any:
    """One incident with its evidence (per stage), history and comments."""
    found = current_service().incidents.get(incident_id)
    if found is None:
        abort(404)
    return jsonify(found.as_json())


class TriageBody(BaseModel):
    """What POST /<id> accepts: one change."""

    action: Literal["status", "assign", "severity", "comment"]
    status: str | None = None
    note: str | None = Field(default=None, max_length=1000)
    assignee: str | None = Field(default=None, max_length=64)
    severity: str | None = None
    text: str | None = Field(default=None, max_length=4000)


@bp.post("/<int:incident_id>")
@require_role("viewer", write="analyst")
def triage(incident_id: int) -> Any:
    """Change an incident: {"action": "status", "status", "note"} | {"action": "assign",
    "assignee"} | {"action": "severity", "severity"} | {"action": "comment", "text"}."""
    body = parse_json(TriageBody)
    user = current_user()
    assert user is not None
    incidents = current_service().incidents
    try:
        if body.action == "status":
            incidents.set_status(incident_id, body.status or "", actor=user.username,
                                 note=body.note)  # fmt: skip
        elif body.action == "assign":
            incidents.assign(incident_id, body.assignee or None, actor=user.username)
        elif body.action == "severity":
            incidents.set_severity(incident_id, body.severity or "", actor=user.username)
        else:
            incidents.comment(incident_id, body.text or "", actor=user.username)
    except KeyError:
        abort(404)
    except ValueError as err:
        raise_bad_request(error_text(err))
    found = incidents.get(incident_id)
    assert found is not None
    return jsonify(found.as_json())


@bp.get("/suppressions")
@require_role("viewer")
def suppressions() -> Any:
    """Suppressions in force (query all=1: also ended ones): what, hosts, reason, expiry."""
    items = current_service().incidents.suppressions(active_only=request.args.get("all") != "1")
    return jsonify(items=[{
        "id": s.id, "sid": s.sid, "finding_type": s.finding_type, "src": s.src, "dest": s.dest,
        "reason": s.reason, "expires_at": s.expires_at, "created_by": s.created_by,
        "created_at": s.created_at, "incident_id": s.incident_id, "hits": s.hits,
    } for s in items])  # fmt: skip


@bp.delete("/suppressions/<int:suppression_id>")
@require_role("analyst")
def end_suppression(suppression_id: int) -> Any:
    """End a suppression now."""
    user = current_user()
    assert user is not None
    try:
        current_service().incidents.remove_suppression(suppression_id, actor=user.username)
    except KeyError:
        abort(404)
    return jsonify(ended=suppression_id)
