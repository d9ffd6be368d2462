"""Incidents in memory while the correlator works: what each holds, and how to find one.

A :class:`Group` is an incident as the correlator sees it: times, stages with when each
began, hosts by role, counts, and the evidence added since the last write. The
:class:`GroupIndex` finds the incidents an observation continues: the same attacker; a
host that an earlier stage compromised now acting (scan → brute force → that host
beacons out); or many sources against one victim in a flood or a password spray.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from appliance.incidents.classifier import COMPROMISE_STAGES, OUTBOUND_STAGES, Observation
from appliance.incidents.model import OPEN_STATUSES, SEVERITIES, STAGE_LABELS, STAGES

#: Stages where many sources against one victim are one attack (floods, sprays).
CONVERGENT_STAGES = frozenset({"credential-access", "impact"})
#: Event ids kept per evidence row, to open the records behind it.
SAMPLE_IDS = 5
#: Hosts listed per role in an incident row (all are in incident_hosts).
LISTED_HOSTS = 50
_RANK = {1: "high", 2: "medium", 3: "low"}
_STAGE_ORDER = {s: i for i, s in enumerate(STAGES)}


@dataclass(slots=True)
class EvidenceDelta:
    """Evidence of one (kind, key, src, dest) added in this run."""

    label: str
    stage: str
    severity: int
    count: int
    first_seen: int
    last_seen: int
    event_ids: list[int]


@dataclass(slots=True)
class Group:
    """One incident being correlated (``id`` < 0 until it is written)."""

    id: int
    status: str
    first_seen: int
    last_seen: int
    stages: dict[str, int] = field(default_factory=dict)
    attackers: dict[str, int] = field(default_factory=dict)
    victims: dict[str, int] = field(default_factory=dict)
    deep: set[str] = field(default_factory=set)
    sensors: set[str] = field(default_factory=set)
    alert_count: int = 0
    finding_count: int = 0
    evidence_severity: int = 3
    assignee: str | None = None
    reopened: int = 0
    # Changes since the last write.
    evidence: dict[tuple[str, str, str, str], EvidenceDelta] = field(default_factory=dict)
    new_hosts: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    sources: set[int] = field(default_factory=set)
    was_reopened: bool = False
    _listed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def ordered_stages(self) -> list[str]:
        """Stages in the order they began (kill-chain order breaks ties)."""
        return sorted(self.stages, key=lambda s: (self.stages[s], _STAGE_ORDER.get(s, 99)))

    def add(self, obs: Observation) -> None:
        """Count ``obs`` in this incident."""
        self.first_seen = min(self.first_seen, obs.start)
        self.last_seen = max(self.last_seen, obs.ts)
        began = self.stages.get(obs.stage)
        if began is None or obs.start < began:
            self.stages[obs.stage] = obs.start
        if obs.attacker is not None:
            self._host(obs.attacker, "attacker", obs.start, False)
        if obs.victim is not None:
            deep = obs.stage in COMPROMISE_STAGES or obs.stage in OUTBOUND_STAGES
            self._host(obs.victim, "victim", obs.start, deep)
        if obs.kind == "alert":
            self.alert_count += obs.count
        else:
            self.finding_count += obs.count
        if obs.sensor:
            self.sensors.add(obs.sensor)
        self.sources.add(obs.event_id >> 40)
        if obs.sources:
            self.sources |= obs.sources
        self.evidence_severity = min(self.evidence_severity, obs.severity)
        ekey = (obs.kind, obs.key, obs.src_ip or "", obs.dest_ip or "")
        ids = [obs.event_id, *(obs.more_ids or ())]
        delta = self.evidence.get(ekey)
        if delta is None:
            self.evidence[ekey] = EvidenceDelta(obs.label, obs.stage, obs.severity, obs.count,
                                                obs.start, obs.ts, ids[:SAMPLE_IDS])  # fmt: skip
        else:
            delta.count += obs.count
            delta.first_seen = min(delta.first_seen, obs.start)
            delta.last_seen = max(delta.last_seen, obs.ts)
            delta.severity = min(delta.severity, obs.severity)
            if len(delta.event_ids) < SAMPLE_IDS:
                delta.event_ids.extend(ids[: SAMPLE_IDS - len(delta.event_ids)])

    def _host(self, ip: str, role: str, ts: int, deep: bool) -> None:
        hosts = self.attackers if role == "attacker" else self.victims
        known = hosts.get(ip)
        newly_deep = deep and ip not in self.deep
        if known is None or ts < known or newly_deep:
            listed = self._listed.get(role)
            if listed is not None and (ip in listed or len(listed) < LISTED_HOSTS
                                       or (ts, ip) < (hosts[listed[-1]], listed[-1])):
                self._listed.pop(role)  # the listed hosts change; others leave them be
            hosts[ip] = ts if known is None else min(known, ts)
            if deep:
                self.deep.add(ip)
            self.new_hosts[(ip, role)] = (hosts[ip], int(ip in self.deep))

    def clear_changes(self) -> None:
        self.evidence.clear()
        self.new_hosts.clear()
        self.sources.clear()
        self.was_reopened = False

    def listed(self, role: str) -> list[str]:
        """The first hosts of a role, in the order they appeared (cached)."""
        cached = self._listed.get(role)
        if cached is None:
            hosts = self.attackers if role == "attacker" else self.victims
            cached = heapq.nsmallest(LISTED_HOSTS, hosts, key=lambda ip: (hosts[ip], ip))
            self._listed[role] = cached
        return cached


def severity_of(group: Group, criticality: str = "normal") -> str:
    """Incident severity: the worst evidence, raised when the attack went on past one
    stage (and again at three stages and more) and for a critical or high-value victim,
    lowered for a low-value one."""
    rank = SEVERITIES.index(_RANK.get(group.evidence_severity, "low"))
    stages = set(group.stages) - {"policy"}
    beyond_recon = stages - {"reconnaissance"}
    if len(beyond_recon) >= 2:  # the attack went on from one stage to the next
        rank -= 1
    if len(stages) >= 3:
        rank -= 1
    if criticality in ("high", "critical"):
        rank -= 1
    elif criticality == "low":
        rank += 1
    return SEVERITIES[min(max(rank, 0), len(SEVERITIES) - 1)]


def _hosts_text(hosts: list[str], total: int, more: str) -> str:
    if not hosts:
        return "?"
    return hosts[0] + (f" (+{total - 1} {more})" if total > 1 else "")


def titles_of(group: Group) -> tuple[str, str]:
    """(English, Vietnamese) title: the stages in order, who, against whom."""
    stages = group.ordered_stages()
    en_stages = " → ".join(STAGE_LABELS.get(s, (s, s))[0] for s in stages)
    vi_stages = " → ".join(STAGE_LABELS.get(s, (s, s))[1] for s in stages)
    attackers, victims = group.listed("attacker"), group.listed("victim")
    a_en = _hosts_text(attackers, len(group.attackers), "more")
    v_en = _hosts_text(victims, len(group.victims), "more")
    a_vi = _hosts_text(attackers, len(group.attackers), "nguồn khác")
    v_vi = _hosts_text(victims, len(group.victims), "máy khác")
    if not group.attackers:
        a_en = a_vi = ""
    if not group.victims:
        v_en = v_vi = ""
    en = f"{en_stages[:1].upper()}{en_stages[1:]}: " + " → ".join(x for x in (a_en, v_en) if x)
    vi = f"{vi_stages[:1].upper()}{vi_stages[1:]}: " + " → ".join(x for x in (a_vi, v_vi) if x)
    return en.rstrip(": "), vi.rstrip(": ")


class GroupIndex:
    """Groups by the hosts that can continue them."""

    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self.by_attacker: dict[str, set[int]] = {}
        self.by_pivot: dict[str, set[int]] = {}
        self.by_target: dict[tuple[str, str], set[int]] = {}
        #: Grows whenever a group or a host is indexed: a placement remembered at one
        #: version holds until the next (no other group can have become a candidate).
        self.version = 0

    def put(self, group: Group) -> None:
        """Add (or re-add after a reload) ``group`` and its hosts."""
        self.version += 1
        self.drop(group.id)
        self.groups[group.id] = group
        for ip in group.attackers:
            self.by_attacker.setdefault(ip, set()).add(group.id)
        for ip in group.deep:
            self.by_pivot.setdefault(ip, set()).add(group.id)
        for stage in CONVERGENT_STAGES & set(group.stages):
            for ip in group.victims:
                self.by_target.setdefault((ip, stage), set()).add(group.id)

    def drop(self, gid: int) -> None:
        old = self.groups.pop(gid, None)
        if old is None:
            return
        for ip in old.attackers:
            self.by_attacker.get(ip, set()).discard(gid)
        for ip in old.deep:
            self.by_pivot.get(ip, set()).discard(gid)
        for stage in CONVERGENT_STAGES:
            for ip in old.victims:
                self.by_target.get((ip, stage), set()).discard(gid)

    def absorb(self, target: Group, other: Group) -> None:
        """Index under ``target`` the hosts it took over from ``other``."""
        self.version += 1
        tid = target.id
        for ip in other.attackers:
            self.by_attacker.setdefault(ip, set()).add(tid)
        for ip in other.deep:
            self.by_pivot.setdefault(ip, set()).add(tid)
        for stage in CONVERGENT_STAGES & set(other.stages):
            for ip in other.victims:
                self.by_target.setdefault((ip, stage), set()).add(tid)

    def note(self, group: Group, obs: Observation) -> None:
        """Index the hosts ``obs`` just added to ``group``."""
        gid = group.id
        if obs.attacker is not None:
            self._add(self.by_attacker, obs.attacker, gid)
        if obs.victim is not None:
            if obs.victim in group.deep:
                self._add(self.by_pivot, obs.victim, gid)
            if obs.stage in CONVERGENT_STAGES:
                self._add(self.by_target, (obs.victim, obs.stage), gid)

    def _add(self, index: dict[Any, set[int]], key: Any, gid: int) -> None:
        ids = index.get(key)
        if ids is None:
            index[key] = {gid}
        elif gid in ids:
            return
        else:
            ids.add(gid)
        self.version += 1

    def candidates(self, obs: Observation) -> set[int]:
        """Ids of groups ``obs`` may continue (before any time check)."""
        out: set[int] = set()
        if obs.attacker is not None:
            out |= self.by_attacker.get(obs.attacker, set())
            out |= self.by_pivot.get(obs.attacker, set())
        if obs.victim is not None:
            # The victim acting in another incident (it beacons, leaks) is the same story
            # whichever of the two was stored first.
            if obs.stage in OUTBOUND_STAGES or obs.stage in COMPROMISE_STAGES:
                out |= self.by_pivot.get(obs.victim, set())
            if obs.stage in CONVERGENT_STAGES:
                out |= self.by_target.get((obs.victim, obs.stage), set())
        return out
