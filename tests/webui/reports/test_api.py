"""``/api/v1/reports`` with API tokens: reports listed and fetched, one asked of the core
and followed, jobs read, rescheduled and run by admins only."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from tests.helpers.report_data import busy_day
from tests.webui.conftest import WebClient


def _token(app: Flask, username: str) -> dict[str, str]:
    users = app.extensions["spanwatch"].service.users
    user = users.by_name(username)
    assert user is not None
    _, secret = users.create_token(user.id, "api-test")
    return {"Authorization": f"Bearer {secret}"}


def test_reports_over_the_api(app: Flask, admin_client: WebClient) -> None:
    service = app.extensions["spanwatch"].service
    service.reports.collect = lambda day: busy_day()
    service.reports.generate(dt.date(2026, 11, 23), lang="en", formats=("pdf",))
    anon: WebClient = app.test_client()  # type: ignore[assignment]
    viewer, analyst = _token(app, "viewer1"), _token(app, "analyst1")
    listed = anon.get("/api/v1/reports/", headers=viewer).json
    (item,) = listed["items"]
    assert (item["day"], item["lang"], item["format"]) == ("2026-11-23", "en", "pdf")
    assert item["summary"]["network_score"] == 62 and item["created_at"].endswith("Z")
    pdf = anon.get(f"/api/v1/reports/{item['id']}/file", headers=viewer)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    asked = anon.post("/api/v1/reports/", json={"day": "2026-11-22", "lang": "vi"},
                      headers=analyst)  # fmt: skip
    assert asked.status_code == 202 and asked.json["status"] == "pending"
    followed = anon.get(f"/api/v1/reports/requests/{asked.json['id']}", headers=viewer).json
    assert followed["params"] == {"day": "2026-11-22", "lang": "vi"}
    bad = anon.post("/api/v1/reports/", json={"day": "tomorrow"}, headers=analyst)
    assert bad.status_code == 400 and "day" in bad.json["message"]
    refused = anon.post("/api/v1/reports/", json={"day": "2026-11-22"}, headers=viewer)
    assert refused.status_code == 403


def test_jobs_over_the_api(app: Flask, admin_client: WebClient) -> None:
    anon: WebClient = app.test_client()  # type: ignore[assignment]
    admin, analyst = _token(app, "admin1"), _token(app, "analyst1")
    jobs = {j["job"]: j for j in anon.get("/api/v1/reports/jobs", headers=analyst).json["items"]}
    assert jobs["report"]["crontab"] == "0 7 * * *" and jobs["report"]["source"] == "config"
    changed = anon.put("/api/v1/reports/jobs/health", json={"crontab": "*/10 * * * *"},
                       headers=admin)  # fmt: skip
    assert changed.status_code == 200 and changed.json["source"] == "ui"
    wrong = anon.put("/api/v1/reports/jobs/health", json={"crontab": "often"}, headers=admin)
    assert wrong.status_code == 400
    run = anon.post("/api/v1/reports/jobs/retention/run", headers=admin)
    assert run.status_code == 202 and run.json["params"] == {"job": "retention"}
    assert anon.post("/api/v1/reports/jobs/retention/run", headers=analyst).status_code == 403
    assert anon.put("/api/v1/reports/jobs/nope", json={"crontab": "* * * * *"},
                    headers=admin).status_code == 404  # fmt: skip
