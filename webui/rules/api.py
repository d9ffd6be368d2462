"""``/api/v1/rules``: rule search, switches, thresholds, sources, preview and apply as JSON.

Reading needs a viewer; every change needs an administrator (and is audited).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import abort, jsonify, request
from pydantic import BaseModel, Field

from appliance.errors import ApplianceError
from webui.api import api_blueprint, json_page, paging, parse_json, raise_bad_request
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = api_blueprint("rules", __name__)


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.username


@bp.get("/")
@require_role("viewer")
def search() -> Any:
    """Search rules: every word of q must match (message, SID, classtype, content, metadata).

    Query: q, category, classtype, state (enabled, disabled, pending), offset, limit.
    Each item: sid, gid, rev, action, proto, msg, classtype, category, source, enabled
    (after the next apply), enabled_default, active (running now), override, pending.
    """
    offset, limit = paging()
    args = request.args
    try:
        page = current_service().rules.search(
            args.get("q"), category=args.get("category") or None,
            classtype=args.get("classtype") or None, state=args.get("state") or None,
            offset=offset, limit=min(limit, 500),
        )  # fmt: skip
    except ValueError as err:
        raise_bad_request(str(err))
    return json_page(page, lambda r: r.as_json())


@bp.get("/<int:sid>")
@require_role("viewer")
def get_rule(sid: int) -> Any:
    """One rule: its row, full text, metadata, why it was changed, its thresholds."""
    found = current_service().rules.get(sid)
    if found is None:
        abort(404)
    return jsonify(
        rule=found["rule"].as_json(), raw=found["raw"], metadata=found["metadata"],
        reason=found["reason"], changed_by=found["changed_by"], changed_at=found["changed_at"],
        thresholds=[t.as_json() for t in found["thresholds"]],
    )  # fmt: skip


class SwitchBody(BaseModel):
    """What POST /switch accepts: SIDs, or a search, and the new state."""

    state: Literal["enable", "disable", "reset"]
    sids: list[int] = Field(default_factory=list, max_length=30000)
    q: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    classtype: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=500)


@bp.post("/switch")
@require_role("admin")
def switch() -> Any:
    """Enable, disable or reset rules by SID list, or every rule a search finds.

    Body: {"state": "enable"|"disable"|"reset", "sids": [..]} or {"state", "q",
    "category", "classtype"}; optional "reason". Returns {"changed": n}.
    """
    body = parse_json(SwitchBody)
    rules = current_service().rules
    enabled = {"enable": True, "disable": False, "reset": None}[body.state]
    try:
        if body.sids:
            count = rules.set_enabled(body.sids, enabled, actor=_actor(), reason=body.reason)
        elif enabled is None:
            raise_bad_request("reset needs a list of SIDs")
        else:
            count = rules.set_enabled_by_search(
                body.q, enabled, actor=_actor(), reason=body.reason,
                category=body.category, classtype=body.classtype,
            )  # fmt: skip
    except ApplianceError as err:
        raise_bad_request(str(err))
    return jsonify(changed=count)


class GroupBody(BaseModel):
    kind: Literal["category", "classtype"]
    name: str = Field(min_length=1, max_length=200)
    state: Literal["enable", "disable", "reset"]
    reason: str = Field(default="", max_length=500)


@bp.get("/categories")
@require_role("viewer")
def categories() -> Any:
    """Rules per category and per classtype: total, enabled, override."""
    rules = current_service().rules
    return jsonify(categories=rules.facets("category"), classtypes=rules.facets("classtype"))


@bp.post("/categories")
@require_role("admin")
def switch_group() -> Any:
    """Enable, disable or reset a whole category or classtype. Body: kind, name, state."""
    body = parse_json(GroupBody)
    enabled = {"enable": True, "disable": False, "reset": None}[body.state]
    try:
        count = current_service().rules.set_group(
            body.kind, body.name, enabled, actor=_actor(), reason=body.reason
        )
    except ApplianceError as err:
        raise_bad_request(str(err))
    return jsonify(rules=count)


class ThresholdBody(BaseModel):
    kind: Literal["threshold", "suppress"]
    sid: int
    reason: str = Field(min_length=1, max_length=500)
    expires_at: int | None = None
    type: str | None = None
    track: str | None = None
    count: int | None = None
    seconds: int | None = None
    ip: str | None = None


@bp.get("/thresholds")
@require_role("viewer")
def thresholds() -> Any:
    """Thresholds and suppressions (query all=1 includes expired ones)."""
    entries = current_service().rules.thresholds(active_only=request.args.get("all") != "1")
    return jsonify(items=[e.as_json() for e in entries])


@bp.post("/thresholds")
@require_role("admin")
def add_threshold() -> Any:
    """Add a threshold or suppression: kind, sid, reason, expires_at (UTC µs), and
    type/track/count/seconds (threshold) or track/ip (suppression)."""
    body = parse_json(ThresholdBody)
    data = body.model_dump()
    kind, sid = data.pop("kind"), data.pop("sid")
    try:
        new_id = current_service().rules.add_threshold(kind, sid, actor=_actor(), **data)
    except ApplianceError as err:
        raise_bad_request(str(err))
    return jsonify(id=new_id), 201


@bp.delete("/thresholds/<int:entry_id>")
@require_role("admin")
def delete_threshold(entry_id: int) -> Any:
    """Remove a threshold or suppression."""
    try:
        current_service().rules.remove_threshold(entry_id, actor=_actor())
    except ApplianceError:
        abort(404)
    return jsonify(removed=entry_id)


@bp.get("/sources")
@require_role("viewer")
def sources() -> Any:
    """Rule sources: configured, added URLs and uploaded bundles."""
    return jsonify(items=[s.as_json() for s in current_service().rules.sources()])


@bp.get("/preview")
@require_role("viewer")
def preview() -> Any:
    """What applying now would change: added, removed, changed SIDs; thresholds changed."""
    rules = current_service().rules
    return jsonify(diff=rules.preview().as_json(), counts=rules.counts(),
                   last_apply=rules.last_apply(), last_check=rules.last_preview())  # fmt: skip


@bp.post("/apply")
@require_role("admin")
def apply() -> Any:
    """Ask spanwatch-core to update, test (suricata -T) and load the rules; a request id."""
    req = current_service().rules.request_apply(actor=_actor())
    return jsonify(request=req), 202


@bp.post("/check")
@require_role("admin")
def check() -> Any:
    """Ask spanwatch-core what an update would change, downloads included (nothing
    installed); the answer appears as last_check in /preview. Returns the request id."""
    req = current_service().rules.request_preview(actor=_actor())
    return jsonify(request=req), 202
