"""``spanwatch web`` (gunicorn over HTTPS) and ``spanwatch user ...``."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ApplianceError, ConfigError

logger = logging.getLogger(__name__)


def register_web(sub: Any, common: argparse.ArgumentParser) -> None:
    web = sub.add_parser("web", parents=[common], help="serve the web UI over HTTPS (gunicorn)")
    web.add_argument("--bind", metavar="ADDR:PORT", help="listen here (default: web.bind)")
    web.add_argument("--workers", type=int, help="worker processes (default: web.workers)")
    web.set_defaults(handler=run_web)


def register_user(sub: Any, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", help="manage web UI users")
    actions = user.add_subparsers(dest="user_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="create a user (the first admin too)")
    add.add_argument("username")
    add.add_argument("--role", choices=["admin", "analyst", "viewer"], default="admin")
    add.add_argument("--full-name", default="")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of prompting")
    add.set_defaults(handler=run_user_add)
    passwd = actions.add_parser("passwd", parents=[common], help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=run_user_passwd)
    listing = actions.add_parser("list", parents=[common], help="list users")
    listing.set_defaults(handler=run_user_list)


def gunicorn_options(cfg: AppConfig, bind: str, workers: int, cert: Path, key: Path) -> dict:
    """gunicorn settings for the web UI (pure; tested)."""
    return {
        "bind": [bind],
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "certfile": str(cert),
        "keyfile": str(key),
        "accesslog": "-",
        "errorlog": "-",
        "timeout": 120,
        "graceful_timeout": 10,
        "forwarded_allow_ips": "",
        "proc_name": "spanwatch-web",
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        "control_socket_disable": True,
    }


def run_web(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Serve the UI: a self-signed certificate is made first if the admin gave none."""
    from gunicorn.app.base import BaseApplication

    from webui.app import create_app
    from webui.tls import ensure_certificate

    bind = args.bind or cfg.web.bind
    host = bind.rsplit(":", 1)[0].strip("[]")
    extra = (host,) if host not in ("0.0.0.0", "::", "") else ()
    cert, key = ensure_certificate(cfg, extra_names=extra)
    options = gunicorn_options(cfg, bind, args.workers or cfg.web.workers, cert, key)
    config_path = getattr(args, "config", None)

    class WebApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            known = self.cfg.settings
            for name, value in options.items():
                if name in known and value is not None:
                    self.cfg.set(name, value)

        def load(self) -> Any:
            return create_app(cfg, config_path=config_path)

    shown = bind.replace("0.0.0.0", "<this host>")
    logger.info("Serving the web UI on https://%s (certificate %s).", shown, cert)
    sys.argv = [sys.argv[0]]  # gunicorn must not parse spanwatch's arguments
    WebApplication().run()
    return 0


def _read_password(from_stdin: bool, username: str) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"Password for {username}: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise ConfigError("the passwords differ")
    return first


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run_user_add(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Create a user; the first one made this way needs no setup code."""
    from appliance.audit import record
    from appliance.service import Service
    from appliance.users import UserError

    service = Service(cfg)
    try:
        password = _read_password(args.password_stdin, args.username)
        try:
            user = service.users.create(args.username, password, args.role,
                                        full_name=args.full_name)  # fmt: skip
        except UserError as err:
            raise ApplianceError(str(err)) from None
        record(service.state, _actor(), "user.create", user.username, {"role": user.role})
        print(f"Created {user.role} {user.username}.")
    finally:
        service.close()
    return 0


def run_user_passwd(args: argparse.Namespace, cfg: AppConfig) -> int:
    from appliance.audit import record
    from appliance.service import Service
    from appliance.users import UserError

    service = Service(cfg)
    try:
        user = service.users.by_name(args.username)
        if user is None:
            raise ApplianceError(f"no user {args.username!r}")
        try:
            service.users.set_password(user.id, _read_password(args.password_stdin, user.username))
        except UserError as err:
            raise ApplianceError(str(err)) from None
        service.users.unlock(user.id)
        record(service.state, _actor(), "user.password-reset", user.username)
        print(f"Password of {user.username} changed; the account is unlocked.")
    finally:
        service.close()
    return 0


def run_user_list(args: argparse.Namespace, cfg: AppConfig) -> int:
    from appliance.service import Service

    service = Service(cfg)
    try:
        for user in service.users.list():
            state = "disabled" if user.disabled else "active"
            print(f"{user.username:<24} {user.role:<8} {state}")
    finally:
        service.close()
    return 0
