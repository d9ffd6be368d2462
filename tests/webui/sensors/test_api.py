"""``/api/v1/sensors``: health as JSON for viewers, decisions for admins only."""

from __future__ import annotations

from typing import Any

from appliance.center.registry import SensorRegistry
from tests.webui.conftest import WebClient
from webui.extensions import current_service


def _seed(app: Any) -> str:
    with app.app_context():
        registry = SensorRegistry(current_service().state)
        registry.request("site-a", "site-a-token-" + "x" * 32, address="192.0.2.7",
                         max_pending=50)  # fmt: skip
        found = registry.get("site-a")
        assert found is not None
        return found.fingerprint


def test_list_one_and_decide(admin_client: WebClient, viewer_client: WebClient) -> None:
    fingerprint = _seed(admin_client.application)
    items = viewer_client.get("/api/v1/sensors/").get_json()["items"]
    assert [(s["name"], s["status"], s["last_contact"]) for s in items] == [
        ("site-a", "pending", None)]
    assert viewer_client.get("/api/v1/sensors/site-a").get_json()["fingerprint"] == fingerprint
    assert viewer_client.get("/api/v1/sensors/nobody").status_code == 404
    denied = viewer_client.post("/api/v1/sensors/site-a/approve", json={},
                                headers={"X-CSRFToken": viewer_client.csrf_token()})  # fmt: skip
    assert denied.status_code == 403
    headers = {"X-CSRFToken": admin_client.csrf_token()}
    wrong = admin_client.post("/api/v1/sensors/site-a/approve", json={"fingerprint": "00"},
                              headers=headers)  # fmt: skip
    assert wrong.status_code == 409 and "does not match" in wrong.get_json()["error"]
    done = admin_client.post("/api/v1/sensors/site-a/approve",
                             json={"fingerprint": fingerprint}, headers=headers)  # fmt: skip
    assert done.get_json()["status"] == "approved"
    gone = admin_client.post("/api/v1/sensors/site-a/revoke", json={}, headers=headers)
    assert gone.get_json()["status"] == "revoked"
