"""Correlation: new alerts and findings of the event store become incidents, incrementally.

The correlator follows the store's chunk ids (insertion order) with a cursor kept in the
state database, reads a batch of chunks, classifies each record (engine noise and
suppressed kinds stop here), sorts the batch by when each activity began and groups it in
memory, then writes the whole batch (incidents, evidence counts, hosts, cursor) in one
transaction. The incidents it may continue stay in memory between runs; it reloads only
those anyone changed since (their ``rev``).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.events import EveDecodeError, parse_timestamp
from appliance.incidents import repository as repo
from appliance.incidents.classifier import HomeNet, Observation, observe
from appliance.incidents.criticality import Criticality
from appliance.incidents.group import SAMPLE_IDS, Group, GroupIndex, severity_of, titles_of
from appliance.incidents.noise import EngineNoise, SuppressionSet

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

MINUTE_US = 60_000_000
DAY_US = 86_400_000_000
#: Store chunks read in the first batch; later batches adapt so that one holds about
#: TARGET_RECORDS (a chunk holds one ingest batch: a few to a few thousand records).
BATCH_CHUNKS = 16
TARGET_RECORDS = 50_000
MAX_CHUNKS = 4096


@dataclass
class CorrelationResult:
    """What one run changed: incident ids opened, reopened and given new evidence."""

    new: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    records: int = 0
    noise: int = 0
    suppressed: int = 0
    ignored: int = 0


class Correlator:
    """Turns the store's alerts and findings into incidents; see the module docstring."""

    def __init__(self, service: Service, *, clock: Callable[[], int] | None = None,
                 batch_chunks: int = BATCH_CHUNKS) -> None:  # fmt: skip
        self.service = service
        self.cfg = service.cfg.incidents
        self.clock = clock or (lambda: time.time_ns() // 1000)
        self.batch_chunks = batch_chunks
        self.home = HomeNet(service.cfg.networks.home)
        self.noise = EngineNoise(self.cfg)
        self.window = self.cfg.window_minutes * MINUTE_US
        self.reopen = self.cfg.reopen_days * DAY_US
        self.index = GroupIndex()
        self._rev = 0
        self._next_temp = -1
        self.criticality = Criticality(service)

    # -- the loop ------------------------------------------------------------------------

    def run_once(self, *, max_batches: int | None = None) -> CorrelationResult:
        """Correlate everything stored since the cursor; safe to call at any time."""
        result = CorrelationResult()
        if not self.cfg.enabled:
            return result
        # The cyclic collector would walk every incident, host and set held in memory
        # each time a batch allocates its records; they make no cycles worth collecting
        # within a run, so it waits until the run is over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._run(result, max_batches)
        finally:
            if collecting:
                gc.enable()
        return result

    def _run(self, result: CorrelationResult, max_batches: int | None) -> None:
        state, store = self.service.state, self.service.store
        batches = 0
        while max_batches is None or batches < max_batches:
            cursor = repo.get_cursor(state.conn)
            upto, records = store.events_after_chunk(cursor, kind="alerts",
                                                     max_chunks=self.batch_chunks)  # fmt: skip
            if upto == cursor:
                break
            self._adapt(len(records))
            self._reload()
            now = self.clock()
            sups = SuppressionSet(repo.load_suppressions(state.conn), now)
            observations, hits = self._observe(records, sups, result)
            del records
            try:
                applied = self._apply(cursor, upto, observations, hits, now, result)
            except BaseException:
                self._forget()
                raise
            if not applied:
                self._forget()  # another process correlated this range: take its view
            batches += 1

    def _adapt(self, n: int) -> None:
        """Keep a batch near TARGET_RECORDS: bounded memory, few transactions."""
        if n > 2 * TARGET_RECORDS and self.batch_chunks > 1:
            self.batch_chunks //= 2
        elif n < TARGET_RECORDS // 2 and self.batch_chunks < MAX_CHUNKS:
            self.batch_chunks *= 2

    def _forget(self) -> None:
        """Drop the groups in memory (they may hold changes that were not written)."""
        self._rev = 0
        self.index = GroupIndex()

    def _reload(self) -> None:
        """Bring the groups in memory up to date with what others changed."""
        groups, merged, top = repo.load_groups(self.service.state.conn, self._rev)
        for gid in merged:
            self.index.drop(gid)
        for group in groups:
            if group.status == "false-positive":
                self.index.drop(group.id)  # never continued: its suppressions do the work
            else:
                self.index.put(group)
        self._rev = top

    def _observe(self, records: list[dict[str, Any]], sups: SuppressionSet,
                 result: CorrelationResult) -> tuple[list[Observation], dict[int, int]]:
        # fmt: skip
        """Classified records that may open or feed incidents, sorted by start time.

        Alerts of one signature between the same two hosts in the same hour (and sensor)
        become one observation with a count: classification, suppression and placement
        cost once per burst, and a repeat costs a few dictionary lookups (its timestamp
        is compared as text: EVE timestamps of one sensor sort as they read).
        """
        out: list[Observation] = []
        hits: dict[int, int] = {}
        home, noise = self.home, self.noise
        noise_cache = noise._cache if noise.enabled else None
        bursts: dict[tuple[Any, ...], list[Any] | int] = {}
        n_records = n_noise = n_ignored = n_suppressed = 0
        for record in records:
            etype = record.get("event_type")
            if etype == "alert":
                n_records += 1
                alert = record.get("alert")
                stamp = record.get("timestamp")
                if not isinstance(alert, dict) or "source" in alert or not isinstance(stamp, str):
                    key = None  # malformed, or roles named by the rule: one by one
                else:
                    sid = alert.get("signature_id")
                    if noise_cache is not None and isinstance(sid, int):
                        is_noise = noise_cache.get(sid)
                        if is_noise is None:
                            is_noise = noise.is_noise_sid(sid)
                        if is_noise:
                            n_noise += 1
                            continue
                    key = (sid, record.get("src_ip"), record.get("dest_ip"), stamp[:13],
                           record.get("_sensor"))  # fmt: skip
                    known = bursts.get(key)
                    if known is not None:
                        if isinstance(known, int):  # suppressed
                            hits[known] += 1
                            n_suppressed += 1
                        else:
                            _count(known, stamp, record)
                        continue
            elif etype == "finding":
                n_records += 1
                key = None
            else:
                if etype == "anomaly":
                    n_noise += 1
                continue
            obs = observe(record, home)
            if obs is None:
                n_ignored += 1
                continue
            sup = sups.match(obs) if sups else None
            if sup is not None:
                hits[sup.id] = hits.get(sup.id, 0) + 1
                n_suppressed += 1
                if key is not None:
                    bursts[key] = sup.id
                continue
            if key is not None:
                bursts[key] = [obs, stamp, stamp]
            out.append(obs)
        for burst in bursts.values():
            if not isinstance(burst, int) and burst[1] != burst[2]:
                _finish(burst)
        result.records += n_records
        result.noise += n_noise
        result.ignored += n_ignored
        result.suppressed += n_suppressed
        out.sort(key=lambda o: (o.start, o.ts, o.event_id))
        return out, hits

    # -- grouping ------------------------------------------------------------------------

    def _eligible(self, group: Group, obs: Observation) -> str | None:
        """"open" or "reopen" when ``obs`` continues ``group`` in time, else None."""
        if obs.ts < group.first_seen - self.window:
            return None
        if group.is_open:
            return "open" if obs.start <= group.last_seen + self.window else None
        if group.status == "resolved" and obs.start <= group.last_seen + self.reopen:
            return "reopen"
        return None

    def _place_all(self, observations: list[Observation], touched: dict[int, Group],
                   merges: list[tuple[int, int]]) -> None:  # fmt: skip
        """Place each observation; a burst of the same hosts and stage reuses the last
        placement while the index has not changed (most alerts come in such bursts)."""
        index, groups = self.index, self.index.groups
        memo: dict[tuple[str | None, str | None, str], tuple[int, int]] = {}
        for obs in observations:
            key = (obs.attacker, obs.victim, obs.stage)
            hit = memo.get(key)
            if hit is not None and hit[1] == index.version:
                group = groups.get(hit[0])
                if group is not None and group.is_open and self._eligible(group, obs) == "open":
                    group.add(obs)
                    touched[group.id] = group
                    continue
            gid = self._place(obs, touched, merges)
            if gid is not None:
                memo[key] = (gid, index.version)

    def _place(self, obs: Observation, touched: dict[int, Group],
               merges: list[tuple[int, int]]) -> int | None:  # fmt: skip
        groups = self.index.groups
        open_ids: list[int] = []
        closed_ids: list[int] = []
        for gid in self.index.candidates(obs):
            verdict = self._eligible(groups[gid], obs)
            if verdict == "open":
                open_ids.append(gid)
            elif verdict == "reopen":
                closed_ids.append(gid)
        if open_ids:
            open_ids.sort(key=lambda g: (g < 0, abs(g)))  # oldest written incident first
            group = groups[open_ids[0]]
            for other in open_ids[1:]:
                self._merge(group, groups[other], touched, merges)
        elif closed_ids:
            group = groups[max(closed_ids, key=lambda g: groups[g].last_seen)]
            group.status, group.was_reopened = "new", True
            group.reopened += 1
        elif obs.severity <= self.cfg.open_min_severity:
            group = Group(id=self._next_temp, status="new", first_seen=obs.start,
                          last_seen=obs.ts)  # fmt: skip
            self._next_temp -= 1
            self.index.put(group)
        else:
            return None  # too mild to open an incident on its own (it stays an alert)
        group.add(obs)
        self.index.note(group, obs)
        touched[group.id] = group
        return group.id

    def _merge(self, target: Group, other: Group, touched: dict[int, Group],
               merges: list[tuple[int, int]]) -> None:  # fmt: skip
        """Fold ``other`` into ``target`` when nobody has started working on it."""
        if other.status != "new" or other.assignee is not None:
            return
        for ip, first in other.attackers.items():
            target._host(ip, "attacker", first, False)
        for ip, first in other.victims.items():
            target._host(ip, "victim", first, ip in other.deep)
        for stage, began in other.stages.items():
            target.stages[stage] = min(began, target.stages.get(stage, began))
        target.first_seen = min(target.first_seen, other.first_seen)
        target.last_seen = max(target.last_seen, other.last_seen)
        target.alert_count += other.alert_count
        target.finding_count += other.finding_count
        target.sensors |= other.sensors
        target.sources |= other.sources
        target.evidence_severity = min(target.evidence_severity, other.evidence_severity)
        for key, delta in other.evidence.items():
            mine = target.evidence.get(key)
            if mine is None:
                target.evidence[key] = delta
            else:
                mine.count += delta.count
                mine.first_seen = min(mine.first_seen, delta.first_seen)
                mine.last_seen = max(mine.last_seen, delta.last_seen)
                mine.severity = min(mine.severity, delta.severity)
        self.index.drop(other.id)
        self.index.absorb(target, other)
        touched.pop(other.id, None)
        if other.id > 0:
            merges.append((target.id, other.id))

    # -- writing -------------------------------------------------------------------------

    def _apply(self, cursor: int, upto: int, observations: list[Observation],
               hits: dict[int, int], now: int, result: CorrelationResult) -> bool:  # fmt: skip
        touched: dict[int, Group] = {}
        merges: list[tuple[int, int]] = []
        self._place_all(observations, touched, merges)
        crit = self.criticality.of(touched.values())
        with self.service.state.transaction() as conn:
            if repo.get_cursor(conn) != cursor:
                return False
            rev = repo.next_rev(conn)
            in_step = rev - 1 <= self._rev  # nobody else changed incidents since _reload
            new_groups = [g for g in touched.values() if g.id < 0]
            renames: dict[int, int] = {}
            for group in new_groups:
                sev = severity_of(group, crit.get(group.id, "normal"))
                real = repo.insert_group(conn, group, titles_of(group), sev, now, rev)
                renames[group.id] = real
                repo.add_history(conn, real, now, "correlator", "opened", titles_of(group)[0])
            for old, real in renames.items():
                group = touched.pop(old)
                self.index.drop(old)
                group.id = real
                touched[real] = group
                self.index.put(group)
                result.new.append(real)
            old_groups = [g for g in touched.values() if g.id not in renames.values()]
            repo.update_groups(conn, [(g, titles_of(g), severity_of(g, crit.get(g.id, "normal")))
                                      for g in old_groups], now, rev)  # fmt: skip
            for target, gone in merges:  # both written before (temp groups merge in memory)
                repo.merge_into(conn, target, gone, now, rev)
                result.merged.append(gone)
            for group in old_groups:
                if group.was_reopened:
                    repo.add_history(conn, group.id, now, "correlator", "reopened",
                                     "new evidence arrived")  # fmt: skip
                    result.reopened.append(group.id)
                else:
                    result.updated.append(group.id)
            repo.write_changes(conn, list(touched.values()))
            repo.count_hits(conn, hits)
            repo.set_cursor(conn, upto, now)
        for group in touched.values():
            group.clear_changes()
        if in_step:
            self._rev = rev  # memory already holds what was just written
        return True


def _count(burst: list[Any], stamp: str, record: dict[str, Any]) -> None:
    """Count one more alert of a burst ``[observation, earliest, latest timestamp]``."""
    obs: Observation = burst[0]
    obs.count += 1
    if stamp < burst[1]:
        burst[1] = stamp
    elif stamp > burst[2]:
        burst[2] = stamp
    eid = record.get("_id")
    if not isinstance(eid, int):
        return
    if obs.more_ids is None:
        obs.more_ids = []
    if len(obs.more_ids) < SAMPLE_IDS:
        obs.more_ids.append(eid)
    source = eid >> 40
    if source != obs.event_id >> 40:
        if obs.sources is None:
            obs.sources = set()
        obs.sources.add(source)


def _finish(burst: list[Any]) -> None:
    """A burst's first and last time, from its earliest and latest timestamp text."""
    obs: Observation = burst[0]
    try:
        obs.start = min(obs.start, parse_timestamp(burst[1]))
        obs.ts = max(obs.ts, parse_timestamp(burst[2]))
    except EveDecodeError:
        pass  # the burst keeps the time of its first alert
