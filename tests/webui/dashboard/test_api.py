"""The dashboard's figures as JSON."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from appliance.service.alerts import AlertFilter
from tests.helpers.demo_store import analyzed_appliance, demo_web_app
from tests.webui.conftest import ROLE_USERS


def test_dashboard_json(tmp_path: Path) -> None:
    app: Flask = demo_web_app(analyzed_appliance(tmp_path))
    try:
        users = app.extensions["spanwatch"].service.users
        secret = users.create_token(users.by_name(ROLE_USERS["viewer"]).id, "t")[1]
        client = app.test_client()
        data = client.get("/api/v1/dashboard/?window=7d",
                          headers={"Authorization": f"Bearer {secret}"}).get_json()  # fmt: skip
        assert data["window"] == "7d" and data["shifted"] is True
        alerts = app.extensions["spanwatch"].service.alerts
        assert data["total"] == alerts.list().total >= 12
        assert data["severities"]["1"] >= 4
        assert sum(p["alert"] for p in data["series"]) == alerts.list(
            AlertFilter(event_type="alert")).total
        assert data["top_hosts"][0]["key"] == "203.0.113.66"
        assert client.get("/api/v1/dashboard/").status_code == 401
    finally:
        app.extensions["spanwatch"].service.close()
