"""The incident tables of the state database: loading groups and writing a batch at once.

Every write of a correlation batch happens in one transaction with the chunk cursor,
with ``executemany`` per table, so a million alerts cost a handful of statements per
batch rather than a few per alert.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from appliance.incidents.group import Group
from appliance.incidents.model import Suppression

CURSOR_KEY = "incidents.chunk_cursor"
_IN_CHUNK = 500


def get_cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (CURSOR_KEY,)).fetchone()
    return int(row[0]) if row else 0


def set_cursor(conn: sqlite3.Connection, value: int, now_us: int) -> None:
    conn.execute(
        "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) "
        "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (CURSOR_KEY, str(value), now_us),
    )


def next_rev(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(rev), 0) + 1 FROM incidents").fetchone()[0])


def touch(conn: sqlite3.Connection, incident_id: int, now_us: int) -> None:
    """Mark an incident changed (the correlator reloads it)."""
    conn.execute("UPDATE incidents SET rev = ?, updated_at = ? WHERE id = ?",
                 (next_rev(conn), now_us, incident_id))  # fmt: skip


def add_history(conn: sqlite3.Connection, incident_id: int, ts: int, actor: str, action: str,
                detail: str = "") -> None:  # fmt: skip
    conn.execute("INSERT INTO incident_history(incident_id, ts, actor, action, detail) "
                 "VALUES (?, ?, ?, ?, ?)", (incident_id, ts, actor, action, detail))  # fmt: skip


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start : start + _IN_CHUNK]


def load_groups(conn: sqlite3.Connection, after_rev: int) -> tuple[list[Group], list[int], int]:
    """Groups changed since ``after_rev`` (not merged), ids merged away, and the max rev."""
    rows = conn.execute(
        "SELECT id, status, first_seen, last_seen, stages, sensors, alert_count, "
        "finding_count, evidence_severity, assignee, reopened, merged_into, rev "
        "FROM incidents WHERE rev > ?", (after_rev,)
    ).fetchall()  # fmt: skip
    groups: dict[int, Group] = {}
    merged: list[int] = []
    top = after_rev
    for r in rows:
        top = max(top, int(r[12]))
        if r[11] is not None:
            merged.append(int(r[0]))
            continue
        groups[int(r[0])] = Group(
            id=int(r[0]), status=r[1], first_seen=r[2], last_seen=r[3],
            stages=json.loads(r[4]), sensors=set(json.loads(r[5])), alert_count=r[6],
            finding_count=r[7], evidence_severity=r[8], assignee=r[9], reopened=r[10],
        )  # fmt: skip
    ids = list(groups)
    for part in _chunks(ids):
        marks = ",".join("?" * len(part))
        for ip, gid, role, deep, first in conn.execute(
            f"SELECT ip, incident_id, role, deep, first_seen FROM incident_hosts "
            f"WHERE incident_id IN ({marks})", tuple(part)
        ):  # fmt: skip
            group = groups[gid]
            (group.attackers if role == "attacker" else group.victims)[ip] = first
            if deep:
                group.deep.add(ip)
    return list(groups.values()), merged, top


def _row(group: Group, titles: tuple[str, str], severity: str) -> dict[str, Any]:
    return {
        "title": titles[0], "title_vi": titles[1], "severity": severity,
        "status": group.status, "stages": json.dumps(group.stages),
        "attackers": json.dumps(group.listed("attacker")),
        "victims": json.dumps(group.listed("victim")),
        "attacker_count": len(group.attackers), "victim_count": len(group.victims),
        "sensors": json.dumps(sorted(group.sensors)), "first_seen": group.first_seen,
        "last_seen": group.last_seen, "alert_count": group.alert_count,
        "finding_count": group.finding_count, "evidence_severity": group.evidence_severity,
        "reopened": group.reopened,
    }  # fmt: skip


_COLUMNS = ("title", "title_vi", "severity", "status", "stages", "attackers", "victims",
            "attacker_count", "victim_count", "sensors", "first_seen", "last_seen",
            "alert_count", "finding_count", "evidence_severity", "reopened")  # fmt: skip


def insert_group(conn: sqlite3.Connection, group: Group, titles: tuple[str, str],
                 severity: str, now_us: int, rev: int) -> int:  # fmt: skip
    """Write a new incident; its id."""
    row = _row(group, titles, severity)
    cols = ", ".join(_COLUMNS)
    marks = ", ".join(f":{c}" for c in _COLUMNS)
    cur = conn.execute(
        f"INSERT INTO incidents({cols}, auto_severity, created_at, updated_at, rev) "
        f"VALUES ({marks}, :severity, :now, :now, :rev)", {**row, "now": now_us, "rev": rev}
    )  # fmt: skip
    return int(cur.lastrowid or 0)


def update_groups(conn: sqlite3.Connection, items: list[tuple[Group, tuple[str, str], str]],
                  now_us: int, rev: int) -> None:  # fmt: skip
    """Write the new state of existing incidents (severity only where none was set by hand)."""
    # The status is the analysts': only a reopening changes it here (a change made since
    # the correlator loaded the incident must not be written over).
    sets = ", ".join(f"{c} = :{c}" for c in _COLUMNS
                     if c not in ("severity", "status", "reopened"))  # fmt: skip
    conn.executemany(
        f"UPDATE incidents SET {sets}, severity = CASE WHEN severity = auto_severity "
        f"THEN :severity ELSE severity END, auto_severity = :severity, "
        f"status = CASE WHEN :reopen THEN 'new' ELSE status END, "
        f"closed_at = CASE WHEN :reopen THEN NULL ELSE closed_at END, "
        f"reopened = reopened + :reopen, updated_at = :now, rev = :rev WHERE id = :id",
        [{**_row(g, t, s), "id": g.id, "now": now_us, "rev": rev, "reopen": int(g.was_reopened)}
         for g, t, s in items],
    )  # fmt: skip


def write_changes(conn: sqlite3.Connection, groups: Sequence[Group]) -> None:
    """Evidence, hosts and sources added to ``groups`` (which all have real ids)."""
    conn.executemany(
        "INSERT INTO incident_evidence(incident_id, kind, key, src_ip, dest_ip, label, stage, "
        "severity, count, first_seen, last_seen, event_ids) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT DO UPDATE SET count = count + excluded.count, "
        "first_seen = min(first_seen, excluded.first_seen), "
        "last_seen = max(last_seen, excluded.last_seen), "
        "severity = min(severity, excluded.severity), label = excluded.label",
        [(g.id, k[0], k[1], k[2], k[3], d.label, d.stage, d.severity, d.count, d.first_seen,
          d.last_seen, orjson.dumps(d.event_ids).decode())
         for g in groups for k, d in g.evidence.items()],
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO incident_hosts(ip, incident_id, role, deep, first_seen) VALUES (?,?,?,?,?) "
        "ON CONFLICT DO UPDATE SET deep = max(deep, excluded.deep), "
        "first_seen = min(first_seen, excluded.first_seen)",
        [(ip, g.id, role, deep, first) for g in groups
         for (ip, role), (first, deep) in g.new_hosts.items()],
    )  # fmt: skip
    conn.executemany(
        "INSERT OR IGNORE INTO incident_sources(source_id, incident_id) VALUES (?, ?)",
        [(s, g.id) for g in groups for s in g.sources],
    )


def merge_into(conn: sqlite3.Connection, target: int, gone: int, now_us: int, rev: int) -> None:
    """Move everything of incident ``gone`` into ``target`` and mark it merged."""
    conn.execute(
        "INSERT INTO incident_evidence SELECT ?, kind, key, src_ip, dest_ip, label, stage, "
        "severity, count, first_seen, last_seen, event_ids FROM incident_evidence "
        "WHERE incident_id = ? AND true ON CONFLICT DO UPDATE SET count = count + excluded.count, "
        "first_seen = min(first_seen, excluded.first_seen), "
        "last_seen = max(last_seen, excluded.last_seen), "
        "severity = min(severity, excluded.severity)", (target, gone)
    )  # fmt: skip
    conn.execute(
        "INSERT INTO incident_hosts SELECT ip, ?, role, deep, first_seen FROM incident_hosts "
        "WHERE incident_id = ? AND true ON CONFLICT DO UPDATE SET deep = max(deep, excluded.deep), "
        "first_seen = min(first_seen, excluded.first_seen)", (target, gone)
    )  # fmt: skip
    conn.execute("INSERT OR IGNORE INTO incident_sources SELECT source_id, ? FROM "
                 "incident_sources WHERE incident_id = ?", (target, gone))  # fmt: skip
    for table in ("incident_evidence", "incident_hosts", "incident_sources"):
        conn.execute(f"DELETE FROM {table} WHERE incident_id = ?", (gone,))
    for table in ("incident_history", "incident_comments"):
        conn.execute(f"UPDATE {table} SET incident_id = ? WHERE incident_id = ?", (target, gone))
    conn.execute("UPDATE incidents SET merged_into = ?, updated_at = ?, rev = ? WHERE id = ?",
                 (target, now_us, rev, gone))  # fmt: skip
    add_history(conn, target, now_us, "correlator", "merged", f"incident #{gone} joined this one")


def suppression_of(row: sqlite3.Row | Sequence[Any]) -> Suppression:
    return Suppression(id=row[0], sid=row[1], finding_type=row[2], src=row[3], dest=row[4],
                       reason=row[5], expires_at=row[6], created_by=row[7], created_at=row[8],
                       incident_id=row[9], hits=row[10])  # fmt: skip


SUPPRESSION_COLUMNS = ("id, sid, finding_type, src, dest, reason, expires_at, created_by, "
                       "created_at, incident_id, hits")  # fmt: skip


def load_suppressions(conn: sqlite3.Connection) -> list[Suppression]:
    """Suppressions not removed (active or expired: the caller checks the clock)."""
    rows = conn.execute(f"SELECT {SUPPRESSION_COLUMNS} FROM incident_suppressions "
                        "WHERE removed_at IS NULL ORDER BY id").fetchall()  # fmt: skip
    return [suppression_of(r) for r in rows]


def count_hits(conn: sqlite3.Connection, hits: dict[int, int]) -> None:
    conn.executemany("UPDATE incident_suppressions SET hits = hits + ? WHERE id = ?",
                     [(n, sid) for sid, n in hits.items()])  # fmt: skip
