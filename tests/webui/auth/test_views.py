"""First run, login and lockout, logout, the language switch."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tests.webui.conftest import PASSWORD, WebClient


def _setup_code(app: Flask) -> str:
    data_dir: Path = app.extensions["spanwatch"].cfg.data_dir
    return (data_dir / "web" / "setup-code").read_text().strip()


def _setup(client: WebClient, code: str, username: str = "boss") -> object:
    return client.post_form("/setup", {
        "setup_code": code, "username": username, "full_name": "Nguyễn Văn A",
        "password": PASSWORD, "confirm": PASSWORD,
    })  # fmt: skip


def test_first_visit_leads_to_setup_and_there_is_no_default_account(
    app: Flask, client: WebClient
) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"
    for name in ("admin", "root", "spanwatch"):
        assert app.extensions["spanwatch"].service.users.by_name(name) is None


def test_setup_needs_the_one_time_code(app: Flask, client: WebClient) -> None:
    response = _setup(client, "WRONG-CODE")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert app.extensions["spanwatch"].service.users.count() == 0
    response = _setup(client, _setup_code(app))
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert client.get("/account").status_code == 200
    users = app.extensions["spanwatch"].service.users
    assert users.by_name("boss").role == "admin"  # type: ignore[union-attr]
    assert not (app.extensions["spanwatch"].cfg.data_dir / "web" / "setup-code").exists()
    # The page is gone once the administrator exists: a second visitor cannot make another.
    other: WebClient = app.test_client()  # type: ignore[assignment]
    assert other.get("/setup").headers["Location"] == "/login"
    audit = app.extensions["spanwatch"].service.audit.list()
    assert [e.action for e in audit.items] == ["user.create", "auth.setup-failed"]


def test_login_sets_a_secure_httponly_samesite_cookie(
    client: WebClient, web_users: dict[str, tuple[str, str]]
) -> None:
    response = client.login(web_users["viewer"][0])
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_repeated_failed_logins_lock_the_account(
    app: Flask, client: WebClient, web_users: dict[str, tuple[str, str]]
) -> None:
    name = web_users["analyst"][0]
    attempts = app.extensions["spanwatch"].cfg.web.lockout_attempts
    for _ in range(attempts):
        response = client.login(name, "wrong-password-1")
        assert response.status_code == 200
    page = client.login(name).get_data(as_text=True)  # right password, but locked now
    assert "locked" in page or "khóa" in page
    assert client.get("/account").status_code == 302
    actions = [e.action for e in app.extensions["spanwatch"].service.audit.list().items]
    assert "auth.lock" in actions and actions.count("auth.login-failed") == attempts + 1


def test_unknown_user_and_wrong_password_look_the_same(
    client: WebClient, web_users: dict[str, tuple[str, str]]
) -> None:
    client.get("/language/en")
    wrong_pw = client.login(web_users["viewer"][0], "not-the-password").get_data(as_text=True)
    no_user = client.login("nobody-here", "not-the-password").get_data(as_text=True)
    assert "Wrong username or password." in wrong_pw and "Wrong username or password." in no_user


def test_logout_ends_the_session(viewer_client: WebClient) -> None:
    assert viewer_client.post_form("/logout").status_code == 302
    assert viewer_client.get("/account").status_code == 302


def test_password_change_logs_out_other_sessions(
    app: Flask, web_users: dict[str, tuple[str, str]]
) -> None:
    name = web_users["analyst"][0]
    first: WebClient = app.test_client()  # type: ignore[assignment]
    second: WebClient = app.test_client()  # type: ignore[assignment]
    first.login(name)
    second.login(name)
    first.post_form("/account/password", {"current": PASSWORD, "password": "Another-pass-77",
                                          "confirm": "Another-pass-77"})  # fmt: skip
    assert first.get("/account").status_code == 200
    assert second.get("/account").status_code == 302


def test_language_switch_defaults_to_vietnamese(client: WebClient,
                                                web_users: dict) -> None:  # type: ignore[type-arg]
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="vi"' in page and "Đăng nhập" in page
    client.get("/language/en?next=/login")
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Log in" in page
    assert client.get("/language/vi?next=//evil.example.com").headers["Location"] == "/"


def test_many_failures_from_one_address_over_many_accounts_are_refused(
    app: Flask, client: WebClient, web_users: dict[str, tuple[str, str]]
) -> None:
    limit = 4 * app.extensions["spanwatch"].cfg.web.lockout_attempts
    for n in range(limit):
        assert client.login(f"guess{n}", "Spray-password-1").status_code == 200
    response = client.login(web_users["viewer"][0])  # even the right password
    assert response.status_code == 429
    assert client.get("/account").status_code == 302
