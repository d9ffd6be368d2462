"""Alerts and findings: the inbox, search and grouping, the detail page, triage, evidence.

Viewers read; analysts triage (archive, escalate to an incident, false positive,
suppress) and download evidence. Every change is audited. Packet data (host names, URIs,
user agents, DNS and TLS names, file names) is shown through Jinja's escaping only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from appliance.errors import ApplianceError
from webui.alerts import labels
from webui.alerts.filters import FILTER_ARGS, parse_filter, query_args
from webui.alerts.records import related_rows, shown, summary_fields
from webui.alerts.triage import apply_triage, suppress_from_form
from webui.audit import audit
from webui.auth.guard import current_user, is_local_url, require_role
from webui.extensions import current_config, current_service, web_state

logger = logging.getLogger(__name__)

bp = Blueprint("alerts", __name__, url_prefix="/alerts", template_folder="templates")
PAGE_SIZE = 50
STATIC_DIR = Path(__file__).resolve().parent / "static"


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    user = current_user()
    return {**labels.template_globals(), "incident_url": incident_url,
            "can_triage": user is not None and user.has_role("analyst")}  # fmt: skip


def incident_url(incident_id: int) -> str:
    """The incident's page, when the incidents pages exist."""
    for endpoint, arg in (("incidents.detail", "incident_id"), ("incidents.show", "incident_id")):
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, **{arg: incident_id})  # type: ignore[arg-type]
            except BuildError:
                continue
    return url_for("incidents.index") if "incidents.index" in current_app.view_functions else "#"


@bp.route("/alerts.js")
@require_role("viewer")
def script() -> Any:
    """The alert pages' own behaviour (select all, bulk action fields)."""
    return send_from_directory(STATIC_DIR, "alerts.js", mimetype="text/javascript",
                               max_age=3600)  # fmt: skip


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """The inbox (or any status), filtered; as a list or grouped by signature."""
    parsed = parse_filter(request.args, current_config().timezone)
    view = "groups" if request.args.get("view") == "groups" else "list"
    offset = (_page_number() - 1) * PAGE_SIZE
    alerts = current_service().alerts
    if view == "groups":
        page: Any = alerts.groups(parsed.flt, offset=offset, limit=PAGE_SIZE)
    else:
        page = alerts.list(parsed.flt, offset=offset, limit=PAGE_SIZE)
    return render_template(
        "alerts/index.html", page=page, view=view, parsed=parsed, values=parsed.values,
        facets=alerts.facets(), query_args=query_args, filter_args=FILTER_ARGS,
        here=request.full_path if request.query_string else request.path,
    )  # fmt: skip


@bp.route("/<int:event_id>")
@require_role("viewer")
def detail(event_id: int) -> Any:
    """One alert or finding: what, who, the raw record, its flow's records, its history."""
    found = current_service().alerts.get(event_id)
    if found is None:
        abort(404)
    record = found.record or {}
    finding = record.get("finding") if isinstance(record.get("finding"), dict) else None
    return render_template(
        "alerts/detail.html", item=found, alert=found.alert, record=record, finding=finding,
        summary=summary_fields(record), related=related_rows(found.related),
        back=_back_url(), shown=shown,
    )  # fmt: skip


@bp.route("/triage", methods=["POST"])
@require_role("analyst")
def triage() -> Any:
    """Archive, restore, escalate or mark false positive: the selected alerts or a group."""
    form = request.form
    try:
        message = apply_triage(form, current_service(), current_config().timezone)
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(message, "success")
    return redirect(_back_url(form.get("next")))


@bp.route("/<int:event_id>/suppress", methods=["POST"])
@require_role("analyst")
def suppress(event_id: int) -> Any:
    """Suppress alerts like this one (everywhere, from its source, or between its hosts)."""
    try:
        sup_id = suppress_from_form(event_id, request.form, current_service())
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("Suppressed: alerts like this one no longer reach the inbox (suppression "
                "%(id)s).", id=sup_id), "success")  # fmt: skip
    return redirect(url_for("alerts.detail", event_id=event_id))


@bp.route("/<int:event_id>/evidence.pcap")
@require_role("analyst")
def evidence(event_id: int) -> Any:
    """The packets of the alert's flow as a pcap download."""
    from webui.alerts.evidence import evidence_pcap

    service = current_service()
    if service.alerts.record(event_id) is None:
        abort(404)
    try:
        found = evidence_pcap(current_config(), service.store, event_id)
    except ApplianceError as err:
        flash(_("No evidence pcap: %(reason)s", reason=str(err)), "warning")
        return redirect(url_for("alerts.detail", event_id=event_id))
    audit("alerts.evidence", f"alert {event_id}", bytes=len(found.data))
    return Response(found.data, mimetype="application/vnd.tcpdump.pcap", headers={
        "Content-Disposition": f'attachment; filename="{found.filename}"'})  # fmt: skip


@bp.route("/<int:event_id>/packets")
@require_role("analyst")
def packets(event_id: int) -> Any:
    """Wireshark's dissection of the alert's packets (tshark, on demand)."""
    from webui.alerts.evidence import dissect

    service = current_service()
    found = service.alerts.get(event_id)
    if found is None:
        abort(404)
    try:
        view = dissect(current_config(), web_state().config_path, event_id)
    except ApplianceError as err:
        flash(_("The packets cannot be dissected: %(reason)s", reason=str(err)), "warning")
        return redirect(url_for("alerts.detail", event_id=event_id))
    return render_template("alerts/packets.html", item=found, alert=found.alert, view=view)


def _back_url(target: str | None = None) -> str:
    """Where to return: a local URL the page passed, else the inbox."""
    target = target if target is not None else request.args.get("back")
    if is_local_url(target) and str(target).startswith("/alerts"):
        return str(target)
    return url_for("alerts.index")
