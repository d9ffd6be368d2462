"""The audit log page, and :func:`audit`, which every view calls after a change."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, render_template, request

from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

logger = logging.getLogger(__name__)

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 50


def audit(action: str, target: Any = "", *, actor: str | None = None, **detail: Any) -> int:
    """Record that the current user (or ``actor``) did ``action`` (``area.verb``) on ``target``.

    Call it after the change succeeded; ``detail`` is what changed (never a secret).
    """
    user = current_user()
    who = actor if actor is not None else (user.username if user else "anonymous")
    if getattr(g, "via_token", False):
        detail["via"] = "api-token"
    return current_service().audit.record(
        who, action, str(target), detail, remote_addr=request.remote_addr
    )


@bp.route("/")
@require_role("admin")
def index() -> Any:
    """Who did what, when: filter by user, area and text."""
    args = request.args
    try:
        page_no = max(int(args.get("page", 1)), 1)
    except ValueError:
        page_no = 1
    service = current_service().audit
    page = service.list(
        actor=args.get("actor") or None, action=args.get("action") or None,
        q=args.get("q") or None, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE,
    )  # fmt: skip
    return render_template(
        "audit/index.html", page=page, actors=service.actors(), areas=service.areas(),
        filters={k: args.get(k, "") for k in ("actor", "action", "q")},
    )  # fmt: skip
