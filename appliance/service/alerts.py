"""Alerts and findings for analysts: search, group, inspect, triage; counts for the dashboard.

``Service.alerts``. Reads go to the alert index (:mod:`appliance.service.alert_index`,
synced from the event store before each read, which costs one query when nothing is new)
and to the event store for raw records; triage writes go to the state database, and
escalations and suppressions to the incidents service (``Service.incidents``).
"""

from __future__ import annotations

import builtins
import hashlib
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import orjson

from appliance.errors import ApplianceError
from appliance.events import EveDecodeError, parse_timestamp
from appliance.service.alert_index import AlertIndex, IndexedAlert, StatusOf
from appliance.service.alert_query import (
    STATUSES,
    AlertFilter,
    count_capped,
    group_rows,
    selection,
)
from appliance.service.alert_stats import CACHE_PREFIX, AlertStats
from appliance.store import EventQuery

if TYPE_CHECKING:
    from appliance.service import Page, Service

#: Where a flow's other records are looked for: from the flow's start (or the finding's
#: first evidence) to this long after the alert; Suricata logs a flow record when the
#: flow times out, minutes after its last packet. A window, not the whole store: the
#: store indexes flow ids of alerts only, so metadata is found by time and address.
RELATED_BEFORE_US = 60_000_000
RELATED_AFTER_US = 15 * 60_000_000
RELATED_LIMIT = 200
EVENT_TYPES = ("alert", "finding", "anomaly")
#: Records by event type.
Related = dict[str, list[dict[str, Any]]]

__all__ = ["STATUSES", "AlertFilter", "AlertService", "Alert", "AlertGroup", "AlertDetail"]


@dataclass(frozen=True, slots=True)
class Alert(IndexedAlert):
    """One alert, finding or anomaly in a list: the index's row and its triage."""

    status: str
    incident_id: int | None

    @property
    def sid(self) -> int | None:
        """The signature id of an alert."""
        kind, _, value = self.gkey.partition(":")
        return int(value) if kind == "sid" and value.isdigit() else None

    @property
    def finding_type(self) -> str | None:
        kind, _, value = self.gkey.partition(":")
        return value if kind == "finding" else None

    def as_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["event_id"] = str(self.event_id)  # beyond JavaScript's safe integers
        out["sid"], out["finding_type"] = self.sid, self.finding_type
        return out


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """Alerts of one signature (or finding type) under the current filter."""

    gkey: str
    etype: str
    label: str
    category: str | None
    severity: int
    count: int
    first_seen: int
    last_seen: int
    sources: int
    destinations: int

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class AlertDetail:
    """One alert with its raw record, the other records of its flow, and its triage."""

    alert: Alert
    record: dict[str, Any] | None
    related: Related = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def raw_json(self) -> str:
        """The stored EVE record, pretty-printed (to be shown escaped)."""
        if self.record is None:
            return ""
        shown = {k: v for k, v in self.record.items() if k != "_id"}
        return orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()


class AlertService(AlertStats):
    """Alerts and findings of the appliance (``Service.alerts``)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.index = AlertIndex(service.store, service.state)

    @property
    def _incidents(self) -> Any:
        """The incidents service (escalations and suppressions live with incidents)."""
        return getattr(self.service, "incidents")

    # -- reading ---------------------------------------------------------------------

    def sync(self) -> int:
        """Index what the store gained since the last call (cheap when nothing is new).

        New alerts that an active suppression covers start as "suppressed"."""
        return self.index.sync(triage=self._suppression_matcher)

    def _suppression_matcher(self) -> StatusOf:
        if "incidents" not in dir(self.service):
            return lambda _item: "new"
        now = time.time_ns() // 1000
        rules = [_SuppressionRule.of(s) for s in self._incidents.suppressions(active_only=True)
                 if s.is_active(now)]  # fmt: skip
        return lambda item: "suppressed" if any(r.covers(item) for r in rules) else "new"

    def list(self, flt: AlertFilter | None = None, *, offset: int = 0,
             limit: int = 50) -> Page[Alert]:  # fmt: skip
        """Alerts matching ``flt``, newest first. ``total`` stops counting at 1,001."""
        from appliance.service import Page

        self.sync()
        source, args = selection(flt or AlertFilter(), self.service.state)
        rows = self.service.state.query(
            f"SELECT alert_index.*{source} ORDER BY ts DESC, event_id DESC LIMIT ? OFFSET ?",
            (*args, int(limit), int(offset)),
        )
        total = count_capped(self.service.state, source, args)
        return Page([_alert(r) for r in rows], total, offset, limit)

    def groups(self, flt: AlertFilter | None = None, *, offset: int = 0,
               limit: int = 50) -> Page[AlertGroup]:  # fmt: skip
        """Alerts matching ``flt`` grouped by signature or finding type, most first."""
        from appliance.service import Page

        self.sync()
        chosen = flt or AlertFilter()
        key = "groups:" + hashlib.sha1(repr((chosen, offset, limit)).encode()).hexdigest()
        rows, total = self.cached(key, lambda: group_rows(self.service.state, chosen, offset,
                                                          limit))  # fmt: skip
        return Page([AlertGroup(*r) for r in rows], total, offset, limit)

    def get(self, event_id: int) -> AlertDetail | None:
        """One alert with its raw record and related records; None if not indexed."""
        self.sync()
        rows = self.service.state.query("SELECT * FROM alert_index WHERE event_id = ?",
                                        (int(event_id),))  # fmt: skip
        if not rows:
            return None
        alert = _alert(rows[0])
        record = self.record(event_id)
        detail = AlertDetail(alert, record)
        if record is not None:
            detail.related = self.related(alert, record)
        detail.actions = self.actions(event_id)
        return detail

    def record(self, event_id: int) -> dict[str, Any] | None:
        """The raw stored record (None once retention removed it)."""
        found = list(self.service.store.events(EventQuery(event_id=int(event_id), limit=1)))
        return found[0] if found else None

    def related(self, alert: Alert, record: dict[str, Any]) -> Related:
        """The other records of the alert's flow(s), by event type (flow, http, dns, ...)."""
        flow_ids = [alert.flow_id] if alert.flow_id is not None else []
        evidence = (record.get("finding") or {}).get("evidence") or {}
        for key in ("flow_id", "flow_ids"):
            value = evidence.get(key)
            items = value if isinstance(value, list) else [value]
            flow_ids += [v for v in items if isinstance(v, int) and v not in flow_ids]
        out: Related = {}
        seen = {alert.event_id}
        since, until = related_window(alert.ts, record)
        for flow_id in flow_ids[:10]:
            # By time and flow id: the time index narrows to minutes of events, where the
            # host zone map would visit every chunk a busy host appears in.
            query = EventQuery(flow_id=flow_id, since_us=since, until_us=until,
                               limit=RELATED_LIMIT)
            for item in self.service.store.events(query):
                if item["_id"] not in seen:
                    seen.add(item["_id"])
                    out.setdefault(str(item.get("event_type")), []).append(item)
        return out

    def actions(self, event_id: int) -> builtins.list[dict[str, Any]]:
        """What analysts did to this alert, oldest first."""
        rows = self.service.state.query(
            "SELECT ts, actor, action, detail FROM alert_actions WHERE id IN (SELECT a.id FROM "
            "alert_actions a, json_each(a.event_ids) j WHERE j.value = ?) ORDER BY ts, id",
            (str(int(event_id)),),
        )
        return [dict(r) for r in rows]

    # -- triage ----------------------------------------------------------------------

    def archive(self, event_ids: Sequence[int], *, actor: str) -> int:
        """Archive open alerts (out of the inbox, still searchable); how many changed."""
        return self._set_status(event_ids, "archived", actor=actor, action="archive")

    def restore(self, event_ids: Sequence[int], *, actor: str) -> int:
        """Put archived alerts back in the inbox."""
        return self._set_status(event_ids, "new", actor=actor, action="restore")

    def archive_matching(self, flt: AlertFilter, *, actor: str) -> int:
        """Archive every open alert matching ``flt`` (a whole group at once)."""
        return self.archive(self.matching_ids(flt), actor=actor)

    def matching_ids(self, flt: AlertFilter, limit: int = 100_000) -> builtins.list[int]:
        """Ids of the alerts matching ``flt`` (at most ``limit``)."""
        self.sync()
        source, args = selection(flt, self.service.state)
        rows = self.service.state.query(f"SELECT alert_index.event_id{source} LIMIT ?",
                                        (*args, limit))  # fmt: skip
        return [int(r[0]) for r in rows]

    def escalate(self, event_ids: Sequence[int], *, actor: str, title: str | None = None) -> int:
        """Open an incident from these alerts (or add them to one); its id."""
        ids = self._known(event_ids)
        try:
            incident_id = int(self._incidents.escalate(ids, actor=actor, title=title))
        except (ValueError, KeyError) as err:
            raise ApplianceError(f"Cannot escalate: {err}") from err
        self._set_status(ids, "escalated", actor=actor, action="escalate",
                         detail=f"incident {incident_id}", incident_id=incident_id)  # fmt: skip
        return incident_id

    def mark_false_positive(self, event_ids: Sequence[int], *, actor: str, reason: str) -> int:
        """Mark alerts as false positives (they leave the inbox); how many changed."""
        if not reason.strip():
            raise ApplianceError("Say why these alerts are false positives.")
        return self._set_status(event_ids, "false-positive", actor=actor,
                                action="false-positive", detail=reason.strip())  # fmt: skip

    def suppress(self, event_id: int, *, actor: str, reason: str, expires_at: int | None,
                 by: str = "signature") -> int:  # fmt: skip
        """Suppress further alerts like this one; the suppression's id.

        ``by``: "signature" (everywhere), "source" (this signature from this source) or
        "pair" (from this source to this destination). Open alerts it covers leave the inbox.
        """
        if not reason.strip():
            raise ApplianceError("A suppression needs a reason.")
        if expires_at is not None and expires_at <= time.time_ns() // 1000:
            raise ApplianceError("The suppression's expiry is in the past.")
        rows = self.service.state.query("SELECT * FROM alert_index WHERE event_id = ?",
                                        (int(event_id),))  # fmt: skip
        if not rows:
            raise ApplianceError(f"No alert with id {event_id}.")
        alert = _alert(rows[0])
        if by not in ("signature", "source", "pair"):
            raise ApplianceError(f"Unknown suppression scope {by!r}.")
        src = _host_cidr(alert.src_ip) if by in ("source", "pair") else None
        dest = _host_cidr(alert.dest_ip) if by == "pair" else None
        try:
            sup_id = int(self._incidents.suppress(
                sid=alert.sid, finding_type=alert.finding_type, src=src, dest=dest,
                reason=reason.strip(), expires_at=expires_at, actor=actor))
        except (ValueError, KeyError) as err:
            raise ApplianceError(f"Cannot suppress: {err}") from err  # fmt: skip
        flt = AlertFilter(gkey=alert.gkey, status="new", src_ip=alert.src_ip if src else None,
                          dest_ip=alert.dest_ip if dest else None)  # fmt: skip
        covered = self.matching_ids(flt)
        self._set_status(covered, "suppressed", actor=actor, action="suppress",
                         detail=f"suppression {sup_id}: {reason.strip()}")  # fmt: skip
        return sup_id

    def _known(self, event_ids: Sequence[int]) -> builtins.list[int]:
        self.sync()
        ids = [int(i) for i in event_ids]
        if not ids:
            raise ApplianceError("No alerts selected.")
        marks = ",".join("?" * len(ids))
        found = {int(r[0]) for r in self.service.state.query(
            f"SELECT event_id FROM alert_index WHERE event_id IN ({marks})", tuple(ids))}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApplianceError(f"No alert with id {missing[0]}.")
        return ids  # fmt: skip

    def _set_status(self, event_ids: Sequence[int], status: str, *, actor: str, action: str,
                    detail: str | None = None, incident_id: int | None = None) -> int:  # fmt: skip
        ids = self._known(event_ids)
        now = time.time_ns() // 1000
        changed: builtins.list[int] = []
        with self.service.state.transaction() as conn:
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                marks = ",".join("?" * len(part))
                changed += [int(r[0]) for r in conn.execute(
                    f"SELECT event_id FROM alert_index WHERE event_id IN ({marks}) "
                    "AND status != ?", (*part, status))]
                conn.execute(
                    f"UPDATE alert_index SET status = ?, updated_at = ?, incident_id = "
                    f"coalesce(?, incident_id) WHERE event_id IN ({marks}) AND status != ?",
                    (status, now, incident_id, *part, status),
                )
            if changed:
                # Grouped counts of the inbox changed: drop their cached copies.
                conn.execute("DELETE FROM kv WHERE key LIKE ?", (CACHE_PREFIX + "groups:%",))
                conn.execute(
                    "INSERT INTO alert_actions(ts, actor, action, event_ids, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (now, actor, action, orjson.dumps([str(i) for i in changed]).decode(),
                     detail),
                )  # fmt: skip
        if not changed:
            return 0
        return len(changed)


_ALERT_FIELDS = tuple(f.name for f in fields(Alert))


def related_window(ts: int, record: dict[str, Any]) -> tuple[int, int]:
    """(since, until) in which the records of an alert's flow are looked for."""
    starts = [ts]
    for value in ((record.get("flow") or {}).get("start"),
                  ((record.get("finding") or {}).get("evidence") or {}).get("first_seen")):
        if isinstance(value, str):
            try:
                starts.append(parse_timestamp(value))
            except EveDecodeError:
                continue
    return min(starts) - RELATED_BEFORE_US, ts + RELATED_AFTER_US


@dataclass(frozen=True, slots=True)
class _SuppressionRule:
    """One suppression of the incidents service, as it applies to index rows."""

    gkey: str | None
    src: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    dest: ipaddress.IPv4Network | ipaddress.IPv6Network | None

    @classmethod
    def of(cls, sup: Any) -> _SuppressionRule:
        gkey = (f"sid:{sup.sid}" if sup.sid is not None
                else f"finding:{sup.finding_type}" if sup.finding_type else None)  # fmt: skip
        return cls(gkey, _network(sup.src), _network(sup.dest))

    def covers(self, item: IndexedAlert) -> bool:
        if self.gkey is not None and item.gkey != self.gkey:
            return False
        return _within(item.src_ip, self.src) and _within(item.dest_ip, self.dest)


def _network(text: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False) if text else None
    except ValueError:
        return None


def _within(ip: str | None, net: ipaddress.IPv4Network | ipaddress.IPv6Network | None) -> bool:
    if net is None:
        return True
    try:
        return ip is not None and ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def _alert(row: Any) -> Alert:
    return Alert(*(row[name] for name in _ALERT_FIELDS))


def _host_cidr(ip: str | None) -> str | None:
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return f"{address}/{address.max_prefixlen}"
