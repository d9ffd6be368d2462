"""Users page (admins): add users, change roles, disable, reset passwords, unlock."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from appliance.users import ROLES, UserError, now_us
from webui.audit import audit
from webui.auth.guard import current_user, require_role
from webui.extensions import current_service

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/")
@require_role("admin")
def index() -> Any:
    """Every user with role, status and last login."""
    return render_template("users/index.html", users=current_service().users.list(),
                           roles=ROLES, now=now_us())  # fmt: skip


@bp.route("/", methods=["POST"])
@require_role("admin")
def create() -> Any:
    form = request.form
    role = form.get("role", "viewer")
    try:
        if form.get("password", "") != form.get("confirm", ""):
            raise UserError(_("The passwords differ."))
        user = current_service().users.create(
            form.get("username", "").strip(), form.get("password", ""), role,
            full_name=form.get("full_name", ""),
        )  # fmt: skip
    except UserError as err:
        flash(str(err), "danger")
    else:
        audit("user.create", user.username, role=user.role)
        flash(_("User %(name)s created.", name=user.username), "success")
    return redirect(url_for("users.index"))


@bp.route("/<int:user_id>", methods=["POST"])
@require_role("admin")
def update(user_id: int) -> Any:
    """One change per form: role, disable/enable, unlock or a new password."""
    users = current_service().users
    user = users.get(user_id)
    if user is None:
        abort(404)
    action = request.form.get("action", "")
    try:
        if action == "role":
            role = request.form.get("role", "")
            users.update(user_id, role=role)
            audit("user.role", user.username, before=user.role, after=role)
        elif action in ("disable", "enable"):
            me = current_user()
            if action == "disable" and me is not None and me.id == user_id:
                raise UserError(_("You cannot disable your own account."))
            users.update(user_id, disabled=action == "disable")
            audit(f"user.{action}", user.username)
        elif action == "unlock":
            users.unlock(user_id)
            audit("user.unlock", user.username)
        elif action == "password":
            users.set_password(user_id, request.form.get("password", ""))
            audit("user.password-reset", user.username)
        else:
            abort(400)
    except UserError as err:
        flash(str(err), "danger")
    else:
        flash(_("User %(name)s updated.", name=user.username), "success")
    return redirect(url_for("users.index"))
