"""Sensors: every sensor's health (local and remote) and, for admins, enrolment decisions.

Per sensor and interface: packets, capture drops, EVE rate, last event, Suricata version
and uptime, rule count and age, lag and disk buffer. Admins approve or revoke remote
sensors here (the service audits it). Sensor names come from enrolment requests anyone
on the network may send: they are shown through Jinja's escaping only.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from appliance.errors import ApplianceError
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = Blueprint("sensors", __name__, url_prefix="/sensors", template_folder="templates")

#: The status words, in the page's language.
STATUS_TONES = {"ok": "success", "warn": "warning", "down": "danger", "pending": "info",
                "revoked": "secondary"}  # fmt: skip


def _status_label(status: str) -> str:
    labels = {"ok": _("ok"), "warn": _("warning"), "down": _("down"),
              "pending": _("awaiting approval"), "revoked": _("revoked")}  # fmt: skip
    return labels.get(status, status)


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    vi = str(get_locale() or "vi") == "vi"
    return {
        "sensor_status": _status_label,
        "sensor_tone": lambda status: STATUS_TONES.get(status, "secondary"),
        "sensor_notes": lambda s: s.notes_vi if vi else s.notes,
    }


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """Every sensor's health; enrolment requests and decisions for admins."""
    service = current_service()
    sensors = service.sensors.list()
    user = current_user()
    is_admin = user is not None and user.has_role("admin")
    return render_template(
        "sensors/index.html", sensors=sensors, is_admin=is_admin,
        pending=[s for s in sensors if s.status == "pending"],
        rejections=sorted(service.sensors.rejections().items()) if is_admin else [],
        now_us=int(time.time() * 1_000_000),
    )  # fmt: skip


def _decide(name: str, verb: str) -> Any:
    user = current_user()
    assert user is not None
    try:
        if verb == "approve":
            fingerprint = request.form.get("fingerprint") or None
            done = current_service().sensors.approve(name, actor=user.username,
                                                     fingerprint=fingerprint)  # fmt: skip
            flash(_("Sensor %(name)s approved: it may ship events now.", name=done.name),
                  "success")  # fmt: skip
        else:
            done = current_service().sensors.revoke(name, actor=user.username)
            flash(_("Sensor %(name)s revoked: its batches are refused from now on.",
                    name=done.name), "success")  # fmt: skip
    except ApplianceError as err:
        flash(str(err), "danger")
    return redirect(url_for("sensors.index"))


@bp.route("/<name>/approve", methods=["POST"])
@require_role("admin")
def approve(name: str) -> Any:
    """Approve an enrolment request."""
    return _decide(name[:63], "approve")


@bp.route("/<name>/revoke", methods=["POST"])
@require_role("admin")
def revoke(name: str) -> Any:
    """Revoke a sensor's token."""
    return _decide(name[:63], "revoke")
