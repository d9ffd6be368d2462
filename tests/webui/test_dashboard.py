"""The dashboard over HTTP: demo data, an empty appliance, and the window's end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from appliance.config import load_config
from appliance.service import Service
from tests.helpers.demo_store import analyzed_appliance, demo_web_app
from tests.webui.conftest import ROLE_USERS, WebClient
from webui.dashboard.data import HOUR_US, build


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analyzed_appliance(tmp_path_factory.mktemp("dash-demo"), core=True)


@pytest.fixture(scope="module")
def demo_app(analyzed: Path) -> Iterator[Flask]:
    app = demo_web_app(analyzed)
    yield app
    app.extensions["spanwatch"].service.close()


def _viewer(app: Flask) -> WebClient:
    client: WebClient = app.test_client()  # type: ignore[assignment]
    assert client.login(ROLE_USERS["viewer"]).status_code == 302
    client.get("/language/en")
    return client


def test_the_dashboard_summarises_the_demo(demo_app: Flask) -> None:
    page = _viewer(demo_app).get("/dashboard/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Network risk" in html and "Top signatures" in html
    assert "SPANWATCH TEST HTTP request to /spanwatch-test" in html
    assert "Port scan" in html and "203.0.113.66" in html
    assert 'id="chart-activity"' in html and "<script>" not in html.split("chart-activity")[1][:50]
    assert _viewer(demo_app).get("/dashboard/?window=7d").status_code == 200


def test_an_old_capture_moves_the_window_to_its_newest_alert(analyzed: Path) -> None:
    service = Service(load_config(analyzed))
    try:
        board = build(service, "24h")
        latest = service.alerts.latest_ts()
        assert board.shifted and latest is not None
        assert board.since_us < latest <= board.until_us <= latest + HOUR_US
        assert board.total == service.alerts.list().total
        assert board.top_hosts[0]["key"] == "203.0.113.66"
        assert board.risk is not None and 0 < board.risk["score"] <= 100
        live = build(service, "24h", now_us=latest + 60_000_000)
        assert not live.shifted and live.total == board.total
    finally:
        service.close()


Users = dict[str, tuple[str, str]]


def test_an_empty_appliance_shows_empty_states(app: Flask, web_users: Users) -> None:
    client: WebClient = app.test_client()  # type: ignore[assignment]
    client.login(web_users["viewer"][0])
    client.get("/language/en")
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "No alerts or findings in this window." in html
    assert "No signature alerts." in html
