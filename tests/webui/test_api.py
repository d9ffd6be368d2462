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
