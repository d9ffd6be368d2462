"""Triage actions of :class:`~appliance.incidents.service.IncidentService`: escalating
alerts by hand, false positives, and suppressions with a reason and an expiry."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from appliance import audit
from appliance.incidents import repository as repo
from appliance.incidents.classifier import HomeNet, observe
from appliance.incidents.group import Group, severity_of, titles_of
from appliance.incidents.model import Suppression, TriageError
from appliance.incidents.noise import parse_cidr
from appliance.state import StateDB
from appliance.store import EventQuery

if TYPE_CHECKING:
    from appliance.service import Service

MAX_REASON = 1_000
MAX_TITLE = 300


def _reason(value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise TriageError("a reason is required", "cần ghi rõ lý do")
    if len(text) > MAX_REASON:
        raise TriageError(f"the reason is longer than {MAX_REASON} characters",
                          f"lý do dài quá {MAX_REASON} ký tự")
    return text


class TriageActions:
    """Mixin: the actions that create incidents or stop evidence from feeding them."""

    service: Service
    state: StateDB
    clock: Callable[[], int]
    _resolve: Callable[[int], int | None]
    _change: Callable[..., int]

    def escalate(self, event_ids: Sequence[int], *, actor: str, title: str | None = None) -> int:
        """Open an incident by hand from stored alerts or findings; its id."""
        home = HomeNet(self.service.cfg.networks.home)
        observations = []
        for eid in dict.fromkeys(int(e) for e in event_ids):
            for record in self.service.store.events(EventQuery(event_id=eid, limit=1)):
                obs = observe(record, home)
                if obs is not None:
                    observations.append(obs)
        if not observations:
            raise TriageError("none of these events is a stored alert or finding",
                              "không sự kiện nào trong số này là cảnh báo hay phát hiện đã lưu")
        observations.sort(key=lambda o: (o.start, o.ts))
        first = observations[0]
        group = Group(id=-1, status="new", first_seen=first.start, last_seen=first.ts)
        for obs in observations:
            group.add(obs)
        titles = titles_of(group)
        if title is not None and title.strip():
            own = title.strip()[:MAX_TITLE]
            titles = (own, own)
        now = self.clock()
        with self.state.transaction() as conn:
            real = repo.insert_group(conn, group, titles, severity_of(group), now,
                                     repo.next_rev(conn))  # fmt: skip
            group.id = real
            repo.write_changes(conn, [group])
            repo.add_history(conn, real, now, actor, "escalated",
                             f"{len(observations)} events: {titles[0]}")  # fmt: skip
        audit.record(self.state, actor, "incident.escalate", f"incident:{real}",
                     {"event_ids": [o.event_id for o in observations][:50]}, ts=now)  # fmt: skip
        return real

    def mark_false_positive(self, incident_id: int, *, actor: str, reason: str) -> None:
        """Close an incident as a false positive; the same evidence opens nothing again."""
        why = _reason(reason)
        real = self._resolve(incident_id)
        if real is None:
            raise KeyError(f"no incident #{incident_id}")
        now = self.clock()
        rows = self.state.query(
            "SELECT DISTINCT kind, key, src_ip, dest_ip FROM incident_evidence "
            "WHERE incident_id = ?", (real,))  # fmt: skip
        with self.state.transaction() as conn:
            for kind, key, src, dest in rows:
                sid = int(key) if kind == "alert" and key.isdigit() else None
                ftype = key if kind == "finding" else None
                conn.execute(
                    "INSERT INTO incident_suppressions(sid, finding_type, src, dest, reason, "
                    "expires_at, created_by, created_at, incident_id) "
                    "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                    (sid, ftype, src or None, dest or None,
                     f"false positive (incident #{real}): {why}", actor, now, real),
                )  # fmt: skip
            conn.execute("UPDATE incidents SET status = 'false-positive', closed_at = ? "
                         "WHERE id = ?", (now, real))  # fmt: skip
            repo.touch(conn, real, now)
            repo.add_history(conn, real, now, actor, "false-positive", why)
        audit.record(self.state, actor, "incident.false-positive", f"incident:{real}",
                     {"reason": why, "suppressions": len(rows)}, ts=now)  # fmt: skip

    def suppress(self, *, sid: int | None = None, finding_type: str | None = None,
                 src: str | None = None, dest: str | None = None, reason: str,
                 expires_at: int | None = None, actor: str) -> int:  # fmt: skip
        """Stop matching alerts or findings from opening or feeding incidents; its id.

        At least one of ``sid``, ``finding_type``, ``src``, ``dest`` (CIDRs) names what;
        ``expires_at`` (UTC µs) ends it, None keeps it until removed.
        """
        why = _reason(reason)
        try:
            src_net, dest_net = parse_cidr(src), parse_cidr(dest)
        except ValueError as err:
            raise TriageError(f"not an address or CIDR: {err}",
                              f"không phải địa chỉ IP hay dải CIDR: {err}") from None
        ftype = (finding_type or "").strip() or None
        if sid is None and ftype is None and src_net is None and dest_net is None:
            raise TriageError("a suppression needs a signature id, a finding type or an address",
                              "cần chỉ rõ mã chữ ký, loại phát hiện hoặc địa chỉ cần bỏ qua")
        if sid is not None and ftype is not None:
            raise TriageError("a suppression names a signature id or a finding type, not both",
                              "chỉ chọn mã chữ ký hoặc loại phát hiện, không chọn cả hai")
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise TriageError("the expiry is in the past", "thời điểm hết hạn đã qua")
        with self.state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO incident_suppressions(sid, finding_type, src, dest, reason, "
                "expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sid, ftype, src_net, dest_net, why, expires_at, actor, now),
            )
        new_id = int(cur.lastrowid or 0)
        audit.record(self.state, actor, "incident.suppress", f"suppression:{new_id}",
                     {"sid": sid, "finding_type": ftype, "src": src_net, "dest": dest_net,
                      "reason": why, "expires_at": expires_at}, ts=now)  # fmt: skip
        return new_id

    def suppressions(self, active_only: bool = True) -> builtins.list[Suppression]:
        """Suppressions, newest first; only those in force unless ``active_only`` is False."""
        rows = self.state.query(
            f"SELECT {repo.SUPPRESSION_COLUMNS} FROM incident_suppressions "
            f"{'WHERE removed_at IS NULL' if active_only else ''} ORDER BY id DESC")  # fmt: skip
        items = [repo.suppression_of(r) for r in rows]
        if active_only:
            now = self.clock()
            items = [s for s in items if s.is_active(now)]
        return items

    def remove_suppression(self, suppression_id: int, *, actor: str) -> None:
        """End a suppression now."""
        now = self.clock()
        with self.state.transaction() as conn:
            cur = conn.execute(
                "UPDATE incident_suppressions SET removed_at = ?, removed_by = ? "
                "WHERE id = ? AND removed_at IS NULL", (now, actor, suppression_id))  # fmt: skip
        if not cur.rowcount:
            raise KeyError(f"no suppression #{suppression_id} in force")
        audit.record(self.state, actor, "incident.unsuppress", f"suppression:{suppression_id}",
                     {}, ts=now)  # fmt: skip
