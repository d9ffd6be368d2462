"""``/api/v1/traffic``: throughput, tops, a host, flows and the daily section as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import abort, jsonify, request

from appliance.errors import ApplianceError
from appliance.traffic.service import DIMENSIONS
from webui.api import api_blueprint
from webui.auth.guard import require_role
from webui.extensions import current_service
from webui.traffic.data import window

bp = api_blueprint("traffic", __name__)


def _range() -> tuple[int, int]:
    """``since``/``until`` (UTC µs) from the query, else ``window`` (1h, 24h, 7d, 30d)."""
    traffic = current_service().traffic
    win = window(traffic, request.args.get("window", "24h"))
    since = request.args.get("since", type=int)
    until = request.args.get("until", type=int)
    return (since if since is not None else win.since_us,
            until if until is not None else win.until_us)  # fmt: skip


@bp.get("/throughput")
@require_role("viewer")
def throughput() -> Any:
    """Points (ts, bits_per_s, packets_per_s, flows_per_s, drops, packets_seen); query:
    window or since/until (UTC µs), iface, step (0 minute, 1 hour, 2 day)."""
    since, until = _range()
    step = request.args.get("step", type=int)
    if step not in (None, 0, 1, 2):
        abort(400)
    points = current_service().traffic.throughput(since, until, iface=request.args.get("iface"),
                                                  step=step)  # fmt: skip
    return jsonify({"since": since, "until": until, "points": [asdict(p) for p in points]})


@bp.get("/top/<dimension>")
@require_role("viewer")
def top(dimension: str) -> Any:
    """The top ``n`` (default 10) of app, service, talker, conversation, country or asn."""
    if dimension not in DIMENSIONS:
        abort(404)
    since, until = _range()
    n = min(max(request.args.get("n", 10, type=int) or 10, 1), 1000)
    items = current_service().traffic.top(dimension, since, until, n)
    return jsonify({"since": since, "until": until, "items": [i.as_json() for i in items]})


@bp.get("/host/<ip>")
@require_role("viewer")
def host(ip: str) -> Any:
    """One inside host's traffic over the range."""
    since, until = _range()
    try:
        view = current_service().traffic.host(ip, since, until)
    except ApplianceError:
        abort(404)
    return jsonify(asdict(view))


@bp.get("/flows")
@require_role("viewer")
def flows() -> Any:
    """Raw flow records; filters ip, port, proto, app, country; offset, limit (<= 500)."""
    since, until = _range()
    args = request.args
    try:
        page = current_service().traffic.flows(
            since, until, ip=args.get("ip") or None, port=args.get("port", type=int),
            proto=args.get("proto") or None, app=args.get("app") or None,
            country=args.get("country") or None, offset=max(args.get("offset", 0, type=int), 0),
            limit=min(max(args.get("limit", 50, type=int), 1), 500))  # fmt: skip
    except ApplianceError:
        abort(400)
    return jsonify({"items": page.items, "total": page.total, "offset": page.offset,
                    "limit": page.limit})  # fmt: skip


@bp.get("/daily")
@require_role("viewer")
def daily() -> Any:
    """The daily report's traffic section; ``day`` = start of the local day (UTC µs)."""
    day = request.args.get("day", type=int)
    if day is None:
        abort(400)
    return jsonify(current_service().traffic.daily(day))
