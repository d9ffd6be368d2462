"""Login required everywhere, roles on every view and API call, CSRF, local redirects."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.webui.conftest import PASSWORD, WebClient
from webui.auth.guard import PUBLIC_ENDPOINTS, is_local_url, require_role

_ARG_VALUES = {"int": "1", "path": "x", "string": "x", "default": "x"}


def _sample_url(rule) -> str:  # type: ignore[no-untyped-def]
    """The rule's URL with a plausible value for each argument."""
    def fill(match: re.Match[str]) -> str:
        converter = (match.group(1) or "default").split("(")[0]
        return _ARG_VALUES.get(converter, "1")

    return re.sub(r"<(?:(\w+(?:\([^)]*\))?):)?\w+>", fill, rule.rule)


def test_every_endpoint_needs_a_login(app: Flask, client: WebClient,
                                      web_users: dict[str, tuple[str, str]]) -> None:  # fmt: skip
    unguarded = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = _sample_url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if response.status_code not in (302, 400, 401):
                unguarded.append(f"{method} {url} -> {response.status_code}")
            elif response.status_code == 302:
                assert "/login" in response.headers["Location"], url
    assert unguarded == []


def test_every_endpoint_declares_a_role(app: Flask) -> None:
    missing = [
        endpoint for endpoint, view in app.view_functions.items()
        if endpoint not in PUBLIC_ENDPOINTS and getattr(view, "required_role", None) is None
    ]  # fmt: skip
    assert missing == []


def test_an_endpoint_without_a_role_is_denied(app: Flask) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    app.add_url_rule("/declared", "declared", require_role("viewer")(lambda: "fine"))
    app.extensions["spanwatch"].service.users.create("someone", PASSWORD, "admin")
    client: WebClient = app.test_client()  # type: ignore[assignment]
    client.login("someone")
    assert client.get("/forgotten").status_code == 403
    assert client.get("/declared").status_code == 200


def test_viewer_cannot_open_admin_pages_or_post(viewer_client: WebClient,
                                                analyst_client: WebClient) -> None:  # fmt: skip
    for path in ("/users/", "/audit/", "/settings/"):
        assert viewer_client.get(path).status_code == 403
        assert analyst_client.get(path).status_code == 403
    response = viewer_client.post_form("/users/", {"username": "evil", "role": "admin",
                                                   "password": "x" * 12, "confirm": "x" * 12})
    assert response.status_code == 403


def test_post_without_csrf_token_is_refused(admin_client: WebClient) -> None:
    response = admin_client.post("/users/", data={"username": "nocsrf", "role": "viewer",
                                                  "password": "p" * 12, "confirm": "p" * 12})
    assert response.status_code == 400
    assert "nocsrf" not in admin_client.get("/users/").get_data(as_text=True)


def test_post_from_another_site_is_refused(admin_client: WebClient) -> None:
    token = admin_client.csrf_token()
    response = admin_client.post(
        "/users/", data={"csrf_token": token, "username": "crosssite", "role": "viewer",
                         "password": "p" * 12, "confirm": "p" * 12},
        headers={"Referer": "https://evil.example.com/"},
    )  # fmt: skip
    assert response.status_code == 400


def test_api_token_acts_with_its_users_role_and_needs_no_csrf(
    app: Flask, viewer_client: WebClient, web_users: dict[str, tuple[str, str]]
) -> None:
    users = app.extensions["spanwatch"].service.users
    viewer = users.by_name(web_users["viewer"][0])
    assert viewer is not None
    _, secret = users.create_token(viewer.id, "script")
    anon: WebClient = app.test_client()  # type: ignore[assignment]
    me = anon.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json["role"] == "viewer"
    assert anon.get("/api/v1/me", headers={"Authorization": "Bearer sw_wrong"}).status_code == 401
    assert anon.get("/api/v1/me").status_code == 401
    # A token only works on the JSON API, never for the HTML pages.
    page = anon.get("/account", headers={"Authorization": f"Bearer {secret}"})
    assert page.status_code == 302


def test_revoked_token_and_disabled_user_lose_access(
    app: Flask, admin_client: WebClient, web_users: dict[str, tuple[str, str]]
) -> None:
    users = app.extensions["spanwatch"].service.users
    analyst = users.by_name(web_users["analyst"][0])
    assert analyst is not None
    token, secret = users.create_token(analyst.id, "t")
    anon: WebClient = app.test_client()  # type: ignore[assignment]
    auth = {"Authorization": f"Bearer {secret}"}
    assert anon.get("/api/v1/me", headers=auth).status_code == 200
    admin_client.post_form(f"/users/{analyst.id}", {"action": "disable"})
    assert anon.get("/api/v1/me", headers=auth).status_code == 401
    admin_client.post_form(f"/users/{analyst.id}", {"action": "enable"})
    assert users.revoke_token(analyst.id, token.id)
    assert anon.get("/api/v1/me", headers=auth).status_code == 401


@pytest.mark.parametrize("target, ok", [
    ("/alerts?severity=1", True), ("/", True), ("//evil.example.com", False),
    ("https://evil.example.com/", False), ("/\\evil.example.com", False),
    ("javascript:alert(1)", False), ("", False), (None, False), ("/x\r\nSet-Cookie: a", False),
])  # fmt: skip
def test_only_local_redirect_targets(target: str | None, ok: bool) -> None:
    assert is_local_url(target) is ok


def test_login_redirects_only_to_local_next(app: Flask, web_users: dict) -> None:  # type: ignore[type-arg]
    name = web_users["analyst"][0]
    for target, expected in (("/account", "/account"), ("//evil.example.com/x", "/"),
                             ("https://evil.example.com", "/")):  # fmt: skip
        client: WebClient = app.test_client()  # type: ignore[assignment]
        token = client.csrf_token()
        response = client.post("/login", data={"csrf_token": token, "username": name,
                                                "password": PASSWORD, "next": target})
        assert response.status_code == 302
        assert response.headers["Location"] == expected
