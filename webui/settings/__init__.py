"""Settings page (admins): networks, interfaces, retention, time zone, language."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from webui.auth.guard import require_role
from webui.extensions import current_config, web_state

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/")
@require_role("admin")
def index() -> Any:
    """The appliance configuration, editable where the web may change it."""
    return render_template("settings/index.html", cfg=current_config(),
                           config_path=web_state().config_path)  # fmt: skip
