"""Traffic pages: throughput with SPAN drops beside it, the top lists, a host's traffic,
flow search. Everything comes from ``Service.traffic`` (rollups kept at ingest)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from appliance.errors import ApplianceError
from appliance.events import parse_timestamp
from appliance.traffic.reader import pick_step
from webui.auth.guard import require_role
from webui.extensions import current_service
from webui.templating import localtime
from webui.traffic.data import (
    DIMENSIONS,
    WINDOWS,
    dimension_title,
    host_chart,
    rate,
    throughput_chart,
    window,
    window_title,
)

bp = Blueprint("traffic", __name__, url_prefix="/traffic", template_folder="templates")
_FLOW_FILTERS = ("ip", "port", "proto", "app", "country")


def _fmt(code: str) -> Any:
    pattern = "%H:%M" if code in ("1h", "24h") else "%m-%d %H:%M"
    return lambda us: localtime(us, pattern)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"traffic_rate": rate, "traffic_window_title": window_title,
            "traffic_dimension_title": dimension_title}  # fmt: skip


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """Throughput and capture health over the window, and every top list."""
    traffic = current_service().traffic
    win = window(traffic, request.args.get("window", "24h"))
    # Chart only the part of the window that has traffic (an analysed capture holds minutes
    # of a 30-day window): its span picks the step.
    extent = traffic.extent(win.since_us, win.until_us)
    start = extent[0] if extent else win.since_us
    points = traffic.throughput(start, win.until_us, step=pick_step(start, win.until_us))
    peak = max(points, key=lambda p: p.bits_per_s, default=None)
    return render_template(
        "traffic/index.html", win=win, windows=WINDOWS, peak=peak,
        totals=traffic.totals(win.since_us, win.until_us),
        capture=traffic.capture_health(win.since_us, win.until_us),
        tops={d: traffic.top(d, win.since_us, win.until_us, 10) for d in DIMENSIONS},
        chart=throughput_chart(points, _fmt(win.code)))  # fmt: skip


@bp.route("/host/<ip>")
@require_role("viewer")
def host(ip: str) -> Any:
    """One inside host: in/out over time, peers, services offered and used, first contacts."""
    traffic = current_service().traffic
    win = window(traffic, request.args.get("window", "24h"))
    extent = traffic.extent(win.since_us, win.until_us)
    try:
        view = traffic.host(ip, extent[0] if extent else win.since_us, win.until_us)
    except ApplianceError:
        abort(404)
    return render_template("traffic/host.html", win=win, windows=WINDOWS, host=view,
                           chart=host_chart(view.points, _fmt(win.code)))  # fmt: skip


@bp.route("/flows")
@require_role("viewer")
def flows() -> Any:
    """Flow records by time window, host, port, protocol, application and country."""
    traffic = current_service().traffic
    win = window(traffic, request.args.get("window", "24h"))
    filters = {k: (request.args.get(k) or "").strip() for k in _FLOW_FILTERS}
    page_no = max(1, request.args.get("page", 1, type=int) or 1)
    error = None
    page = None
    try:
        port = int(filters["port"]) if filters["port"] else None
        page = traffic.flows(win.since_us, win.until_us, ip=filters["ip"] or None, port=port,
                             proto=filters["proto"] or None, app=filters["app"] or None,
                             country=filters["country"] or None, offset=(page_no - 1) * 50,
                             limit=50)  # fmt: skip
    except (ValueError, ApplianceError) as err:
        error = str(err)
    starts = [_start_us(r) for r in page.items] if page else []
    return render_template("traffic/flows.html", win=win, windows=WINDOWS, filters=filters,
                           page=page, starts=starts, error=error)  # fmt: skip


def _start_us(record: dict[str, Any]) -> int | None:
    """When a flow record's flow started (UTC µs), for display in the appliance's zone."""
    flow = record.get("flow")
    stamp = flow.get("start") if isinstance(flow, dict) else None
    try:
        return parse_timestamp(str(stamp or record.get("timestamp")))
    except ValueError:
        return None
