"""``/api/v1/assets``: the inventory, one host with risk factors, edits, CSV in and out.

Reading needs a viewer; edits and imports an administrator (audited by the service).
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, abort, jsonify, request
from pydantic import BaseModel, Field

from appliance.errors import ApplianceError
from webui.api import api_blueprint, json_page, paging, parse_json, raise_bad_request
from webui.assets import SORTS, checked_ip
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = api_blueprint("assets", __name__)


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.username


@bp.get("/")
@require_role("viewer")
def list_assets() -> Any:
    """Assets of the inventory. Query: q, criticality, tag, sort (risk, ip, last_seen,
    first_seen, criticality), offset, limit."""
    offset, limit = paging()
    args = request.args
    sort = args.get("sort", "risk")
    if sort not in SORTS:
        raise_bad_request(f"sort is one of {', '.join(SORTS)}")
    try:
        page = current_service().assets.list(
            q=args.get("q") or None, criticality=args.get("criticality") or None,
            tag=args.get("tag") or None, sort=sort, offset=offset, limit=limit,
        )  # fmt: skip
    except ApplianceError as err:
        raise_bad_request(str(err))
    return json_page(page, lambda a: a.as_json())


@bp.get("/<ip>")
@require_role("viewer")
def get_asset(ip: str) -> Any:
    """One host: names with sources, services, MACs, OS hints, risk score and factors,
    and the incidents naming it."""
    service = current_service()
    found = service.assets.get(checked_ip(ip))
    if found is None:
        abort(404)
    incidents = [i.as_json() for i in service.incidents.for_host(found.asset.ip)]
    return jsonify({**found.as_json(), "incidents": incidents})


class AssetEdit(BaseModel):
    """What PATCH /<ip> accepts: any of the fields (null leaves it, "" clears)."""

    owner: str | None = Field(default=None, max_length=200)
    agency: str | None = Field(default=None, max_length=200)
    criticality: Literal["low", "normal", "high", "critical"] | None = None
    tags: list[str] | None = Field(default=None, max_length=20)


@bp.patch("/<ip>")
@require_role("viewer", write="admin")
def edit_asset(ip: str) -> Any:
    """Set owner, agency, criticality or tags of a host (administrators)."""
    body = parse_json(AssetEdit)
    try:
        asset = current_service().assets.update(
            checked_ip(ip), owner=body.owner, agency=body.agency,
            criticality=body.criticality, tags=body.tags, actor=_actor(),
        )  # fmt: skip
    except ApplianceError as err:
        raise_bad_request(str(err))
    return jsonify(asset.as_json())


@bp.get("/export.csv")
@require_role("viewer")
def export_csv() -> Any:
    """Every asset as CSV (the import format plus what the inventory found)."""
    return Response(current_service().assets.export_csv(), mimetype="text/csv; charset=utf-8")


@bp.post("/import")
@require_role("admin")
def import_csv() -> Any:
    """Import CSV (body text/csv: ip, owner, agency, criticality, tags); any bad line
    changes nothing and the errors name the lines."""
    text = request.get_data(as_text=True)
    created, updated, errors = current_service().assets.import_csv(text, actor=_actor())
    if errors:
        return jsonify(created=0, updated=0, errors=errors), 400
    return jsonify(created=created, updated=updated, errors=[])
