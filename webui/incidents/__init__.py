"""Incidents: the list with filters, and the detail page with its timeline and triage.

Viewers read; analysts triage (status, assignee, severity, comments). Every change goes
through ``Service.incidents``, which writes the incident's history and the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from appliance.incidents.model import (
    SEVERITIES,
    SEVERITY_LABELS,
    STAGE_LABELS,
    STAGES,
    STATUS_LABELS,
    STATUSES,
)
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = Blueprint("incidents", __name__, url_prefix="/incidents", template_folder="templates")
PAGE_SIZE = 50
RANGES = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400}


def label(mapping: Mapping[str, tuple[str, str]], key: str) -> str:
    """The English or Vietnamese name of a stage, severity or status."""
    from flask_babel import get_locale

    names = mapping.get(key)
    if names is None:
        return key
    return names[1] if str(get_locale() or "vi") == "vi" else names[0]


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "stage_name": lambda k: label(STAGE_LABELS, k),
        "severity_name": lambda k: label(SEVERITY_LABELS, k),
        "status_name": lambda k: label(STATUS_LABELS, k),
        "incident_title": _title,
    }


def _title(incident: Any) -> str:
    from flask_babel import get_locale

    if str(get_locale() or "vi") == "vi" and incident.title_vi:
        return str(incident.title_vi)
    return str(incident.title)


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.username


def list_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """The list's filters from the query string (unknown values are ignored)."""
    import time

    status = args.get("status", "open")
    severity = args.get("severity", "")
    rng = args.get("range", "")
    return {
        "status": status if status in (*STATUSES, "open") else None,
        "severity": severity if severity in SEVERITIES else None,
        "host": (args.get("host") or "").strip()[:64] or None,
        "q": (args.get("q") or "").strip()[:200] or None,
        "since_us": int((time.time() - RANGES[rng]) * 1e6) if rng in RANGES else None,
    }


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """Incidents, newest activity first, filtered by status, severity, host, time, text."""
    try:
        page_no = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        page_no = 1
    flt = list_filters(request.args)
    incidents = current_service().incidents
    page = incidents.list(**flt, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    values = {k: request.args.get(k, "") for k in ("status", "severity", "host", "q", "range")}
    values["status"] = values["status"] or "open"
    return render_template(
        "incidents/index.html", page=page, values=values, statuses=STATUSES,
        severities=SEVERITIES, counts=incidents.counts_by_severity(open_only=True),
        ranges=RANGES,
    )  # fmt: skip


@bp.route("/<int:incident_id>")
@require_role("viewer")
def detail(incident_id: int) -> Any:
    """One incident: timeline of stages and evidence, hosts, history, comments, triage."""
    found = current_service().incidents.get(incident_id)
    if found is None:
        abort(404)
    if found.incident.id != incident_id:  # merged into another: show where it lives now
        return redirect(url_for("incidents.detail", incident_id=found.incident.id))
    by_stage: dict[str, list[Any]] = {}
    for ev in found.evidence:
        by_stage.setdefault(ev.stage, []).append(ev)
    order = [s for s in STAGES if s in by_stage] + [s for s in by_stage if s not in STAGES]
    users = [u.username for u in current_service().users.list() if not u.disabled]
    return render_template(
        "incidents/detail.html", found=found, inc=found.incident, stages=order,
        by_stage=by_stage, statuses=STATUSES, severities=SEVERITIES, users=users,
        timeline=_timeline(found),
    )  # fmt: skip


def _timeline(found: Any) -> list[dict[str, Any]]:
    """Evidence, history and comments as one list, oldest first."""
    items: list[dict[str, Any]] = []
    for ev in found.evidence:
        items.append({"ts": ev.first_seen, "kind": "evidence", "item": ev})
    for h in found.history:
        if h.action != "comment":  # the comment itself is listed below
            items.append({"ts": h.ts, "kind": "history", "item": h})
    for c in found.comments:
        items.append({"ts": c.ts, "kind": "comment", "item": c})
    return sorted(items, key=lambda x: x["ts"])


@bp.route("/<int:incident_id>", methods=["POST"])
@require_role("analyst")
def change(incident_id: int) -> Any:
    """Triage: status (a false positive needs a reason), assignee, severity, comment."""
    form = request.form
    incidents = current_service().incidents
    action = form.get("action", "")
    actor = _actor()
    try:
        if action == "status":
            incidents.set_status(incident_id, form.get("status", ""), actor=actor,
                                 note=form.get("note") or None)  # fmt: skip
            message = _("Status changed.")
        elif action == "assign":
            incidents.assign(incident_id, form.get("assignee") or None, actor=actor)
            message = _("Assignee changed.")
        elif action == "severity":
            incidents.set_severity(incident_id, form.get("severity", ""), actor=actor)
            message = _("Severity changed.")
        elif action == "comment":
            incidents.comment(incident_id, form.get("text", ""), actor=actor)
            message = _("Comment added.")
        else:
            abort(400)
    except KeyError:
        abort(404)
    except ValueError as err:
        flash(error_text(err), "danger")
    else:
        flash(message, "success")
    return redirect(url_for("incidents.detail", incident_id=incident_id))


def error_text(err: Exception) -> str:
    """A triage error in the user's language (the service gives English and Vietnamese)."""
    from flask_babel import get_locale

    vi = getattr(err, "vi", None)
    return str(vi) if vi and str(get_locale() or "vi") == "vi" else str(err)


@bp.route("/suppressions")
@require_role("viewer")
def suppressions() -> Any:
    """What keeps alerts and findings out of incidents: signature, type, hosts, expiry."""
    show_all = request.args.get("all") == "1"
    incidents = current_service().incidents
    active = incidents.suppressions(active_only=True)
    items = incidents.suppressions(active_only=False) if show_all else active
    return render_template("incidents/suppressions.html", items=items, show_all=show_all,
                           active_ids={s.id for s in active})  # fmt: skip


@bp.route("/suppressions/<int:suppression_id>/end", methods=["POST"])
@require_role("analyst")
def end_suppression(suppression_id: int) -> Any:
    """End a suppression now: matching alerts open and feed incidents again."""
    try:
        current_service().incidents.remove_suppression(suppression_id, actor=_actor())
    except KeyError:
        abort(404)
    except ValueError as err:
        flash(error_text(err), "danger")
    else:
        flash(_("Suppression ended."), "success")
    return redirect(url_for("incidents.suppressions"))
