"""The user's own account: change password, language and API tokens."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from appliance.users import UserError
from webui.audit import audit
from webui.auth.guard import current_user, require_role
from webui.auth.views import bp
from webui.extensions import current_service


def _me() -> Any:
    user = current_user()
    if user is None:
        abort(401)
    return user


@bp.route("/account")
@require_role("viewer")
def account() -> Any:
    """Your profile, password and API tokens."""
    user = _me()
    return _render(user)


def _render(user: Any, new_token: str | None = None) -> Any:
    tokens = current_service().users.tokens(user.id)
    return render_template("auth/account.html", user=user, tokens=tokens, new_token=new_token)


@bp.route("/account/password", methods=["POST"])
@require_role("viewer")
def change_password() -> Any:
    user = _me()
    users = current_service().users
    current = request.form.get("current", "")
    new, repeat = request.form.get("password", ""), request.form.get("confirm", "")
    if not users.verify_password(user.id, current):
        flash(_("The current password is wrong."), "danger")
    elif new != repeat:
        flash(_("The passwords differ."), "danger")
    else:
        try:
            users.set_password(user.id, new)
        except UserError as err:
            flash(str(err), "danger")
        else:
            audit("user.password", user.username)
            fresh = users.get(user.id)
            if fresh is not None:
                session["ver"] = fresh.session_version
            flash(_("Password changed; other sessions were logged out."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/tokens", methods=["POST"])
@require_role("viewer")
def create_token() -> Any:
    user = _me()
    token, secret = current_service().users.create_token(user.id, request.form.get("name", ""))
    audit("token.create", user.username, token=token.prefix, name=token.name)
    # Shown once, in this response only: the secret never goes into a cookie or the log.
    return _render(user, new_token=secret)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@require_role("viewer")
def revoke_token(token_id: int) -> Any:
    user = _me()
    if current_service().users.revoke_token(user.id, token_id):
        audit("token.revoke", user.username, token_id=token_id)
        flash(_("The token is revoked."), "info")
    return redirect(url_for("auth.account"))
