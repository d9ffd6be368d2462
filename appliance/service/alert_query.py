"""Filters over the alert index: what an analyst can narrow the alert list to, as SQL.

Every value is a bound parameter; column names come only from this module. Counts stop
at :data:`COUNT_CAP` (the list shows "1,000+"), so a filter matching a million alerts
costs a bounded scan, not a full count.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from appliance.errors import ApplianceError
from appliance.state import StateDB

#: Triage states: the inbox holds "new"; the others leave it.
STATUSES = ("new", "archived", "escalated", "false-positive", "suppressed")
COUNT_CAP = 1_000


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What the alert list shows; every field is optional (None: no restriction).

    ``status`` "new" is the inbox; None shows every status. ``host`` matches either end;
    ``q`` searches the signature or finding label, category, group key and addresses.
    """

    since_us: int | None = None
    until_us: int | None = None
    sensor: str | None = None
    host: str | None = None
    src_ip: str | None = None
    dest_ip: str | None = None
    sid: int | None = None
    gkey: str | None = None
    severity: int | None = None
    category: str | None = None
    event_type: str | None = None
    status: str | None = "new"
    q: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ApplianceError(f"Unknown alert status {self.status!r}; one of "
                                 f"{', '.join(STATUSES)}.")  # fmt: skip
        if self.severity is not None and self.severity not in (1, 2, 3):
            raise ApplianceError("Severity is 1 (high), 2 (medium) or 3 (low).")
        for value in (self.host, self.src_ip, self.dest_ip):
            if value is not None:
                _check_ip(value)
        if (self.since_us is not None and self.until_us is not None
                and self.until_us <= self.since_us):  # fmt: skip
            raise ApplianceError("The end of the time range is before its start.")


def _check_ip(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError as err:
        raise ApplianceError(f"{value!r} is not an IP address.") from err


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def selection(flt: AlertFilter, state: StateDB | None = None) -> tuple[str, list[Any]]:
    """`` FROM ... WHERE ...`` over alert_index for ``flt``, and its parameters.

    A host drives the query from the address indexes (``CROSS JOIN`` keeps SQLite from
    scanning the time index instead); a text search becomes the group keys whose label or
    category matches (``alert_keys`` is small), so neither scans the whole index.
    """
    clauses: list[str] = []
    args: list[Any] = []
    simple = (("ts >= ?", flt.since_us), ("ts < ?", flt.until_us), ("sensor = ?", flt.sensor),
              ("src_ip = ?", flt.src_ip), ("dest_ip = ?", flt.dest_ip),
              ("gkey = ?", flt.gkey if flt.gkey else None),
              ("gkey = ?", f"sid:{flt.sid}" if flt.sid is not None else None),
              ("severity = ?", flt.severity), ("category = ?", flt.category or None),
              ("etype = ?", flt.event_type or None), ("status = ?", flt.status))  # fmt: skip
    for sql, value in simple:
        if value is not None:
            clauses.append(sql)
            args.append(value)
    text = (flt.q or "").strip()
    host = flt.host or (text if _is_ip(text) else None)
    if text and host == text and flt.host and flt.host != text:
        clauses.append("(src_ip = ? OR dest_ip = ?)")
        args += [text, text]
    elif text and not _is_ip(text):
        _text_clause(text, state, clauses, args)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    if host is None:
        return " FROM alert_index" + where, args
    source = (" FROM (SELECT event_id AS hid FROM alert_index WHERE src_ip = ? UNION "
              "SELECT event_id FROM alert_index WHERE dest_ip = ?) AS h CROSS JOIN alert_index "
              "ON alert_index.event_id = h.hid")  # fmt: skip
    return source + where, [host, host, *args]


#: Beyond this many matching group keys, a text search scans labels instead.
MAX_TEXT_KEYS = 500


def _text_clause(text: str, state: StateDB | None, clauses: list[str], args: list[Any]) -> None:
    like = _like(text)
    if state is not None:
        keys = [str(r[0]) for r in state.query(
            "SELECT gkey FROM alert_keys WHERE label LIKE ? ESCAPE '\\' OR category LIKE ? "
            "ESCAPE '\\' OR gkey = ? LIMIT ?", (like, like, text, MAX_TEXT_KEYS + 1))]
        if len(keys) <= MAX_TEXT_KEYS:
            clauses.append(f"gkey IN ({','.join('?' * len(keys))})" if keys else "0")
            args += keys
            return
    clauses.append("(label LIKE ? ESCAPE '\\' OR category LIKE ? ESCAPE '\\' OR gkey = ?)")
    args += [like, like, text]  # fmt: skip


def count_capped(state: StateDB, source: str, args: list[Any]) -> int:
    """How many index rows match (``source`` from :func:`selection`), at most COUNT_CAP + 1."""
    rows = state.query(f"SELECT count(*) FROM (SELECT 1{source} LIMIT ?)",
                       (*args, COUNT_CAP + 1))  # fmt: skip
    return int(rows[0][0])


def group_rows(state: StateDB, flt: AlertFilter, offset: int,
               limit: int) -> tuple[list[list[Any]], int]:  # fmt: skip
    """Rows for AlertGroup (most alerts first) and how many groups there are."""
    source, args = selection(flt, state)
    rows = state.query(
        "SELECT a.gkey, k.etype, k.label, k.category, k.severity, a.n, a.first, a.last, "
        "a.srcs, a.dests, count(*) OVER () FROM (SELECT gkey, count(*) AS n, min(ts) AS first, "
        f"max(ts) AS last, count(DISTINCT src_ip) AS srcs, count(DISTINCT dest_ip) AS dests"
        f"{source} GROUP BY gkey) a JOIN alert_keys k ON k.gkey = a.gkey "
        "ORDER BY a.n DESC, a.gkey LIMIT ? OFFSET ?",
        (*args, int(limit), int(offset)),
    )
    total = int(rows[0][-1]) if rows else 0
    if not rows and offset:
        total = int(state.query(f"SELECT count(DISTINCT gkey){source}", tuple(args))[0][0])
    return [list(r)[:-1] for r in rows], total
