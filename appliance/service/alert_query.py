"""Filters over the alert index: what an analyst can narrow the alert list to, as SQL.

Every value is a bound parameter; column names come only from this module. Counts stop
at :data:`COUNT_CAP` (the list shows "10,000+"), so a filter matching a million alerts
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
COUNT_CAP = 10_000


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


def where_clause(flt: AlertFilter) -> tuple[str, list[Any]]:
    """`` WHERE ...`` over alert_index for ``flt``, and its parameters."""
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
    if flt.host:
        clauses.append("(src_ip = ? OR dest_ip = ?)")
        args += [flt.host, flt.host]
    if flt.q and flt.q.strip():
        text = flt.q.strip()
        clauses.append("(label LIKE ? ESCAPE '\\' OR category LIKE ? ESCAPE '\\' OR gkey = ? "
                       "OR src_ip = ? OR dest_ip = ?)")  # fmt: skip
        args += [_like(text), _like(text), text, text, text]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def count_capped(state: StateDB, where: str, args: list[Any]) -> int:
    """How many index rows match, counting at most COUNT_CAP + 1."""
    rows = state.query(
        f"SELECT count(*) FROM (SELECT 1 FROM alert_index{where} LIMIT ?)",
        (*args, COUNT_CAP + 1),
    )
    return int(rows[0][0])


def group_rows(state: StateDB, flt: AlertFilter, offset: int,
               limit: int) -> tuple[list[tuple[Any, ...]], int]:  # fmt: skip
    """Rows for AlertGroup (most alerts first) and how many groups there are."""
    where, args = where_clause(flt)
    rows = state.query(
        "SELECT a.gkey, k.etype, k.label, k.category, k.severity, a.n, a.first, a.last, "
        "a.srcs, a.dests FROM (SELECT gkey, count(*) AS n, min(ts) AS first, max(ts) AS last, "
        f"count(DISTINCT src_ip) AS srcs, count(DISTINCT dest_ip) AS dests FROM alert_index"
        f"{where} GROUP BY gkey) a JOIN alert_keys k ON k.gkey = a.gkey "
        "ORDER BY a.n DESC, a.gkey LIMIT ? OFFSET ?",
        (*args, int(limit), int(offset)),
    )
    total = state.query(f"SELECT count(DISTINCT gkey) FROM alert_index{where}", tuple(args))
    return [tuple(r) for r in rows], int(total[0][0])
