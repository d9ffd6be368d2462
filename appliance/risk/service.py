"""``Service.risk``: risk scores of hosts and the network, their factors and history.

Inputs come from the state database: the alert and finding groups the inventory keeps
per host (``risk_evidence``), the services it found, the criticality admins set, and the
open incidents of ``Service.incidents`` when that area is present (:func:`open_incidents`
is the one seam). The clock: ``now_us`` when given (tests, reports), else the wall clock,
but never later than the newest event the inventory has read, so a capture analysed
offline is scored as of its own end rather than decayed by the years since.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from appliance.risk import RiskScore
from appliance.risk.score import (
    DAY_US,
    Evidence,
    IncidentRef,
    ServiceRef,
    host_score,
    network_score,
)

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

OPEN_STATUSES = ("new", "acknowledged", "investigating")
NETWORK = ""  # the network's key in risk_history


def open_incidents(service: Service, ip: str | None = None) -> dict[str, list[IncidentRef]]:
    """Open incidents per host (only ``ip``'s when given), from ``Service.incidents``;
    none while that area is absent."""
    try:
        incidents = service.incidents  # type: ignore[attr-defined]
    except (AttributeError, ImportError):
        return {}
    if ip is not None and hasattr(incidents, "for_host"):
        found = [i for i in incidents.for_host(ip, limit=200) if i.status in OPEN_STATUSES]
    else:
        found = []
        for status in OPEN_STATUSES:
            offset = 0
            while True:
                page = incidents.list(status=status, offset=offset, limit=500)
                found += page.items
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break
    out: dict[str, list[IncidentRef]] = {}
    for inc in found:
        held = _evidence_of(incidents, inc.id)
        for role, hosts in (("attacker", inc.attackers), ("victim", inc.victims)):
            for host in hosts:
                if ip is None or host == ip:
                    out.setdefault(host, []).append(IncidentRef(
                        int(inc.id), inc.title, getattr(inc, "title_vi", inc.title),
                        inc.severity, role, int(inc.last_seen), _covers(held, host)))
    return out


def _evidence_of(incidents: Any, incident_id: int) -> list[Any]:
    get = getattr(incidents, "get", None)
    detail = get(incident_id) if get is not None else None
    return list(getattr(detail, "evidence", []) or [])


def _covers(evidence: list[Any], ip: str) -> frozenset[tuple[str, str, str]]:
    """(role, kind, key) of the incident's evidence with ``ip`` at one end."""
    out = set()
    for ev in evidence:
        for role, end in (("source", ev.src_ip), ("target", ev.dest_ip)):
            if end == ip:
                out.add((role, str(ev.kind), str(ev.key)))
    return frozenset(out)


def active_suppressions(service: Service) -> list[Any]:
    """Suppressions in force (false positives included), from ``Service.incidents``."""
    try:
        return list(service.incidents.suppressions(active_only=True))  # type: ignore[attr-defined]
    except (AttributeError, ImportError):
        return []


def _in(ip: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def is_suppressed(ip: str, ev: Evidence, suppression: Any) -> bool:
    """Whether an analyst's suppression or false-positive mark covers this evidence.

    Evidence is grouped per host and role, so only the host's own side can be checked:
    a suppression that also names the other side (from A to B) leaves A's evidence
    against other hosts counted.
    """
    sid, ftype = suppression.sid, suppression.finding_type
    if sid is not None and not (ev.kind == "alert" and ev.key == str(sid)):
        return False
    if ftype is not None and not (ev.kind == "finding" and ev.key == ftype):
        return False
    mine, other = ((suppression.src, suppression.dest) if ev.role == "source"
                   else (suppression.dest, suppression.src))  # fmt: skip
    if other is not None:
        return False
    return mine is None or _in(ip, mine)


class RiskService:
    """Risk scores (0-100) with factors that add up, per host and for the network."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.cfg = service.cfg.assets.risk
        self.tz = ZoneInfo(service.cfg.timezone)

    def now_us(self) -> int:
        """The scoring clock: the wall clock, or the end of the newest data read if earlier."""
        wall = time.time_ns() // 1000
        rows = self.service.state.query("SELECT value FROM kv WHERE key = 'assets.log_clock'")
        return min(wall, int(rows[0][0])) if rows else wall

    # -- inputs ------------------------------------------------------------------------

    def _evidence(self, ips: Iterable[str] | None, now_us: int) -> dict[str, list[Evidence]]:
        since = now_us - self.cfg.max_age_days * DAY_US
        sql = ("SELECT ip, role, kind, key, label, category, severity, confidence, count, "
               "last_seen FROM risk_evidence WHERE last_seen >= ?")  # fmt: skip
        params: list[Any] = [since]
        if ips is not None:
            sql += " AND ip IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(ips)))
        suppressions = active_suppressions(self.service)
        out: dict[str, list[Evidence]] = {}
        for r in self.service.state.query(sql, tuple(params)):
            ev = Evidence(*r[1:])
            if not any(is_suppressed(r[0], ev, sup) for sup in suppressions):
                out.setdefault(r[0], []).append(ev)
        return out

    def _services(self, ips: Iterable[str] | None) -> dict[str, list[ServiceRef]]:
        sql = "SELECT ip, port, proto, app_proto, tls_version, external_flows FROM asset_services"
        params: tuple[Any, ...] = ()
        if ips is not None:
            sql += " WHERE ip IN (SELECT value FROM json_each(?))"
            params = (json.dumps(list(ips)),)
        out: dict[str, list[ServiceRef]] = {}
        for r in self.service.state.query(sql, params):
            out.setdefault(r[0], []).append(ServiceRef(*r[1:]))
        return out

    def _score(self, ip: str, criticality: str, now_us: int, evidence: dict[str, list[Evidence]],
               incidents: dict[str, list[IncidentRef]],
               services: dict[str, list[ServiceRef]]) -> RiskScore:  # fmt: skip
        return host_score(evidence=evidence.get(ip, []), incidents=incidents.get(ip, []),
                          services=services.get(ip, []), criticality=criticality,
                          now_us=now_us, cfg=self.cfg)  # fmt: skip

    # -- the interface -----------------------------------------------------------------

    def host(self, ip: str, now_us: int | None = None) -> RiskScore:
        """The current score of one host, computed now, with its factors."""
        now = now_us if now_us is not None else self.now_us()
        rows = self.service.state.query("SELECT criticality FROM assets WHERE ip = ?", (ip,))
        criticality = rows[0][0] if rows else "normal"
        incidents = open_incidents(self.service, ip)
        return self._score(ip, criticality, now, self._evidence([ip], now),
                           {ip: incidents.get(ip, [])}, self._services([ip]))  # fmt: skip

    def refresh(self, ips: Sequence[str]) -> None:
        """Score these hosts now and store it (after an admin changed their criticality);
        the daily history waits for the next :meth:`recompute`."""
        scores = [(ip, self.host(ip)) for ip in ips]
        with self.service.state.transaction() as conn:
            conn.executemany("UPDATE assets SET risk = ?, risk_factors = ? WHERE ip = ?",
                             [(s.score, json.dumps(s.as_json(), ensure_ascii=False), ip)
                              for ip, s in scores])  # fmt: skip

    def top(self, n: int = 10) -> list[tuple[str, RiskScore]]:
        """The ``n`` riskiest hosts as of the last recompute."""
        rows = self.service.state.query(
            "SELECT ip, risk_factors FROM assets WHERE risk > 0 ORDER BY risk DESC, ip_key "
            "LIMIT ?", (n,))
        return [(r[0], RiskScore.from_json(json.loads(r[1]))) for r in rows if r[1]]

    def network(self) -> RiskScore:
        """The network's score from the hosts' scores of the last recompute."""
        rows = self.service.state.query("SELECT ip, risk FROM assets WHERE risk IS NOT NULL")
        return network_score([(r[0], int(r[1])) for r in rows])

    def history(self, ip: str | None = None, days: int = 7,
                now_us: int | None = None) -> list[tuple[int, int]]:  # fmt: skip
        """(day start in UTC µs, score) per day over the last ``days`` days, oldest first;
        ``ip`` None: the network's."""
        now = now_us if now_us is not None else self.now_us()
        since = self.day_start(now) - (days - 1) * DAY_US
        rows = self.service.state.query(
            "SELECT day, score FROM risk_history WHERE ip = ? AND day >= ? ORDER BY day",
            (ip or NETWORK, since))
        return [(int(d), int(s)) for d, s in rows]

    def day_start(self, ts_us: int) -> int:
        """Midnight (appliance time zone) of the day holding ``ts_us``, in UTC µs."""
        local = datetime.datetime.fromtimestamp(ts_us / 1e6, self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return int(midnight.timestamp()) * 1_000_000

    def recompute(self, now_us: int | None = None) -> RiskScore:
        """Score every asset, store the scores and today's snapshot; the network's score."""
        now = now_us if now_us is not None else self.now_us()
        assets = self.service.state.query("SELECT ip, criticality FROM assets")
        evidence, services = self._evidence(None, now), self._services(None)
        incidents = open_incidents(self.service)
        scores = [(ip, self._score(ip, crit, now, evidence, incidents, services))
                  for ip, crit in assets]  # fmt: skip
        network = network_score([(ip, s.score) for ip, s in scores])
        day = self.day_start(now)
        with self.service.state.transaction() as conn:
            conn.executemany("UPDATE assets SET risk = ?, risk_factors = ? WHERE ip = ?",
                             [(s.score, json.dumps(s.as_json(), ensure_ascii=False), ip)
                              for ip, s in scores])  # fmt: skip
            conn.executemany(
                "INSERT INTO risk_history VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
                "score = excluded.score",
                [(day, ip, s.score) for ip, s in scores] + [(day, NETWORK, network.score)])
            # Evidence twice the maximum age (by the real clock, not a test's) is of no use.
            conn.execute("DELETE FROM risk_evidence WHERE last_seen < ?",
                         (self.now_us() - 2 * self.cfg.max_age_days * DAY_US,))
        logger.info("Risk recomputed: hosts=%d network=%d.", len(scores), network.score)
        return network
