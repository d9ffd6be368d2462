"""The alerts JSON API with a per-user token and with the browser session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers.demo_store import analyzed_appliance, copy_appliance, demo_web_app
from tests.webui.conftest import ROLE_USERS, WebClient


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analyzed_appliance(tmp_path_factory.mktemp("api-demo"))


@pytest.fixture
def demo_app(analyzed: Path, tmp_path: Path) -> Iterator[Flask]:
    app = demo_web_app(copy_appliance(analyzed, tmp_path))
    yield app
    app.extensions["spanwatch"].service.close()


def _token(app: Flask, role: str) -> dict[str, str]:
    users = app.extensions["spanwatch"].service.users
    user = users.by_name(ROLE_USERS[role])
    secret = users.create_token(user.id, "tests")[1]
    return {"Authorization": f"Bearer {secret}"}


def test_list_filter_and_detail_with_a_token(demo_app: Flask) -> None:
    client = demo_app.test_client()
    auth = _token(demo_app, "viewer")
    everything = client.get("/api/v1/alerts/", headers=auth).get_json()
    stored = demo_app.extensions["spanwatch"].service.alerts.list().total
    assert everything["total"] == len(everything["items"]) == stored >= 12
    first = everything["items"][0]
    assert isinstance(first["event_id"], str) and first["status"] == "new"
    findings = client.get("/api/v1/alerts/?event_type=finding&limit=3", headers=auth).get_json()
    assert findings["limit"] == 3 and all(a["etype"] == "finding" for a in findings["items"])
    bad = client.get("/api/v1/alerts/?host=nonsense", headers=auth)
    assert bad.status_code == 400 and "host" in bad.get_json()["message"]
    groups = client.get("/api/v1/alerts/groups", headers=auth).get_json()
    assert sum(g["count"] for g in groups["items"]) == stored
    test_alert = next(a for a in everything["items"] if a["sid"] == 9000001)
    detail = client.get(f"/api/v1/alerts/{test_alert['event_id']}", headers=auth).get_json()
    assert detail["record"]["alert"]["signature_id"] == 9000001
    assert detail["related"]["http"][0]["http"]["url"].startswith("/spanwatch-test")
    assert client.get("/api/v1/alerts/5", headers=auth).status_code == 404


def test_triage_needs_an_analyst_and_a_reason(demo_app: Flask) -> None:
    client = demo_app.test_client()
    items = client.get("/api/v1/alerts/", headers=_token(demo_app, "viewer")).get_json()["items"]
    ids = [a["event_id"] for a in items[:2]]
    body = {"action": "archive", "ids": ids}
    viewer = client.post("/api/v1/alerts/triage", json=body, headers=_token(demo_app, "viewer"))
    assert viewer.status_code == 403
    analyst = _token(demo_app, "analyst")
    done = client.post("/api/v1/alerts/triage", json=body, headers=analyst)
    assert done.status_code == 200 and done.get_json()["ok"]
    assert client.get("/api/v1/alerts/", headers=analyst).get_json()["total"] == len(items) - 2
    no_reason = client.post("/api/v1/alerts/triage", headers=analyst,
                            json={"action": "false-positive", "ids": [items[3]["event_id"]]})
    assert no_reason.status_code == 400
    unknown = client.post("/api/v1/alerts/triage", headers=analyst,
                          json={"action": "delete", "ids": ids})  # fmt: skip
    assert unknown.status_code == 400 and "action" in unknown.get_json()["message"]


def test_session_writes_need_the_csrf_header(demo_app: Flask) -> None:
    client: WebClient = demo_app.test_client()  # type: ignore[assignment]
    client.login(ROLE_USERS["analyst"])
    items = client.get("/api/v1/alerts/").get_json()["items"]
    body = {"action": "archive", "ids": [items[0]["event_id"]]}
    assert client.post("/api/v1/alerts/triage", json=body).status_code == 400
    token = client.csrf_token()
    assert client.post("/api/v1/alerts/triage", json=body,
                       headers={"X-CSRFToken": token}).status_code == 200


def test_evidence_over_the_api(demo_app: Flask) -> None:
    client = demo_app.test_client()
    analyst = _token(demo_app, "analyst")
    items = client.get("/api/v1/alerts/?sid=9000040", headers=analyst).get_json()["items"]
    pcap = client.get(f"/api/v1/alerts/{items[0]['event_id']}/evidence.pcap", headers=analyst)
    assert pcap.status_code == 200 and b"uid=0(root)" in pcap.data
