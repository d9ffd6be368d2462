"""``/api/v1/users``: the users of the appliance (admins)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from appliance.users import User
from webui.api import api_blueprint, iso_time
from webui.auth.guard import require_role
from webui.extensions import current_service

bp = api_blueprint("users", __name__)


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "full_name": user.full_name,
            "role": user.role, "disabled": user.disabled,
            "locked_until": iso_time(user.locked_until), "created_at": iso_time(user.created_at),
            "last_login": iso_time(user.last_login)}  # fmt: skip


@bp.get("/")
@require_role("admin")
def list_users() -> Any:
    """Every user: username, role, disabled, last login (never a password or token)."""
    users = current_service().users.list()
    return jsonify(items=[user_json(u) for u in users], total=len(users), offset=0,
                   limit=len(users))  # fmt: skip
