"""Flask extensions and the per-process state every view reaches through accessors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from appliance.config import AppConfig
from appliance.service import Service

if TYPE_CHECKING:
    from webui.app import WebState

csrf = CSRFProtect()
babel = Babel()


def init_app(app: Flask) -> None:
    csrf.init_app(app)


def web_state() -> WebState:
    """The application's :class:`webui.app.WebState`."""
    return current_app.extensions["spanwatch"]  # type: ignore[no-any-return]


def current_service() -> Service:
    """The per-process :class:`appliance.service.Service` (event store, state DB, areas)."""
    return web_state().service


def current_config() -> AppConfig:
    """The appliance configuration as this process loaded it (reloaded after a save)."""
    return web_state().cfg
