"""Web users, roles, login lockout and per-user API tokens (state database).

There is no default account: the first admin is created by the first-run page or
``spanwatch user add``. Passwords are stored as scrypt hashes; API tokens as SHA-256
digests (the token itself is shown once, at creation).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from appliance.errors import ApplianceError
from appliance.state import StateDB

ROLES = ("viewer", "analyst", "admin")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "sw_"
_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,62}$")
# Checked when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("spanwatch-no-such-user")


class UserError(ApplianceError):
    """A user operation that cannot be done (bad name, weak password, last admin...)."""


@dataclass(frozen=True, slots=True)
class User:
    """A web user as the UI shows it (never the password hash)."""

    id: int
    username: str
    role: str
    full_name: str
    language: str | None
    disabled: bool
    locked_until: int | None
    session_version: int
    created_at: int
    last_login: int | None

    def has_role(self, role: str) -> bool:
        """True when this user's role is ``role`` or above (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's metadata; the secret is only returned by :meth:`UserService.create_token`."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: int
    last_used: int | None
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Outcome of a login attempt: the user, or why not (``bad``, ``locked``, ``disabled``)."""

    user: User | None
    reason: str = ""
    just_locked: bool = False


def now_us() -> int:
    return int(time.time() * 1_000_000)


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"], username=row["username"], role=row["role"], full_name=row["full_name"],
        language=row["language"], disabled=bool(row["disabled"]),
        locked_until=row["locked_until"], session_version=row["session_version"],
        created_at=row["created_at"], last_login=row["last_login"],
    )  # fmt: skip


def check_username(name: str) -> str:
    """The username, or UserError when it is not 2-63 letters, digits, '_', '.', '@', '-'."""
    if not _USERNAME_RE.match(name or ""):
        raise UserError("Username must be 2-63 letters, digits, '_', '.', '@' or '-'.")
    return name


def check_password(password: str, username: str = "") -> str:
    """The password, or UserError when it is too weak to protect a security appliance."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if username and username.lower() in password.lower():
        raise UserError("Password must not contain the username.")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r} (one of {', '.join(ROLES)}).")
    return role


class UserService:
    """Users and API tokens in the state database (``Service.users``)."""

    #: werkzeug hash method for new passwords (scrypt). Tests may pick a cheaper one; the
    #: method is stored in each hash, so checks always use the one a password was set with.
    hash_method = "scrypt"

    def __init__(self, state: StateDB) -> None:
        self.state = state

    def count(self) -> int:
        return int(self.state.query("SELECT count(*) FROM users")[0][0])

    def list(self) -> list[User]:
        return [_user(r) for r in self.state.query("SELECT * FROM users ORDER BY username")]

    def get(self, user_id: int) -> User | None:
        rows = self.state.query("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def by_name(self, username: str) -> User | None:
        rows = self.state.query("SELECT * FROM users WHERE username = ?", (username,))
        return _user(rows[0]) if rows else None

    def create(
        self, username: str, password: str, role: str, *, full_name: str = "",
        first_admin: bool = False,
    ) -> User:  # fmt: skip
        """Create a user. ``first_admin`` succeeds only while no user exists (first run)."""
        check_username(username)
        check_password(password, username)
        check_role(role)
        digest = generate_password_hash(password, method=self.hash_method)
        with self.state.transaction() as conn:
            if first_admin and conn.execute("SELECT count(*) FROM users").fetchone()[0]:
                raise UserError("The administrator already exists; please log in.")
            try:
                cur = conn.execute(
                    "INSERT INTO users (username, password_hash, role, full_name, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (username, digest, role, full_name.strip()[:120], now_us()),
                )
            except sqlite3.IntegrityError:
                raise UserError(f"User {username!r} already exists.") from None
        user = self.get(int(cur.lastrowid or 0))
        assert user is not None
        return user

    def authenticate(
        self, username: str, password: str, *, max_failures: int, lock_minutes: int,
        now: int | None = None,
    ) -> LoginResult:  # fmt: skip
        """Check a login; count failures and lock the account after ``max_failures``."""
        now = now_us() if now is None else now
        rows = self.state.query("SELECT * FROM users WHERE username = ?", (username,))
        if not rows:
            check_password_hash(_DUMMY_HASH, password)
            return LoginResult(None, "bad")
        row = rows[0]
        if row["locked_until"] and row["locked_until"] > now:
            check_password_hash(_DUMMY_HASH, password)
            return LoginResult(None, "locked")
        if not check_password_hash(row["password_hash"], password):
            return self._failed(row, now, max_failures, lock_minutes)
        if row["disabled"]:
            return LoginResult(None, "disabled")
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = ? "
                "WHERE id = ?", (now, row["id"]),
            )  # fmt: skip
        return LoginResult(self.get(row["id"]))

    def _failed(self, row: sqlite3.Row, now: int, max_failures: int, minutes: int) -> LoginResult:
        failures = row["failed_logins"] + 1
        locked = failures >= max_failures
        until = now + minutes * 60_000_000 if locked else None
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                (0 if locked else failures, until, row["id"]),
            )
        return LoginResult(None, "locked" if locked else "bad", just_locked=locked)

    def update(
        self, user_id: int, *, role: str | None = None, disabled: bool | None = None,
        full_name: str | None = None, language: str | None = None,
    ) -> User:  # fmt: skip
        """Change role, disabled flag, name or language; never leaves the box without an admin."""
        user = self.get(user_id)
        if user is None:
            raise UserError(f"No user with id {user_id}.")
        if role is not None:
            check_role(role)
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE users SET role = coalesce(?, role), disabled = coalesce(?, disabled), "
                "full_name = coalesce(?, full_name), language = coalesce(?, language), "
                "session_version = session_version + ? WHERE id = ?",
                (role, None if disabled is None else int(disabled), full_name, language,
                 int(bool(disabled) or (role is not None and role != user.role)), user_id),
            )  # fmt: skip
            admins = conn.execute(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0"
            ).fetchone()[0]
            if admins == 0:
                raise UserError("The last active administrator cannot be demoted or disabled.")
        updated = self.get(user_id)
        assert updated is not None
        return updated

    def verify_password(self, user_id: int, password: str) -> bool:
        """True when ``password`` is the user's current one."""
        rows = self.state.query("SELECT password_hash FROM users WHERE id = ?", (user_id,))
        if not rows:
            check_password_hash(_DUMMY_HASH, password)
            return False
        return check_password_hash(rows[0][0], password)

    def set_password(self, user_id: int, password: str) -> None:
        """New password; every open session of the user ends and the lockout clears."""
        user = self.get(user_id)
        if user is None:
            raise UserError(f"No user with id {user_id}.")
        check_password(password, user.username)
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL, "
                "session_version = session_version + 1 WHERE id = ?",
                (generate_password_hash(password, method=self.hash_method), user_id),
            )

    def unlock(self, user_id: int) -> None:
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", (user_id,)
            )

    def create_token(self, user_id: int, name: str) -> tuple[ApiToken, str]:
        """A new API token for the user: its metadata and the secret (shown once)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        name = (name or "").strip()[:80] or "token"
        with self.state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (user_id, name, secret[:10], _token_digest(secret), now_us()),
            )
        token = self.tokens(user_id, token_id=int(cur.lastrowid or 0))[0]
        return token, secret

    def tokens(self, user_id: int, *, token_id: int | None = None) -> builtins.list[ApiToken]:
        sql = "SELECT * FROM api_tokens WHERE user_id = ?"
        params: tuple = (user_id,)
        if token_id is not None:
            sql, params = sql + " AND id = ?", (user_id, token_id)
        rows = self.state.query(sql + " ORDER BY id DESC", params)
        return [
            ApiToken(r["id"], r["user_id"], r["name"], r["prefix"], r["created_at"],
                     r["last_used"], r["revoked_at"])  # fmt: skip
            for r in rows
        ]

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        with self.state.transaction() as conn:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? "
                "AND revoked_at IS NULL", (now_us(), token_id, user_id),
            )  # fmt: skip
        return cur.rowcount > 0

    def user_for_token(self, secret: str) -> User | None:
        """The active user owning this (unrevoked) token, or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = _token_digest(secret)
        rows = self.state.query(
            "SELECT u.*, t.id AS token_id, t.token_hash AS token_hash FROM api_tokens t "
            "JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.disabled = 0", (digest,),
        )  # fmt: skip
        if not rows or not hmac.compare_digest(rows[0]["token_hash"], digest):
            return None
        with self.state.transaction() as conn:
            conn.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?",
                         (now_us(), rows[0]["token_id"]))  # fmt: skip
        return _user(rows[0])


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
