"""Reports: the stored daily risk reports (list, view, download), making one on demand,
and the core's scheduled jobs (schedules editable by admins, last runs, run now).

The web process never renders a report or runs a job itself: it submits a request
(``Service.requests``) that spanwatch-core executes, and shows the outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webui.audit import audit
from webui.auth.guard import current_user, require_role
from webui.extensions import current_config, current_service

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")
PAGE_SIZE = 30
#: The report's own HTML has inline styles and no script at all: allow exactly that.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")  # fmt: skip


def _actor() -> str:
    user = current_user()
    return user.username if user else "anonymous"


@bp.route("/")
@require_role("viewer")
def index() -> Any:
    """Stored reports, newest day first, and the form to make one."""
    try:
        page_no = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page_no = 1
    service = current_service()
    page = service.reports.list(offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    yesterday = dt.datetime.now(ZoneInfo(current_config().timezone)).date() - dt.timedelta(1)
    return render_template("reports/index.html", page=page, yesterday=yesterday.isoformat(),
                           pending=service.requests.list(kind="report.generate", limit=5),
                           default_lang=current_config().core.report.lang)  # fmt: skip


def _report_or_404(report_id: int) -> tuple[Any, bytes]:
    service = current_service()
    report = service.reports.get(report_id)
    content = service.reports.content(report_id) if report else None
    if report is None or content is None:
        abort(404)
    return report, content


@bp.route("/<int:report_id>")
@require_role("viewer")
def view(report_id: int) -> Any:
    """The report in the browser (PDF inline, or the HTML with a script-free policy)."""
    report, content = _report_or_404(report_id)
    response = Response(content, mimetype=report.mime.split(";")[0])
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Content-Disposition"] = f'inline; filename="{report.filename}"'
    return response


@bp.route("/<int:report_id>/download")
@require_role("viewer")
def download(report_id: int) -> Any:
    """The report file as an attachment."""
    report, content = _report_or_404(report_id)
    response = Response(content, mimetype=report.mime.split(";")[0])
    response.headers["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return response


@bp.route("/generate", methods=["POST"])
@require_role("analyst")
def generate() -> Any:
    """Ask the core to make one day's report."""
    try:
        day = dt.date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash(_("Choose a day (YYYY-MM-DD)."), "danger")
        return redirect(url_for("reports.index"))
    lang = request.form.get("lang", "vi")
    if lang not in ("vi", "en"):
        abort(400)
    rid = current_service().requests.submit(
        "report.generate", {"day": day.isoformat(), "lang": lang}, actor=_actor())
    audit("report.generate", day.isoformat(), lang=lang, request=rid)
    flash(_("The report for %(day)s is being made; it appears here in a moment.",
            day=day.isoformat()), "success")  # fmt: skip
    return redirect(url_for("reports.index"))


@bp.route("/jobs")
@require_role("viewer")
def jobs() -> Any:
    """The scheduled jobs: schedule, where it comes from, the latest runs."""
    service = current_service()
    schedules = service.jobs.all()
    last = {s.job: next(iter(service.jobs.runs(s.job, 1)), None) for s in schedules}
    return render_template("reports/jobs.html", schedules=schedules, last=last,
                           runs=service.jobs.runs(limit=20),
                           tz=current_config().timezone)  # fmt: skip


@bp.route("/jobs/<job>", methods=["POST"])
@require_role("admin")
def schedule(job: str) -> Any:
    """Change, reset or run a job now (admins)."""
    service = current_service()
    if job not in service.jobs.names:
        abort(404)
    action = request.form.get("action", "save")
    if action == "run":
        rid = service.requests.submit("jobs.run", {"job": job}, actor=_actor())
        audit("job.run", job, request=rid)
        flash(_("The job %(job)s will run in a moment.", job=job), "success")
        return redirect(url_for("reports.jobs"))
    if action == "reset":
        service.jobs.reset(job, actor=_actor())
        audit("job.schedule", job, crontab="(configuration default)")
    else:
        crontab = " ".join(request.form.get("crontab", "").split())
        enabled = request.form.get("enabled") == "on"
        try:
            service.jobs.set(job, crontab, actor=_actor(), enabled=enabled)
        except ValueError as err:
            flash(str(err), "danger")
            return redirect(url_for("reports.jobs"))
        audit("job.schedule", job, crontab=crontab, enabled=enabled)
    service.requests.submit("jobs.reload", actor=_actor())
    flash(_("Schedule saved; the core applies it within seconds."), "success")
    return redirect(url_for("reports.jobs"))
