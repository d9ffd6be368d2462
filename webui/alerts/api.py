"""``/api/v1/alerts``: the alert list, groups, one alert, triage and evidence as JSON.

The same filters as the alert pages (query arguments ``range``, ``since``, ``until``,
``sensor``, ``host``, ``sid``, ``gkey``, ``severity``, ``category``, ``event_type``,
``status``, ``q``); event ids are strings (they exceed JavaScript's safe integers).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, abort, jsonify, request
from pydantic import BaseModel, Field
from werkzeug.datastructures import MultiDict

from appliance.errors import ApplianceError
from webui.alerts.filters import parse_filter
from webui.alerts.triage import apply_triage, suppress_from_form
from webui.api import api_blueprint, json_page, paging, parse_json, raise_bad_request
from webui.audit import audit
from webui.auth.guard import require_role
from webui.extensions import current_config, current_service

bp = api_blueprint("alerts", __name__)


def _filter() -> Any:
    parsed = parse_filter(request.args, current_config().timezone)
    if parsed.errors:
        raise_bad_request("; ".join(f"{k}: {v}" for k, v in parsed.errors.items()))
    return parsed.flt


@bp.get("/")
@require_role("viewer")
def list_alerts() -> Any:
    """Alerts and findings matching the filter, newest first.

    Query: range (1h, 24h, 7d, 30d), since/until (YYYY-MM-DDTHH:MM, appliance time),
    sensor, host, sid, gkey, severity (1-3), category, event_type (alert, finding,
    anomaly), status (new = the inbox, archived, escalated, false-positive, suppressed,
    all), q (text), offset, limit. ``total`` stops counting at 1,001.
    """
    offset, limit = paging()
    page = current_service().alerts.list(_filter(), offset=offset, limit=limit)
    return json_page(page, lambda a: a.as_json())


@bp.get("/groups")
@require_role("viewer")
def list_groups() -> Any:
    """The filtered alerts grouped by signature or finding type, most first.

    Same query as the list; each group has gkey, label, category, severity, count,
    first_seen, last_seen (UTC µs), sources and destinations.
    """
    offset, limit = paging()
    page = current_service().alerts.groups(_filter(), offset=offset, limit=limit)
    return json_page(page, lambda g: g.as_json())


@bp.get("/<int:event_id>")
@require_role("viewer")
def get_alert(event_id: int) -> Any:
    """One alert: its index row, the raw EVE record, its flow's records, its triage history."""
    found = current_service().alerts.get(event_id)
    if found is None:
        abort(404)
    record = {k: v for k, v in (found.record or {}).items() if k != "_id"}
    related = {t: [{k: v for k, v in r.items() if k != "_id"} | {"event_id": str(r["_id"])}
                   for r in rs] for t, rs in found.related.items()}  # fmt: skip
    return jsonify(alert=found.alert.as_json(), record=record or None, related=related,
                   actions=found.actions)  # fmt: skip


class TriageBody(BaseModel):
    """What POST /triage accepts."""

    action: Literal["archive", "restore", "escalate", "false-positive"]
    ids: list[int | str] = Field(min_length=1, max_length=1000)
    title: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


@bp.post("/triage")
@require_role("analyst")
def triage() -> Any:
    """Archive, restore, escalate to an incident or mark false positive.

    Body: {"action": "archive"|"restore"|"escalate"|"false-positive", "ids": [event ids],
    "title": incident title (escalate), "reason": why (false-positive, required)}.
    """
    body = parse_json(TriageBody)
    form = MultiDict([("action", body.action), *[("ids", str(i)) for i in body.ids],
                      ("title", body.title or ""), ("reason", body.reason or "")])  # fmt: skip
    try:
        message = apply_triage(form, current_service(), current_config().timezone)
    except ApplianceError as err:
        raise_bad_request(str(err))
    return jsonify(ok=True, message=message)


class SuppressBody(BaseModel):
    """What POST /<id>/suppress accepts."""

    scope: Literal["signature", "source", "pair"] = "signature"
    reason: str = Field(min_length=1, max_length=500)
    days: Literal[0, 1, 7, 30, 90] = 30


@bp.post("/<int:event_id>/suppress")
@require_role("analyst")
def suppress(event_id: int) -> Any:
    """Suppress alerts like this one.

    Body: {"scope": "signature"|"source"|"pair", "reason": text, "days": 1|7|30|90|0
    (0: until removed)}. Answers the suppression's id.
    """
    body = parse_json(SuppressBody)
    form = MultiDict([("scope", body.scope), ("reason", body.reason), ("days", str(body.days))])
    try:
        sup_id = suppress_from_form(event_id, form, current_service())
    except ApplianceError as err:
        raise_bad_request(str(err))
    return jsonify(ok=True, suppression=sup_id)


@bp.get("/<int:event_id>/evidence.pcap")
@require_role("analyst")
def evidence(event_id: int) -> Any:
    """The packets of the alert's flow as a pcap file."""
    from webui.alerts.evidence import evidence_pcap

    service = current_service()
    if service.alerts.record(event_id) is None:
        abort(404)
    try:
        found = evidence_pcap(current_config(), service.store, event_id)
    except ApplianceError as err:
        raise_bad_request(str(err))
    audit("alerts.evidence", f"alert {event_id}", bytes=len(found.data))
    return Response(found.data, mimetype="application/vnd.tcpdump.pcap", headers={
        "Content-Disposition": f'attachment; filename="{found.filename}"'})  # fmt: skip
