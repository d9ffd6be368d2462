"""First run: until an administrator exists, a one-time setup code protects /setup.

``spanwatch web`` (any worker) writes the code to ``data_dir/web/setup-code`` (0600) and
logs where it is, so whoever reaches the page first over the network cannot take the
appliance unless they can also read the server's log or disk. ``spanwatch user add``
creates the administrator without it.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from flask import Flask

from appliance.config import AppConfig

logger = logging.getLogger(__name__)


def setup_code_path(cfg: AppConfig) -> Path:
    return cfg.data_dir / "web" / "setup-code"


def ensure_setup_code(cfg: AppConfig) -> str:
    """The pending setup code, created if there is none yet."""
    path = setup_code_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    code = "-".join(secrets.token_hex(3).upper() for _ in range(3))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(code + "\n")
    return code


def check_setup_code(cfg: AppConfig, given: str) -> bool:
    try:
        code = setup_code_path(cfg).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return False
    normal = given.strip().upper().replace(" ", "")
    return bool(code) and hmac.compare_digest(code.encode(), normal.encode())


def clear_setup_code(cfg: AppConfig) -> None:
    setup_code_path(cfg).unlink(missing_ok=True)


def announce(app: Flask) -> None:
    """With no user yet, make sure a setup code exists and say where to find it."""
    state = app.extensions["spanwatch"]
    if state.service.users.count():
        clear_setup_code(state.cfg)
        return
    code = ensure_setup_code(state.cfg)
    logger.warning(
        "No administrator yet: open /setup in a browser and enter the setup code %s (kept in "
        "%s), or run `spanwatch user add NAME --role admin`.", code, setup_code_path(state.cfg),
    )  # fmt: skip
