"""The JSON API framework: docs generated from the routes, JSON errors, paging."""

from __future__ import annotations

from flask import Flask
from markupsafe import escape

from tests.webui.conftest import WebClient


def test_docs_page_lists_every_api_route_with_its_role(
    app: Flask, viewer_client: WebClient
) -> None:
    page = viewer_client.get("/api/").get_data(as_text=True)
    routes = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")]
    assert routes and all(str(escape(route)) in page for route in routes)
    listed = viewer_client.get("/api/v1/endpoints").json["endpoints"]
    me = next(e for e in listed if e["path"] == "/api/v1/me")
    assert me["role"] == "viewer" and me["methods"] == ["GET"] and me["summary"]


def test_api_errors_are_json(viewer_client: WebClient) -> None:
    missing = viewer_client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json["error"] == "not-found"
    wrong = viewer_client.post("/api/v1/me")
    assert wrong.status_code in (400, 405) and "error" in wrong.json


def test_admin_reads_users_and_audit_with_a_token(app: Flask, admin_client: WebClient) -> None:
    users = app.extensions["spanwatch"].service.users
    admin = users.by_name("admin1")
    assert admin is not None
    _, secret = users.create_token(admin.id, "siem")
    anon: WebClient = app.test_client()  # type: ignore[assignment]
    auth = {"Authorization": f"Bearer {secret}"}
    listed = anon.get("/api/v1/users/", headers=auth).json
    assert {u["username"] for u in listed["items"]} == {"admin1", "analyst1", "viewer1"}
    assert "password_hash" not in str(listed)
    audit = anon.get("/api/v1/audit/?action=auth&limit=5", headers=auth).json
    assert audit["items"][0]["action"] == "auth.login"
    assert audit["items"][0]["ts"].endswith("Z")
    bad = anon.get("/api/v1/audit/?since=yesterday", headers=auth)
    assert bad.status_code == 400 and "since" in bad.json["message"]
    assert anon.get("/api/v1/audit/?limit=5000", headers=auth).status_code == 400


def test_viewer_token_cannot_read_admin_endpoints(app: Flask,
                                                  viewer_client: WebClient) -> None:  # fmt: skip
    users = app.extensions["spanwatch"].service.users
    viewer = users.by_name("viewer1")
    assert viewer is not None
    _, secret = users.create_token(viewer.id, "t")
    anon: WebClient = app.test_client()  # type: ignore[assignment]
    response = anon.get("/api/v1/users/", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403 and response.json["error"] == "forbidden"
