"""Users page: admins add users, change roles, disable, reset passwords; all audited."""

from __future__ import annotations

from flask import Flask

from tests.webui.conftest import PASSWORD, WebClient


def test_admin_adds_a_user_who_can_log_in(app: Flask, admin_client: WebClient) -> None:
    admin_client.post_form("/users/", {"username": "hoa.nguyen", "full_name": "Nguyễn Thị Hoa",
                                       "role": "analyst", "password": "Strong-pass-99",
                                       "confirm": "Strong-pass-99"})  # fmt: skip
    page = admin_client.get("/users/").get_data(as_text=True)
    assert "hoa.nguyen" in page and "Nguyễn Thị Hoa" in page
    other: WebClient = app.test_client()  # type: ignore[assignment]
    assert other.login("hoa.nguyen", "Strong-pass-99").status_code == 302
    entry = app.extensions["spanwatch"].service.audit.list(action="user.create").items[0]
    assert entry.actor == "admin1" and entry.target == "hoa.nguyen"


def test_weak_password_is_refused(app: Flask, admin_client: WebClient) -> None:
    admin_client.post_form("/users/", {"username": "weak", "role": "viewer",
                                       "password": "short", "confirm": "short"})  # fmt: skip
    assert app.extensions["spanwatch"].service.users.by_name("weak") is None


def test_role_change_takes_effect_at_once(app: Flask, admin_client: WebClient,
                                          viewer_client: WebClient) -> None:  # fmt: skip
    users = app.extensions["spanwatch"].service.users
    viewer = users.by_name("viewer1")
    assert viewer is not None
    admin_client.post_form(f"/users/{viewer.id}", {"action": "role", "role": "admin"})
    assert users.get(viewer.id).role == "admin"  # type: ignore[union-attr]
    # The old session ends with the role change; a new login gets the new role.
    assert viewer_client.get("/users/").status_code == 302
    viewer_client.login("viewer1")
    assert viewer_client.get("/users/").status_code == 200


def test_the_last_admin_cannot_be_demoted_or_disabled(app: Flask,
                                                      admin_client: WebClient) -> None:  # fmt: skip
    admin = app.extensions["spanwatch"].service.users.by_name("admin1")
    assert admin is not None
    admin_client.post_form(f"/users/{admin.id}", {"action": "role", "role": "viewer"})
    assert app.extensions["spanwatch"].service.users.get(admin.id).role == "admin"  # type: ignore[union-attr]
    admin_client.post_form(f"/users/{admin.id}", {"action": "disable"})
    assert not app.extensions["spanwatch"].service.users.get(admin.id).disabled  # type: ignore[union-attr]


def test_unlock_and_password_reset(app: Flask, admin_client: WebClient) -> None:
    users = app.extensions["spanwatch"].service.users
    analyst = users.by_name("analyst1")
    assert analyst is not None
    for _ in range(app.extensions["spanwatch"].cfg.web.lockout_attempts):
        users.authenticate("analyst1", "bad-password", max_failures=5, lock_minutes=15)
    assert users.get(analyst.id).locked_until  # type: ignore[union-attr]
    admin_client.post_form(f"/users/{analyst.id}", {"action": "unlock"})
    assert users.get(analyst.id).locked_until is None  # type: ignore[union-attr]
    admin_client.post_form(f"/users/{analyst.id}", {"action": "password",
                                                    "password": "Brand-new-pass-1"})  # fmt: skip
    assert users.authenticate("analyst1", "Brand-new-pass-1", max_failures=5,
                              lock_minutes=15).user is not None  # fmt: skip
    assert users.authenticate("analyst1", PASSWORD, max_failures=5, lock_minutes=15).user is None
    actions = {e.action for e in app.extensions["spanwatch"].service.audit.list().items}
    assert {"user.unlock", "user.password-reset"} <= actions
