"""Reading the rules page's forms: switch states, thresholds, expiries."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from appliance.errors import ApplianceError

#: The expiry choices of the forms, in days (0: never).
EXPIRY_DAYS = (0, 1, 7, 30, 90, 365)


def state_value(text: str) -> bool | None:
    """``enable`` → True, ``disable`` → False, ``reset`` → None."""
    states = {"enable": True, "disable": False, "reset": None}
    if text not in states:
        raise ApplianceError(_("Choose enable, disable or reset."))
    return states[text]


def _int(value: Any, what: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ApplianceError(_("%(what)s must be a whole number.", what=what)) from None


def parse_threshold_form(form: Mapping[str, Any]) -> tuple[str, int, dict[str, Any]]:
    """(kind, sid, keyword arguments for ``RuleService.add_threshold``)."""
    kind = str(form.get("kind", ""))
    if kind not in ("threshold", "suppress"):
        raise ApplianceError(_("Choose a threshold or a suppression."))
    sid = _int(form.get("sid"), "SID")
    if sid is None:
        raise ApplianceError(_("Give the SID of the rule."))
    if kind == "suppress":
        ip = str(form.get("ip", "")).strip() or None
        track = str(form.get("track", "")).strip() or None if ip else None
        if ip and track is None:
            track = "by_src"
        return kind, sid, {"track": track, "ip": ip}
    return kind, sid, {
        "type": str(form.get("type", "")) or None, "track": str(form.get("track", "")) or None,
        "count": _int(form.get("count"), _("Count")),
        "seconds": _int(form.get("seconds"), _("Seconds")),
    }  # fmt: skip


def parse_expiry(value: Any, timezone: str, now: float | None = None) -> int | None:
    """UTC µs of an expiry: a number of days from now, or a local date YYYY-MM-DD."""
    text = str(value or "").strip()
    if not text or text == "0":
        return None
    current = time.time() if now is None else now
    if text.isdigit():
        return int((current + int(text) * 86400) * 1_000_000)
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ApplianceError(_("The expiry is a number of days or a date (YYYY-MM-DD).")) from None
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=ZoneInfo(timezone))
    return int(end.timestamp() * 1_000_000)
