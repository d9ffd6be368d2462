"""``/api/v1/dashboard``: the dashboard's figures as JSON."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from webui.api import api_blueprint
from webui.auth.guard import require_role
from webui.dashboard.data import WINDOWS, build
from webui.extensions import current_service

bp = api_blueprint("dashboard", __name__)


@bp.get("/")
@require_role("viewer")
def dashboard() -> Any:
    """Risk, incidents, alert counts per hour and severity, top signatures/findings/hosts.

    Query: window (24h or 7d). Times are UTC microseconds; ``shifted`` says the window
    ends at the newest alert (an analysed capture) rather than now.
    """
    window = request.args.get("window", "24h")
    board = build(current_service(), window if window in WINDOWS else "24h")
    return jsonify(board.as_json())
