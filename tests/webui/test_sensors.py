"""The sensors page: health for every role, enrolment decisions for admins only."""

from __future__ import annotations

from typing import Any

import pytest

import appliance
from appliance.center.registry import SensorRegistry
from tests.webui.conftest import WebClient
from webui.extensions import current_service

HOSTILE = "x<script>y"  # sensor names are checked at enrolment; health text is escaped


@pytest.fixture
def sensors(app: Any) -> None:
    with app.app_context():
        registry = SensorRegistry(current_service().state)
        for name in ("site-a", "site-b", "site-new"):
            registry.request(name, f"{name}-tok-" + "x" * 32, address="192.0.2.7", max_pending=50)
        for name in ("site-a", "site-b"):
            registry.approve(name, actor="seed")
            found = registry.get(name)
            assert found is not None
            registry.record_contact(found.id, address="192.0.2.7", records=5, duplicates=0, health={
                "spanwatch_version": "0.0.9" if name == "site-b" else appliance.__version__,
                "suricata_version": HOSTILE, "buffer_bytes": 2048, "buffer_budget": 4096,
                "rule_count": 15003,
            })  # fmt: skip
        registry.count_rejection("", "unknown-token", "test")


def test_every_role_sees_health_and_only_admins_see_decisions(
    viewer_client: WebClient, admin_client: WebClient, sensors: None
) -> None:
    html = viewer_client.get("/sensors/").get_data(as_text=True)
    for name in ("site-a", "site-b", "site-new"):
        assert f'data-sensor="{name}"' in html
    assert "x&lt;script&gt;y" in html and HOSTILE not in html
    assert "0.0.9" in html and "sw-enrolments" not in html and "sw-rejections" not in html
    assert "Thu hồi" not in html  # no revoke buttons for viewers
    admin = admin_client.get("/sensors/").get_data(as_text=True)
    assert "sw-enrolments" in admin and "sw-rejections" in admin
    assert "Phê duyệt" in admin  # Vietnamese by default


def test_admins_approve_and_revoke_others_cannot(
    viewer_client: WebClient, analyst_client: WebClient, admin_client: WebClient, sensors: None
) -> None:
    for client in (viewer_client, analyst_client):
        assert client.post_form("/sensors/site-new/approve", {}).status_code == 403
        assert client.post_form("/sensors/site-a/revoke", {}).status_code == 403
    wrong = admin_client.post_form("/sensors/site-new/approve",
                                   {"fingerprint": "0000-0000-0000-0000"})  # fmt: skip
    assert wrong.status_code == 302
    with admin_client.application.app_context():
        registry = SensorRegistry(current_service().state)
        new = registry.get("site-new")
        assert new is not None and new.status == "pending"
    admin_client.post_form("/sensors/site-new/approve", {"fingerprint": new.fingerprint})
    admin_client.post_form("/sensors/site-a/revoke", {})
    with admin_client.application.app_context():
        registry = SensorRegistry(current_service().state)
        assert registry.get("site-new").status == "approved"  # type: ignore[union-attr]
        assert registry.get("site-a").status == "revoked"  # type: ignore[union-attr]
        actions = [e.action for e in current_service().audit.list().items]
    assert "sensors.approve" in actions and "sensors.revoke" in actions
