"""Audit log page: who did what, when, filterable; attacker-controlled text escaped."""

from __future__ import annotations

from flask import Flask

from tests.webui.conftest import WebClient


def test_audit_page_lists_and_filters_actions(app: Flask, admin_client: WebClient) -> None:
    audit = app.extensions["spanwatch"].service.audit
    audit.record("analyst1", "incident.status", "42", {"status": "resolved"})
    audit.record("admin1", "rules.disable", "2100498", {"reason": "noisy"})
    page = admin_client.get("/audit/").get_data(as_text=True)
    assert "incident.status" in page and "rules.disable" in page and "auth.login" in page
    only = admin_client.get("/audit/?actor=analyst1").get_data(as_text=True)
    assert "incident.status" in only and "rules.disable" not in only
    area = admin_client.get("/audit/?action=rules").get_data(as_text=True)
    assert "rules.disable" in area and "incident.status" not in area


def test_failed_login_names_are_escaped(app: Flask, client: WebClient,
                                        admin_client: WebClient) -> None:  # fmt: skip
    client.login("<script>alert(1)</script>", "whatever-password")
    page = admin_client.get("/audit/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
