"""Users in the state database: hashing, lockout, tokens, the last admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.state import open_state
from appliance.users import UserError, UserService


@pytest.fixture
def users(tmp_path: Path) -> UserService:
    return UserService(open_state(tmp_path / "state.db"))


def test_password_is_hashed_and_checked(users: UserService) -> None:
    user = users.create("lan", "Very-secret-1", "analyst")
    stored = users.state.query("SELECT password_hash FROM users")[0][0]
    assert "Very-secret-1" not in stored
    assert users.authenticate("lan", "Very-secret-1", max_failures=3, lock_minutes=1).user == \
        users.get(user.id)


def test_lockout_after_failures_then_expiry(users: UserService) -> None:
    users.create("lan", "Very-secret-1", "analyst")
    now = 1_000_000_000_000_000
    for _ in range(2):
        assert users.authenticate("lan", "x" * 12, max_failures=3, lock_minutes=10,
                                  now=now).reason == "bad"  # fmt: skip
    third = users.authenticate("lan", "x" * 12, max_failures=3, lock_minutes=10, now=now)
    assert third.reason == "locked" and third.just_locked
    assert users.authenticate("lan", "Very-secret-1", max_failures=3, lock_minutes=10,
                              now=now + 60_000_000).reason == "locked"  # fmt: skip
    later = now + 11 * 60_000_000
    assert users.authenticate("lan", "Very-secret-1", max_failures=3, lock_minutes=10,
                              now=later).user is not None  # fmt: skip


def test_first_admin_only_once(users: UserService) -> None:
    users.create("boss", "Very-secret-1", "admin", first_admin=True)
    with pytest.raises(UserError):
        users.create("intruder", "Very-secret-2", "admin", first_admin=True)


@pytest.mark.parametrize("name, password", [("a", "Very-secret-1"), ("ok-name", "short"),
                                            ("bad name", "Very-secret-1"),
                                            ("hieu", "hieu-password-1")])  # fmt: skip
def test_bad_names_and_weak_passwords_are_refused(users: UserService, name: str,
                                                  password: str) -> None:  # fmt: skip
    with pytest.raises(UserError):
        users.create(name, password, "viewer")


def test_tokens_are_stored_hashed_and_revocable(users: UserService) -> None:
    user = users.create("bot", "Very-secret-1", "viewer")
    token, secret = users.create_token(user.id, "siem")
    assert secret.startswith("sw_") and token.prefix == secret[:10]
    assert secret not in str(users.state.query("SELECT * FROM api_tokens")[0][:])
    assert users.user_for_token(secret).username == "bot"  # type: ignore[union-attr]
    assert users.tokens(user.id)[0].last_used is not None
    users.revoke_token(user.id, token.id)
    assert users.user_for_token(secret) is None
