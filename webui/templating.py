"""What every template gets: the nav, time formatting in the appliance's zone, helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from webui.auth.guard import current_user, needed_role
from webui.i18n import LANGUAGES

#: The main nav: (endpoint, label, bootstrap-icons name). An entry shows only when its
#: blueprint is registered and the user's role may open it.
NAV: tuple[tuple[str, Any, str], ...] = (
    ("dashboard.index", _l("Dashboard"), "speedometer2"),
    ("alerts.index", _l("Alerts"), "bell"),
    ("incidents.index", _l("Incidents"), "exclamation-octagon"),
    ("assets.index", _l("Assets"), "pc-display"),
    ("traffic.index", _l("Traffic"), "activity"),
    ("sensors.index", _l("Sensors"), "broadcast-pin"),
    ("rules.index", _l("Rules"), "shield-check"),
    ("reports.index", _l("Reports"), "file-earmark-bar-graph"),
)
ADMIN_NAV: tuple[tuple[str, Any, str], ...] = (
    ("settings.index", _l("Settings"), "gear"),
    ("users.index", _l("Users"), "people"),
    ("audit.index", _l("Audit log"), "journal-text"),
    ("api.docs", _l("API"), "braces"),
)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["localdate"] = lambda us: localtime(us, "%Y-%m-%d")
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["number"] = number
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.globals["can_open"] = can_open
    app.jinja_env.globals["url_with"] = url_with
    app.context_processor(_context)


def _context() -> dict[str, Any]:
    user = current_user()
    return {
        "current_user": user,
        "nav_items": [item for item in NAV if can_open(item[0])],
        "admin_nav_items": [item for item in ADMIN_NAV if can_open(item[0])],
        "languages": LANGUAGES,
        "lang": str(get_locale() or "vi"),
        "timezone_name": _tz_name(),
    }


def can_open(endpoint: str) -> bool:
    """True when ``endpoint`` exists and the current user's role may GET it."""
    view = current_app.view_functions.get(endpoint)
    user = current_user()
    if view is None or user is None:
        return False
    role = needed_role(view, "GET")
    return role != "forbidden" and user.has_role(role)


def url_with(**changes: Any) -> str:
    """This page's URL with some query arguments changed (pagination, filters)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    query = urlencode(args)
    return request.path + ("?" + query if query else "")


def _tz_name() -> str:
    from webui.extensions import current_config

    return current_config().timezone


def localtime(us: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """UTC microseconds as a time in the appliance's time zone (``cfg.timezone``)."""
    if us is None:
        return "—"
    moment = datetime.fromtimestamp(us / 1_000_000, tz=UTC).astimezone(ZoneInfo(_tz_name()))
    return moment.strftime(fmt)


def ago(us: int | None, now_us: int | None = None) -> str:
    """A short relative time ("5 min ago", "3 h ago") in the current language."""
    from flask_babel import gettext as _

    if us is None:
        return "—"
    now = now_us if now_us is not None else int(datetime.now(UTC).timestamp() * 1_000_000)
    seconds = max((now - us) // 1_000_000, 0)
    if seconds < 60:
        return _("just now")
    if seconds < 3600:
        return _("%(n)d min ago", n=seconds // 60)
    if seconds < 86400:
        return _("%(n)d h ago", n=seconds // 3600)
    return _("%(n)d days ago", n=seconds // 86400)


def number(value: int | float | None) -> str:
    """Thousands separated the way the language writes them (vi: 1.234, en: 1,234)."""
    if value is None:
        return "—"
    text = f"{value:,.0f}" if isinstance(value, int) or value == int(value) else f"{value:,.1f}"
    if str(get_locale() or "vi") == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def filesize(num: int | float | None) -> str:
    if num is None:
        return "—"
    size = float(num)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def icon(name: str) -> Markup:
    """A bootstrap-icons glyph (``name`` comes from code, never from data)."""
    return Markup('<i class="bi bi-{}" aria-hidden="true"></i>').format(name)
