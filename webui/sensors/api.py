"""``/api/v1/sensors``: every sensor's health as JSON; approve and revoke for admins."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, request

from appliance.errors import ApplianceError
from appliance.service.sensors import SensorHealth
from webui.api import api_blueprint, iso_time
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = api_blueprint("sensors", __name__)

_TIMES = ("last_contact", "last_event", "last_stored", "rules_updated_at")


def _json(s: SensorHealth) -> dict[str, Any]:
    out = s.as_json()
    for key in _TIMES:
        out[key] = iso_time(out[key])
    for iface in out["interfaces"]:
        iface["updated_at"] = iso_time(iface["updated_at"])
    return out


@bp.get("/")
@require_role("viewer")
def index() -> Any:
    """Every sensor: status, contact, lag, buffer, capture, rate, versions, rules (ISO times)."""
    return jsonify({"items": [_json(s) for s in current_service().sensors.list()]})


@bp.get("/<name>")
@require_role("viewer")
def one(name: str) -> Any:
    """One sensor's health."""
    found = current_service().sensors.get(name[:63])
    if found is None:
        abort(404)
    return jsonify(_json(found))


@bp.post("/<name>/<verb>")
@require_role("admin")
def decide(name: str, verb: str) -> Any:
    """``approve`` (optional ``fingerprint`` in the JSON body) or ``revoke``; audited."""
    if verb not in ("approve", "revoke"):
        abort(404)
    user = current_user()
    assert user is not None
    body = request.get_json(silent=True) or {}
    sensors = current_service().sensors
    try:
        if verb == "approve":
            done = sensors.approve(name[:63], actor=user.username,
                                   fingerprint=body.get("fingerprint") or None)  # fmt: skip
        else:
            done = sensors.revoke(name[:63], actor=user.username)
    except ApplianceError as err:
        return jsonify({"error": str(err)}), 409
    return jsonify({"name": done.name, "status": done.status, "fingerprint": done.fingerprint})
