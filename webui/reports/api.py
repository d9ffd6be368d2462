"""``/api/v1/reports``: stored reports, making one, and the scheduled jobs, as JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import Response, abort, jsonify
from pydantic import BaseModel

from webui.api import api_blueprint, iso_time, json_page, paging, parse_json, raise_bad_request
from webui.audit import audit
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = api_blueprint("reports", __name__)


class ReportRequest(BaseModel):
    day: dt.date
    lang: Literal["vi", "en"] = "vi"


class ScheduleChange(BaseModel):
    crontab: str
    enabled: bool = True


def _actor() -> str:
    user = current_user()
    return user.username if user else "anonymous"


def _report_json(r: Any) -> dict[str, Any]:
    return {"id": r.id, "day": r.day, "lang": r.lang, "format": r.format, "size": r.size,
            "created_at": iso_time(r.created_at), "summary": r.summary}  # fmt: skip


def _request_json(r: Any) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "params": r.params, "status": r.status,
            "actor": r.actor, "submitted_at": iso_time(r.submitted_at),
            "finished_at": iso_time(r.finished_at), "result": r.result, "error": r.error}


@bp.get("/")
@require_role("viewer")
def list_reports() -> Any:
    """Stored reports, newest day first. Query: offset, limit."""
    offset, limit = paging()
    return json_page(current_service().reports.list(offset=offset, limit=limit), _report_json)


@bp.get("/<int:report_id>/file")
@require_role("viewer")
def report_file(report_id: int) -> Any:
    """The report file (PDF or HTML)."""
    service = current_service()
    report = service.reports.get(report_id)
    content = service.reports.content(report_id) if report else None
    if report is None or content is None:
        abort(404)
    response = Response(content, mimetype=report.mime.split(";")[0])
    response.headers["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return response


@bp.post("/")
@require_role("analyst")
def make_report() -> Any:
    """Ask the core to make one day's report. Body: {"day": "YYYY-MM-DD", "lang": "vi"|"en"}.

    Answers 202 with the request; follow it at /api/v1/reports/requests/<id>.
    """
    body = parse_json(ReportRequest)
    rid = current_service().requests.submit(
        "report.generate", {"day": body.day.isoformat(), "lang": body.lang}, actor=_actor())
    audit("report.generate", body.day.isoformat(), lang=body.lang, request=rid)
    req = current_service().requests.get(rid)
    return jsonify(_request_json(req)), 202


@bp.get("/requests/<int:request_id>")
@require_role("viewer")
def request_status(request_id: int) -> Any:
    """A request to the core: pending, running, done (with its result) or failed."""
    req = current_service().requests.get(request_id)
    if req is None:
        abort(404)
    return jsonify(_request_json(req))


@bp.get("/jobs")
@require_role("viewer")
def jobs() -> Any:
    """The scheduled jobs: crontab, whether on, source (config or ui), the last run."""
    service = current_service()
    out = []
    for s in service.jobs.all():
        last = next(iter(service.jobs.runs(s.job, 1)), None)
        out.append({"job": s.job, "crontab": s.crontab, "enabled": s.enabled,
                    "source": s.source, "last_run": None if last is None else {
                        "status": last.status, "started_at": iso_time(last.started_at),
                        "attempts": last.attempts, "message": last.message}})  # fmt: skip
    return jsonify(items=out)


@bp.put("/jobs/<job>")
@require_role("admin")
def set_schedule(job: str) -> Any:
    """Change a job's schedule. Body: {"crontab": "0 7 * * *", "enabled": true}."""
    service = current_service()
    if job not in service.jobs.names:
        abort(404)
    body = parse_json(ScheduleChange)
    try:
        schedule = service.jobs.set(job, body.crontab, actor=_actor(), enabled=body.enabled)
    except ValueError as err:
        raise_bad_request(str(err))
    audit("job.schedule", job, crontab=body.crontab, enabled=body.enabled)
    service.requests.submit("jobs.reload", actor=_actor())
    return jsonify(job=job, crontab=schedule.crontab, enabled=schedule.enabled,
                   source=schedule.source)  # fmt: skip


@bp.post("/jobs/<job>/run")
@require_role("admin")
def run_job(job: str) -> Any:
    """Run a job now (the core does it); answers 202 with the request."""
    service = current_service()
    if job not in service.jobs.names:
        abort(404)
    rid = service.requests.submit("jobs.run", {"job": job}, actor=_actor())
    audit("job.run", job, request=rid)
    return jsonify(_request_json(service.requests.get(rid))), 202
