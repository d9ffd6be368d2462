"""The alert list's query string as an :class:`AlertFilter`, and back.

Every value comes from the user's URL: it is parsed and validated here (numbers,
addresses, known statuses), and a bad one is reported by name instead of failing the page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from appliance.errors import ApplianceError
from appliance.service.alerts import STATUSES, AlertFilter

HOUR_US = 3_600_000_000
#: Time range presets: name → length in microseconds.
RANGES = {"1h": HOUR_US, "24h": 24 * HOUR_US, "7d": 7 * 24 * HOUR_US, "30d": 30 * 24 * HOUR_US}
TEXT_FIELDS = ("sensor", "host", "category", "event_type", "q", "gkey")
#: The query arguments a filter is made of (kept when paging or switching views).
FILTER_ARGS = ("range", "since", "until", "sensor", "host", "sid", "gkey", "severity",
               "category", "event_type", "status", "q")  # fmt: skip
EVENT_TYPES = ("alert", "finding", "anomaly")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True, slots=True)
class ParsedFilter:
    """The filter, what the form shows back, and the problems found (field → message)."""

    flt: AlertFilter
    values: dict[str, str]
    errors: dict[str, Any]


def parse_filter(args: MultiDict[str, str], tz: str, now_us: int | None = None) -> ParsedFilter:
    """Read the alert filter of a request's query string (``tz``: the appliance's zone)."""
    values = {name: (args.get(name) or "").strip()[:200] for name in FILTER_ARGS}
    errors: dict[str, Any] = {}
    kwargs: dict[str, Any] = {name: values[name] or None for name in TEXT_FIELDS}
    # Whole minutes: a preset range is the same filter for a minute (cached results apply).
    now = now_us if now_us is not None else time.time_ns() // 1000 // 60_000_000 * 60_000_000
    if values["range"] in RANGES:
        kwargs["since_us"] = now - RANGES[values["range"]]
    elif values["range"] not in ("", "all"):
        errors["range"] = _l("unknown time range")
    for name in ("since", "until"):
        if values[name]:
            try:
                kwargs[f"{name}_us"] = local_to_us(values[name], tz)
            except ValueError:
                errors[name] = _l("not a date and time (YYYY-MM-DDTHH:MM)")
    for name in ("sid", "severity"):
        if values[name]:
            if values[name].isdigit() and len(values[name]) < 12:
                kwargs[name] = int(values[name])
            else:
                errors[name] = _l("not a number")
    status = values["status"] or "new"
    if status not in (*STATUSES, "all"):
        errors["status"] = _l("unknown status")
        status = "new"
    kwargs["status"] = None if status == "all" else status
    if kwargs["event_type"] not in (None, *EVENT_TYPES):
        errors["event_type"] = _l("unknown event type")
        kwargs["event_type"] = None
    return ParsedFilter(_checked(kwargs, errors), values, errors)


#: What each field's refusal means to the user.
_REFUSALS = (("host", "IP address", _l("not an IP address")),
             ("severity", "Severity", _l("1 (high), 2 (medium) or 3 (low)")),
             ("since_us", "time range", _l("the end of the time range is before its start")))


def _checked(kwargs: dict[str, Any], errors: dict[str, Any]) -> AlertFilter:
    """The filter, dropping the fields it refuses (each reported)."""
    for _ in range(len(_REFUSALS) + 1):
        try:
            return AlertFilter(**kwargs)
        except ApplianceError as err:
            found = next(((f, msg) for f, clue, msg in _REFUSALS
                          if kwargs.get(f) is not None and clue in str(err)), None)  # fmt: skip
            if found is None:
                break
            errors[found[0].removesuffix("_us")] = found[1]
            kwargs[found[0]] = None
    errors["filter"] = _l("This filter cannot be used.")
    return AlertFilter(status=kwargs.get("status"))


def local_to_us(text: str, tz: str) -> int:
    """``YYYY-MM-DDTHH:MM`` in the appliance's zone → UTC microseconds."""
    moment = datetime.strptime(text, LOCAL_FORMAT).replace(tzinfo=ZoneInfo(tz))
    return int(moment.timestamp()) * 1_000_000


def query_args(values: dict[str, str], **changes: str | None) -> dict[str, str]:
    """The filter's non-empty query arguments, with some changed (None removes one)."""
    out = {k: v for k, v in values.items() if v}
    for key, value in changes.items():
        if value:
            out[key] = value
        else:
            out.pop(key, None)
    return out
