"""The dashboard: network risk and its trend, open incidents, alerts and findings over
time, the top signatures, finding types and hosts, and sensor health at a glance."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webui.auth.guard import require_role
from webui.dashboard.data import WINDOWS, Dashboard, build, hour_label
from webui.extensions import current_config, current_service

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates")

#: Incident statuses as the dashboard names them.
INCIDENT_STATUSES = {"new": _l("new"), "acknowledged": _l("acknowledged"),
                     "investigating": _l("investigating"), "resolved": _l("resolved"),
                     "false-positive": _l("false positive")}  # fmt: skip
#: Chart colours (the CSS palette's severity and accent tones).
COLORS = {"alert": "#c0392b", "finding": "#0b5cab", "anomaly": "#8a96a3", "risk": "#e67e22"}


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """The dashboard for the last 24 hours (``?window=7d`` for a week)."""
    window = request.args.get("window", "24h")
    board = build(current_service(), window if window in WINDOWS else "24h")
    return render_template("dashboard/index.html", board=board, windows=WINDOWS,
                           activity_chart=activity_chart(board), risk_chart=risk_chart(board),
                           incident_statuses=INCIDENT_STATUSES)  # fmt: skip


def activity_chart(board: Dashboard) -> dict[str, Any]:
    """Chart.js config: alerts and findings per hour, stacked bars."""
    tz = current_config().timezone
    with_day = board.window != "24h"
    labels = [hour_label(p["hour"], tz, with_day) for p in board.series]
    datasets = [{"label": name, "data": [p[key] for p in board.series],
                 "backgroundColor": COLORS[key], "stack": "events", "borderRadius": 2}
                for key, name in (("alert", _("Signature alerts")),
                                  ("finding", _("Analyzer findings")))]  # fmt: skip
    return {"type": "bar", "data": {"labels": labels, "datasets": datasets},
            "options": {"plugins": {"legend": {"position": "bottom"}},
                        "scales": {"x": {"stacked": True, "grid": {"display": False},
                                         "ticks": {"maxTicksLimit": 12}},
                                   "y": {"stacked": True, "beginAtZero": True,
                                         "ticks": {"precision": 0}}}}}  # fmt: skip


def risk_chart(board: Dashboard) -> dict[str, Any] | None:
    """Chart.js config: the network's daily risk score over the last 7 days."""
    if not board.risk or not board.risk["history"]:
        return None
    tz = current_config().timezone
    points = board.risk["history"]
    labels = [hour_label(p["day"], tz, True)[:5] for p in points]
    return {"type": "line", "data": {"labels": labels, "datasets": [{
                "label": _("Network risk"), "data": [p["score"] for p in points],
                "borderColor": COLORS["risk"], "backgroundColor": "rgba(230,126,34,.15)",
                "fill": True, "tension": 0.3, "pointRadius": 3}]},
            "options": {"plugins": {"legend": {"display": False}},
                        "scales": {"y": {"min": 0, "max": 100},
                                   "x": {"grid": {"display": False}}}}}  # fmt: skip
