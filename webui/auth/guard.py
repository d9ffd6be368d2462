"""The login guard: every endpoint needs a user and declares the role it needs.

Deny by default: an endpoint outside :data:`PUBLIC_ENDPOINTS` answers 403 unless its
view carries :func:`require_role`. Browsers authenticate with the session cookie (and a
CSRF token on every unsafe request); API clients may send ``Authorization: Bearer sw_...``
under ``/api/``, which needs no CSRF token because no browser sends it on its own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for

from appliance.users import ROLES, User
from webui.extensions import csrf, current_service

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Reachable without login: the login and first-run pages, the language switch and assets.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.setup", "auth.language", "static", "vendor"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_role(role: str, *, write: str | None = None) -> Callable[[F], F]:
    """Allow the view to users with ``role`` or above; unsafe methods need ``write`` if set.

    ``@require_role("viewer", write="analyst")`` lets viewers read a page whose POST only
    analysts may send.
    """
    if role not in ROLES or (write is not None and write not in ROLES):
        raise ValueError(f"unknown role in require_role({role!r}, write={write!r})")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                abort(401)
            if not user.has_role(needed_role(wrapped, request.method)):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        wrapped.write_role = write or role  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def needed_role(view: Callable[..., Any], method: str) -> str:
    """The role ``view`` needs for ``method`` (its write role for unsafe methods)."""
    read = getattr(view, "required_role", None)
    if read is None:
        return "forbidden"
    return read if method in SAFE_METHODS else getattr(view, "write_role", read)


def current_user() -> User | None:
    """The logged-in user of this request (session or API token), or None."""
    return getattr(g, "user", None)


def is_local_url(target: str | None) -> bool:
    """True for a path on this site (``/alerts?x=1``); false for ``//evil`` or ``http://``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 32 for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def login_user(user: User) -> None:
    """Start a fresh session for ``user`` (clearing whatever the old one held)."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["ver"] = user.session_version
    if lang:
        session["lang"] = lang
    g.user = user


def init_app(app: Flask) -> None:
    app.before_request(_guard)


def _is_api() -> bool:
    return request.path.startswith("/api/v1/")


def _guard() -> Any:
    g.user, g.via_token = None, False
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404/405: nothing to protect
    auth = request.headers.get("Authorization", "")
    if auth and _is_api():
        return _token_login(auth)
    _session_login()
    if request.method not in SAFE_METHODS:
        csrf.protect()
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    if g.user is None:
        return _login_required()
    view = current_app.view_functions[endpoint]
    if getattr(view, "required_role", None) is None:
        logger.warning("Endpoint %s has no require_role; denied.", endpoint)
        abort(403)
    if not g.user.has_role(needed_role(view, request.method)):
        abort(403)
    return None


def _session_login() -> None:
    uid = session.get("uid")
    if uid is None:
        return
    user = current_service().users.get(int(uid))
    if user is None or user.disabled or user.session_version != session.get("ver"):
        session.clear()
        return
    g.user = user


def _token_login(auth: str) -> Any:
    scheme, _, secret = auth.partition(" ")
    user = None
    if scheme.lower() == "bearer" and secret.strip():
        user = current_service().users.user_for_token(secret.strip())
    if user is None:
        response = jsonify(error="unauthorized", message="Invalid or revoked API token.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="spanwatch"'
        return response
    g.user, g.via_token = user, True
    view = current_app.view_functions[request.endpoint or ""]
    if not user.has_role(needed_role(view, request.method)):
        abort(403)
    return None


def _login_required() -> Any:
    if current_service().users.count() == 0:
        if _is_api():
            abort(401)
        return redirect(url_for("auth.setup"))
    if _is_api():
        abort(401)
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))
