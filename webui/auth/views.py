"""Login, logout, first-run administrator, language switch and the home redirect."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from appliance.users import UserError
from webui.audit import audit
from webui.auth import firstrun
from webui.auth.forms import LoginForm, SetupForm
from webui.auth.guard import current_user, is_local_url, login_user, require_role
from webui.extensions import current_config, current_service
from webui.i18n import LANGUAGES

bp = Blueprint("auth", __name__)

#: An address is refused for a while after this many times ``lockout_attempts`` failures.
ADDRESS_FAILURE_FACTOR = 4

#: Where "/" leads: the first of these the app has and the user may open.
HOME_ENDPOINTS = ("dashboard.index", "alerts.index", "incidents.index", "settings.index",
                  "auth.account")  # fmt: skip


@bp.route("/")
@require_role("viewer")
def home() -> Any:
    """The landing page: the dashboard once it exists."""
    from webui.templating import can_open

    for endpoint in HOME_ENDPOINTS:
        if can_open(endpoint):
            return redirect(url_for(endpoint))
    return redirect(url_for("auth.account"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Username and password; the account locks after repeated failures."""
    users = current_service().users
    if users.count() == 0:
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user() is not None:
            return redirect(_next_url(form.next.data))
    if form.validate_on_submit():
        web = current_config().web
        if _address_throttled():
            flash(_("Too many failed logins from your address; try again in %(n)d minutes.",
                    n=web.lockout_minutes), "danger")  # fmt: skip
            return render_template("auth/login.html", form=form), 429
        result = users.authenticate(
            form.username.data or "", form.password.data or "",
            max_failures=web.lockout_attempts, lock_minutes=web.lockout_minutes,
        )  # fmt: skip
        if result.user is not None:
            login_user(result.user)
            audit("auth.login", result.user.username)
            return redirect(_next_url(form.next.data))
        name = (form.username.data or "")[:63]
        if result.just_locked:
            audit("auth.lock", name, actor=name, attempts=web.lockout_attempts)
        audit("auth.login-failed", name, actor=name, reason=result.reason)
        if result.reason == "locked":
            flash(_("Too many failed logins: this account is locked for %(n)d minutes.",
                    n=web.lockout_minutes), "danger")  # fmt: skip
        else:
            flash(_("Wrong username or password."), "danger")
    return render_template("auth/login.html", form=form), 200


def _address_throttled() -> bool:
    """Password spraying: many failures from one address over any accounts, recently."""
    web = current_config().web
    since = int(time.time() * 1_000_000) - web.lockout_minutes * 60_000_000
    failures = current_service().audit.count_recent(
        "auth.login-failed", remote_addr=request.remote_addr, since_us=since
    )
    return failures >= ADDRESS_FAILURE_FACTOR * web.lockout_attempts


@bp.route("/logout", methods=["POST"])
@require_role("viewer")
def logout() -> Any:
    user = current_user()
    if user is not None:
        audit("auth.logout", user.username)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Any:
    """First run: create the administrator (there is no default account or password)."""
    users = current_service().users
    cfg = current_config()
    if users.count():
        return redirect(url_for("auth.login"))
    firstrun.ensure_setup_code(cfg)
    form = SetupForm()
    if form.validate_on_submit():
        if not firstrun.check_setup_code(cfg, form.setup_code.data or ""):
            audit("auth.setup-failed", "setup", actor="anonymous")
            flash(_("Wrong setup code. It is in %(path)s on the appliance.",
                    path=str(firstrun.setup_code_path(cfg))), "danger")  # fmt: skip
        else:
            try:
                user = users.create(form.username.data or "", form.password.data or "",
                                    "admin", full_name=form.full_name.data or "",
                                    first_admin=True)  # fmt: skip
            except UserError as err:
                flash(str(err), "danger")
            else:
                firstrun.clear_setup_code(cfg)
                login_user(user)
                audit("user.create", user.username, role="admin", first_run=True)
                flash(_("Welcome! The administrator account is ready."), "success")
                return redirect(url_for("auth.home"))
    code_path = str(firstrun.setup_code_path(cfg))
    return render_template("auth/setup.html", form=form, code_path=code_path)


@bp.route("/language/<code>")
def language(code: str) -> Any:
    """Switch the interface language (kept in the session and the user's profile)."""
    if code in LANGUAGES:
        session["lang"] = code
        user = current_user()
        if user is not None and user.language != code:
            current_service().users.update(user.id, language=code)
    return redirect(_next_url(request.args.get("next")))


def _next_url(target: str | None) -> str:
    """``target`` if it is a path on this site, else the home page (no open redirects)."""
    if is_local_url(target) and not (target or "").startswith(("/login", "/setup")):
        return str(target)
    return url_for("auth.home")


from webui.auth import account  # noqa: E402,F401  (its views are on this blueprint)
