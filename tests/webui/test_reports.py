"""The reports pages: list, view and download stored reports, ask the core for one, and
the scheduled jobs (admins edit schedules and run jobs; everything goes through the core
and the audit log)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from tests.helpers.report_data import busy_day
from tests.webui.conftest import WebClient


def _service(app: Flask) -> Any:
    return app.extensions["spanwatch"].service


def _stored(app: Flask) -> list:
    service = _service(app)
    service.reports.collect = lambda day: busy_day()  # the report of a busy day
    return service.reports.generate(dt.date(2026, 11, 23), lang="vi")


def test_viewers_list_view_and_download_reports(app: Flask, viewer_client: WebClient) -> None:
    stored = {r.format: r for r in _stored(app)}
    viewer_client.get("/language/en")
    page = viewer_client.get("/reports/").get_data(as_text=True)
    assert "2026-11-23" in page and 'id="sw-reports"' in page
    assert "Make report" not in page  # viewers cannot ask for one
    pdf = viewer_client.get(f"/reports/{stored['pdf'].id}/download")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    html = viewer_client.get(f"/reports/{stored['html'].id}")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert "script-src" not in html.headers["Content-Security-Policy"]
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    assert b"&lt;script&gt;alert(1)" in html.data and b"<script>alert(1)" not in html.data
    assert viewer_client.get("/reports/999999").status_code == 404


def test_analysts_ask_the_core_for_a_report(app: Flask, analyst_client: WebClient,
                                            viewer_client: WebClient) -> None:  # fmt: skip
    done = analyst_client.post_form("/reports/generate", {"day": "2026-11-20", "lang": "en"})
    assert done.status_code == 302
    (req,) = _service(app).requests.list(kind="report.generate")
    assert req.params == {"day": "2026-11-20", "lang": "en"} and req.actor == "analyst1"
    assert _service(app).audit.list(action="report").items[0].actor == "analyst1"
    bad = analyst_client.post_form("/reports/generate", {"day": "yesterday"})
    assert bad.status_code == 302 and len(_service(app).requests.list()) == 1
    refused = viewer_client.post_form("/reports/generate", {"day": "2026-11-20"})
    assert refused.status_code == 403


def test_admins_edit_schedules_and_run_jobs(app: Flask, admin_client: WebClient,
                                            analyst_client: WebClient) -> None:  # fmt: skip
    admin_client.get("/language/en")
    page = admin_client.get("/reports/jobs").get_data(as_text=True)
    assert "Daily risk report" in page and "0 7 * * *" in page
    saved = admin_client.post_form("/reports/jobs/report",
                                   {"crontab": "30 6 * * 1-5", "enabled": "on"})  # fmt: skip
    assert saved.status_code == 302
    schedule = _service(app).jobs.get("report")
    assert (schedule.crontab, schedule.source) == ("30 6 * * 1-5", "ui")
    kinds = [r.kind for r in _service(app).requests.list()]
    assert kinds == ["jobs.reload"]
    admin_client.post_form("/reports/jobs/report", {"crontab": "whenever"})
    assert _service(app).jobs.get("report").crontab == "30 6 * * 1-5"
    admin_client.post_form("/reports/jobs/rules", {"action": "run"})
    assert _service(app).requests.list()[0].params == {"job": "rules"}
    admin_client.post_form("/reports/jobs/report", {"action": "reset"})
    assert _service(app).jobs.get("report").source == "config"
    actions = {e.action for e in _service(app).audit.list(action="job").items}
    assert actions == {"job.schedule", "job.run"}
    assert analyst_client.post_form("/reports/jobs/report", {"action": "run"}).status_code == 403
    assert admin_client.post_form("/reports/jobs/nope", {"action": "run"}).status_code == 404
