"""Rules: search every rule, switch rules, thresholds and suppressions, sources, apply.

Viewers read; administrators change. Nothing here runs Suricata: changes are recorded
(``Service.rules``, audited there) and "Apply" asks spanwatch-core to test and load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _

from appliance.errors import ApplianceError
from webui.auth.guard import current_user, is_local_url, require_role
from webui.extensions import current_config, current_service
from webui.rules.forms import parse_expiry, parse_threshold_form, state_value

bp = Blueprint("rules", __name__, url_prefix="/rules", template_folder="templates")
PAGE_SIZE = 50
STATIC_DIR = Path(__file__).resolve().parent / "static"
SEARCH_ARGS = ("q", "category", "classtype", "state")


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.username


def _filters() -> dict[str, str]:
    return {k: request.args.get(k, "").strip()[:200] for k in SEARCH_ARGS}


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


def _back(default: str) -> str:
    target = request.form.get("next") or request.args.get("next")
    if is_local_url(target) and str(target).startswith("/rules"):
        return str(target)
    return default


@bp.route("/rules.js")
@require_role("viewer")
def script() -> Any:
    """Search as you type and the selection tools of the rules page."""
    return send_from_directory(STATIC_DIR, "rules.js", mimetype="text/javascript", max_age=3600)


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """The rule search; ``fragment=1`` returns only the result table (search as you type)."""
    rules = current_service().rules
    f = _filters()
    try:
        page = rules.search(
            f["q"] or None, category=f["category"] or None, classtype=f["classtype"] or None,
            state=f["state"] or None, offset=(_page_number() - 1) * PAGE_SIZE, limit=PAGE_SIZE,
        )  # fmt: skip
    except ValueError:
        abort(400)
    here = request.full_path if request.query_string else request.path
    here = here.replace("fragment=1", "").rstrip("?&")
    context = {"page": page, "values": f, "here": here}
    if request.args.get("fragment") == "1":
        return render_template("rules/_results.html", **context)
    return render_template(
        "rules/index.html", counts=rules.counts(), last=rules.last_apply(),
        categories=rules.facets("category"), classtypes=rules.facets("classtype"),
        noisy=_noisiest(), **context,
    )  # fmt: skip


def _noisiest(limit: int = 5) -> list[dict[str, Any]]:
    """The rules that raised the most alerts in the last 7 days (candidates to tune)."""
    import time

    from appliance.service.alert_query import AlertFilter

    service = current_service()
    since = int((time.time() - 7 * 86400) * 1_000_000)
    try:
        groups = service.alerts.groups(
            AlertFilter(event_type="alert", status=None, since_us=since), limit=limit
        ).items
    except ApplianceError:
        return []
    out = []
    for g in groups:
        kind, _sep, value = g.gkey.partition(":")
        if kind == "sid" and value.isdigit():
            found = service.rules.get(int(value))
            out.append({"sid": int(value), "label": g.label, "count": g.count,
                        "rule": found["rule"] if found else None})  # fmt: skip
    return out


@bp.route("/<int:sid>")
@require_role("viewer")
def detail(sid: int) -> Any:
    """One rule: its text, state, why it was changed, its thresholds and suppressions."""
    found = current_service().rules.get(sid)
    if found is None:
        abort(404)
    return render_template("rules/detail.html", found=found, rule=found["rule"])


@bp.route("/switch", methods=["POST"])
@require_role("admin")
def switch() -> Any:
    """Enable, disable or reset the selected rules, or every rule the search finds."""
    form = request.form
    rules = current_service().rules
    reason = form.get("reason", "")
    one = request.args.get("one", "")
    try:
        if one.isdigit():  # the row's own Enable/Disable button
            enabled = state_value(request.args.get("to", ""))
            count = rules.set_enabled([int(one)], enabled, actor=_actor(), reason=reason)
        elif form.get("scope") == "search":
            enabled = state_value(form.get("state", ""))
            if enabled is None:
                raise ApplianceError(_("Choose enable or disable for a whole search."))
            filters = {k: form.get(k) or None for k in ("category", "classtype")}
            filters["state"] = form.get("state_filter") or None
            count = rules.set_enabled_by_search(
                form.get("q"), enabled, actor=_actor(), reason=reason, **filters
            )
        else:
            enabled = state_value(form.get("state", ""))
            sids = [int(s) for s in form.getlist("sids") if s.isdigit()]
            count = rules.set_enabled(sids, enabled, actor=_actor(), reason=reason)
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("%(count)s rule(s) changed. Apply the changes to load them into Suricata.",
                count=count), "success")  # fmt: skip
    return redirect(_back(url_for("rules.index")))


@bp.route("/categories")
@require_role("viewer")
def categories() -> Any:
    """Rules per category (ET Open file) and per classtype, with their switches."""
    rules = current_service().rules
    return render_template("rules/categories.html", categories=rules.facets("category"),
                           classtypes=rules.facets("classtype"))  # fmt: skip


@bp.route("/categories", methods=["POST"])
@require_role("admin")
def switch_group() -> Any:
    """Enable, disable or reset a whole category or classtype."""
    form = request.form
    try:
        count = current_service().rules.set_group(
            form.get("kind", ""), form.get("name", ""), state_value(form.get("state", "")),
            actor=_actor(), reason=form.get("reason", ""),
        )  # fmt: skip
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("%(count)s rule(s) changed. Apply the changes to load them into Suricata.",
                count=count), "success")  # fmt: skip
    return redirect(_back(url_for("rules.categories")))


@bp.route("/thresholds")
@require_role("viewer")
def thresholds() -> Any:
    """Thresholds and suppressions, with their reason, author and expiry."""
    entries = current_service().rules.thresholds(active_only=False)
    from appliance.service.rule_index import now_us

    return render_template("rules/thresholds.html", entries=entries, now=now_us(),
                           sid=request.args.get("sid", ""))  # fmt: skip


@bp.route("/thresholds", methods=["POST"])
@require_role("admin")
def add_threshold() -> Any:
    """Add a threshold or a suppression (reason required, expiry optional)."""
    form = request.form
    try:
        kind, sid, options = parse_threshold_form(form)
        expires = parse_expiry(form.get("expires", ""), current_config().timezone)
        current_service().rules.add_threshold(
            kind, sid, actor=_actor(), reason=form.get("reason", ""), expires_at=expires,
            **options,
        )  # fmt: skip
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("Saved. Apply the changes to load it into Suricata."), "success")
    return redirect(_back(url_for("rules.thresholds")))


@bp.route("/thresholds/<int:entry_id>/delete", methods=["POST"])
@require_role("admin")
def delete_threshold(entry_id: int) -> Any:
    try:
        current_service().rules.remove_threshold(entry_id, actor=_actor())
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("Removed. Apply the changes to load the new list into Suricata."), "success")
    return redirect(_back(url_for("rules.thresholds")))


@bp.route("/sources")
@require_role("viewer")
def sources() -> Any:
    """Rule sources: configured, added by URL, uploaded bundles."""
    return render_template("rules/sources.html", sources=current_service().rules.sources())


@bp.route("/sources", methods=["POST"])
@require_role("admin")
def change_source() -> Any:
    """Switch a source on or off, add a URL source, upload a bundle, remove one."""
    form = request.form
    rules = current_service().rules
    action = form.get("action", "")
    try:
        if action == "add-url":
            rules.add_url_source(form.get("name", ""), form.get("url", ""), actor=_actor())
        elif action == "upload":
            upload = request.files.get("bundle")
            if upload is None or not upload.filename:
                raise ApplianceError(_("Choose a bundle file to upload."))
            rules.upload_bundle(form.get("name", ""), upload.filename, upload.read(),
                                actor=_actor())  # fmt: skip
        elif action in ("enable", "disable"):
            rules.set_source_enabled(form.get("name", ""), action == "enable", actor=_actor())
        elif action == "remove":
            rules.remove_source(form.get("name", ""), actor=_actor())
        else:
            abort(400)
    except ApplianceError as err:
        flash(str(err), "danger")
    else:
        flash(_("Sources saved. Apply the changes to build and load the new ruleset."), "success")
    return redirect(url_for("rules.sources"))


@bp.route("/apply")
@require_role("viewer")
def preview() -> Any:
    """What applying now would change (SIDs added, removed, changed) and past applies."""
    service = current_service()
    diff = service.rules.preview()
    return render_template(
        "rules/apply.html", diff=diff, counts=service.rules.counts(),
        last=service.rules.last_apply(), checked=service.rules.last_preview(),
        requests=[r for r in service.requests.list(limit=50)
                  if r.kind in ("rules.apply", "rules.preview")][:10],
    )  # fmt: skip


@bp.route("/apply", methods=["POST"])
@require_role("admin")
def apply() -> Any:
    """Ask spanwatch-core to build, test (suricata -T) and load the rules."""
    req = current_service().rules.request_apply(actor=_actor())
    message = _("Requested (#%(id)s): spanwatch-core tests the new rules with suricata -T and "
                "loads them; the last good rules stay if anything fails.", id=req)
    flash(message, "success")
    return redirect(url_for("rules.preview"))


@bp.route("/check", methods=["POST"])
@require_role("admin")
def check() -> Any:
    """Ask spanwatch-core to fetch the sources and tell what an update would change."""
    req = current_service().rules.request_preview(actor=_actor())
    flash(_("Requested (#%(id)s): spanwatch-core fetches the sources and lists what an update "
            "would change; nothing is installed.", id=req), "success")  # fmt: skip
    return redirect(url_for("rules.preview"))
