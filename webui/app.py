"""The Flask application factory and the list of blueprints.

Every area plugs in with ONE line in :data:`BLUEPRINTS` (``"module:attribute"`` of a
:class:`flask.Blueprint`). A blueprint's views must each carry
:func:`webui.auth.require_role`: the login guard denies any endpoint without one.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Flask, abort, send_from_directory

from appliance.config import AppConfig, load_config
from appliance.service import Service

logger = logging.getLogger(__name__)

#: One line per blueprint, in nav order. Areas add theirs here (keep one per line).
BLUEPRINTS: tuple[str, ...] = (
    "webui.auth.views:bp",
    "webui.api:bp",
    "webui.users:bp",
    "webui.audit:bp",
    "webui.settings:bp",
    "webui.users.api:bp",
    "webui.audit.api:bp",
    "webui.dashboard:bp",
    "webui.alerts:bp",
    "webui.alerts.api:bp",
    "webui.incidents:bp",
    "webui.incidents.api:bp",
    "webui.assets:bp",
    "webui.assets.api:bp",
    "webui.rules:bp",
    "webui.rules.api:bp",
    "webui.dashboard.api:bp",
    "webui.reports:bp",
    "webui.reports.api:bp",
    "webui.traffic:bp",
    "webui.traffic.api:bp",
    "webui.sensors:bp",
    "webui.sensors.api:bp",
)

#: Front-end packages from the npm registry (webui/package.json) that may be served,
#: each a folder inside node_modules; nothing else under node_modules is reachable.
VENDOR_FOLDERS = ("bootstrap/dist/", "bootstrap-icons/font/", "chart.js/dist/")
WEBUI_DIR = Path(__file__).resolve().parent


@dataclass
class WebState:
    """What the app holds for its process: the configuration and the one Service."""

    cfg: AppConfig
    config_path: Path | None
    service: Service
    assets_dir: Path
    config_mtime: int | None = None


def assets_dir() -> Path:
    """Where ``npm ci`` put the front-end packages ($SPANWATCH_WEB_ASSETS overrides)."""
    env = os.environ.get("SPANWATCH_WEB_ASSETS")
    if env:
        return Path(env)
    for candidate in (WEBUI_DIR / "node_modules", Path("/opt/spanwatch/share/webui-assets")):
        if candidate.is_dir():
            return candidate
    return WEBUI_DIR / "node_modules"


def create_app(
    cfg: AppConfig | None = None, *, config_path: Path | None = None, testing: bool = False
) -> Flask:
    """Build the web application for ``cfg`` (loaded from ``config_path`` when None)."""
    from webui import extensions, i18n, security, templating
    from webui.auth import firstrun, guard
    from webui.errors import register_error_handlers

    if cfg is None:
        cfg = load_config(config_path)
    app = Flask(__name__)
    web = cfg.web
    app.config.update(
        TESTING=testing,
        SECRET_KEY=security.load_secret_key(cfg.data_dir / "web" / "secret_key"),
        SESSION_COOKIE_NAME="spanwatch_session",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=web.session_hours),
        PREFERRED_URL_SCHEME="https",
        MAX_CONTENT_LENGTH=256 * 1024 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,  # the guard checks every unsafe request itself
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session, which expires on its own
        WTF_CSRF_SSL_STRICT=True,
        JSON_SORT_KEYS=False,
    )
    state = WebState(cfg, config_path, Service(cfg), assets_dir())
    app.extensions["spanwatch"] = state
    if not (state.assets_dir / "bootstrap").is_dir():
        logger.error("Front-end assets missing in %s; run `make` (npm ci).", state.assets_dir)
    extensions.init_app(app)
    i18n.init_app(app, cfg)
    security.init_app(app)
    templating.init_app(app)
    register_error_handlers(app)
    guard.init_app(app)
    app.add_url_rule("/static/vendor/<path:filename>", "vendor", _vendor_file)
    for spec in BLUEPRINTS:
        module, _, attr = spec.partition(":")
        blueprint = getattr(importlib.import_module(module), attr)
        if not isinstance(blueprint, Blueprint):
            raise TypeError(f"{spec} is not a Flask Blueprint")
        app.register_blueprint(blueprint)
    firstrun.announce(app)
    return app


def _vendor_file(filename: str):  # type: ignore[no-untyped-def]
    """A file of an allowed npm package, served locally (the appliance is air-gapped)."""
    from webui.extensions import web_state

    if not filename.startswith(VENDOR_FOLDERS) or ".." in filename:
        abort(404)
    response = send_from_directory(web_state().assets_dir, filename, max_age=86400)
    return response
