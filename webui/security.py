"""Security headers, the content security policy and the session secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, Response, request

from appliance.errors import ConfigError

#: No inline script or style anywhere: templates use classes and data-* attributes, and
#: our own static JS (webui/static/spanwatch.js) wires behaviour.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        # Pages show attacker-controlled packet data and who did what: never cache them.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def load_secret_key(path: Path) -> bytes:
    """The session signing key of this appliance, created (0600) on first start.

    There is no default key: each install gets its own random one, kept beside the data.
    """
    try:
        return path.read_bytes().strip() or _refuse(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker created it first
        return path.read_bytes().strip() or _refuse(path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot create the web secret key: {err}") from err
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def _refuse(path: Path) -> bytes:
    raise ConfigError(f"{path}: the web secret key file is empty; delete it to make a new one.")
