"""Assets: the inventory, a host page (risk factors, services, names, incidents, timeline),
edits of what people know (criticality, owner, agency, tags), CSV import and export.

Viewers read; administrators edit and import (the edits are audited by the service).
Everything the inventory learned from traffic (names, banners) is attacker-influenced
and shown through Jinja's escaping only.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from appliance.assets import CRITICALITIES, NAME_SOURCES
from appliance.errors import ApplianceError
from appliance.risk import band
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = Blueprint("assets", __name__, url_prefix="/assets", template_folder="templates")
PAGE_SIZE = 50
SORTS = ("risk", "ip", "last_seen", "first_seen", "criticality")
MAX_CSV_BYTES = 5 * 1024 * 1024


def _vi() -> bool:
    return str(get_locale() or "vi") == "vi"


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {
        "risk_band": lambda score: band(int(score))[1 if _vi() else 0],
        "risk_tone": lambda score: band(int(score))[0],
        "name_source": lambda src: NAME_SOURCES.get(src, (src, src))[1 if _vi() else 0],
        "factor_text": lambda f: f.detail_vi if _vi() else f.detail_en,
    }


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.username


def checked_ip(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        abort(404)


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """The inventory: search, filter by criticality or tag, sort by risk, address, time."""
    args = request.args
    try:
        page_no = max(1, min(int(args.get("page", 1)), 10_000))
    except ValueError:
        page_no = 1
    sort = args.get("sort", "risk") if args.get("sort", "risk") in SORTS else "risk"
    crit = args.get("criticality") or None
    values = {"q": args.get("q", "")[:200], "sort": sort, "criticality": crit or "",
              "tag": args.get("tag", "")[:64]}  # fmt: skip
    page = current_service().assets.list(
        q=values["q"] or None, sort=sort, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE,
        criticality=crit if crit in CRITICALITIES else None, tag=values["tag"] or None,
    )  # fmt: skip
    return render_template("assets/index.html", page=page, values=values, sorts=SORTS,
                           criticalities=CRITICALITIES)  # fmt: skip


@bp.route("/<ip>")
@require_role("viewer")
def host(ip: str) -> Any:
    """One host: risk and its factors, names, services, OS, MACs, incidents, timeline."""
    ip = checked_ip(ip)
    service = current_service()
    found = service.assets.get(ip)
    if found is None:
        abort(404)
    incidents = service.incidents.for_host(ip, limit=20)
    alerts = _recent_alerts(service, ip)
    history = service.risk.history(ip, days=7)
    return render_template(
        "assets/host.html", found=found, asset=found.asset, incidents=incidents,
        alerts=alerts, timeline=_timeline(found, incidents, alerts),
        history_chart=_history_chart(history), criticalities=CRITICALITIES,
    )  # fmt: skip


def _recent_alerts(service: Any, ip: str) -> list[Any]:
    from appliance.service.alert_query import AlertFilter

    try:
        return list(service.alerts.list(AlertFilter(host=ip, status=None), limit=15).items)
    except ApplianceError:
        return []


def _timeline(found: Any, incidents: list[Any], alerts: list[Any]) -> list[dict[str, Any]]:
    """What happened to the host, newest first: alerts, incidents, names, first sighting."""
    items: list[dict[str, Any]] = []
    if found.asset.first_seen:
        items.append({"ts": found.asset.first_seen, "kind": "first", "text": ""})
    for n in found.names:
        if n.get("first_seen"):
            items.append({"ts": n["first_seen"], "kind": "name", "text": n["name"],
                          "source": n["source"]})  # fmt: skip
    for inc in incidents:
        items.append({"ts": inc.first_seen, "kind": "incident", "item": inc})
    for a in alerts:
        items.append({"ts": a.ts, "kind": "alert", "item": a})
    return sorted(items, key=lambda x: x["ts"], reverse=True)[:40]


def _history_chart(history: list[tuple[int, int]]) -> dict[str, Any] | None:
    """A Chart.js line of the daily risk score (for ``data-chart``)."""
    if not history:
        return None
    from webui.templating import localtime

    return {
        "type": "line",
        "data": {"labels": [localtime(day, "%d/%m") for day, _score in history],
                 "datasets": [{"label": _("Risk"), "data": [s for _d, s in history],
                               "borderColor": "#c0392b", "backgroundColor": "rgba(192,57,43,.12)",
                               "fill": True, "tension": 0.3, "pointRadius": 2}]},
        "options": {"plugins": {"legend": {"display": False}},
                    "scales": {"y": {"min": 0, "max": 100}}},
    }  # fmt: skip


@bp.route("/<ip>", methods=["POST"])
@require_role("admin")
def edit(ip: str) -> Any:
    """Save criticality, owner, agency and tags (comma-separated)."""
    ip = checked_ip(ip)
    form = request.form
    tags = [t.strip() for t in form.get("tags", "").replace(";", ",").split(",") if t.strip()]
    try:
        current_service().assets.update(
            ip, owner=form.get("owner", ""), agency=form.get("agency", ""),
            criticality=form.get("criticality") or None, tags=tags, actor=_actor(),
        )  # fmt: skip
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("Saved. The risk score takes the new criticality into account at its next "
                "update."), "success")  # fmt: skip
    return redirect(url_for("assets.host", ip=ip))


@bp.route("/export.csv")
@require_role("viewer")
def export() -> Any:
    """Every asset as CSV (spreadsheet formulas neutralised by the service)."""
    text = current_service().assets.export_csv()
    return Response(text, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="spanwatch-assets.csv"'})  # fmt: skip


@bp.route("/import", methods=["POST"])
@require_role("admin")
def import_csv() -> Any:
    """Import owners, agencies, criticality and tags from CSV; any bad line changes nothing."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file."), "danger")
        return redirect(url_for("assets.index"))
    data = upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        flash(_("The file is larger than 5 MiB."), "danger")
        return redirect(url_for("assets.index"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        flash(_("The file is not UTF-8 text."), "danger")
        return redirect(url_for("assets.index"))
    try:
        created, updated, errors = current_service().assets.import_csv(text, actor=_actor())
    except ApplianceError as err:
        errors, created, updated = [str(err)], 0, 0
    if errors:
        flash(_("Nothing imported: %(errors)s", errors="; ".join(errors[:10])), "danger")
    else:
        flash(_("Imported: %(created)s new, %(updated)s updated.", created=created,
                updated=updated), "success")  # fmt: skip
    return redirect(url_for("assets.index"))
