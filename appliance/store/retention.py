"""Retention: age and size budgets per kind of data, on by default.

Events are removed whole chunks at a time (a chunk holds one batch of one kind), oldest
first, so the raw JSON and the indexed rows leave together. Evidence files on disk (pcap
ring, extracted files) have their own budget.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import RetentionBudget, RetentionConfig
from appliance.events import KIND_ALERTS, KIND_METADATA
from appliance.store.turns import begin_immediate

logger = logging.getLogger(__name__)

#: Bytes a stored row costs beside its compressed raw JSON (row + index entries), measured
#: on ET Open output over the shared captures; used to turn row counts into disk use.
ROW_OVERHEAD_BYTES = 150
_DAY_US = 86_400 * 1_000_000
_MIB = 1024 * 1024


@dataclass
class KindUsage:
    """Disk use and forecast of one kind of data."""

    kind: str
    bytes: int = 0
    events: int = 0
    removed_events: int = 0
    removed_files: int = 0
    bytes_per_day: float = 0.0
    days_left: float | None = None


@dataclass
class RetentionReport:
    """What one retention pass removed and how long the budgets last."""

    kinds: dict[str, KindUsage] = field(default_factory=dict)

    def describe(self) -> str:
        """One line per kind, for the log and the CLI."""
        parts = []
        for usage in self.kinds.values():
            left = "unknown" if usage.days_left is None else f"{usage.days_left:.0f} days"
            parts.append(f"{usage.kind}: {usage.bytes / _MIB:.1f} MiB, removed "
                         f"{usage.removed_events} events / {usage.removed_files} files, "
                         f"budget lasts {left}")  # fmt: skip
        return "; ".join(parts)


def apply_retention(
    conn: sqlite3.Connection, cfg: RetentionConfig, *, evidence_dirs: Iterable[Path] = (),
    now_us: int | None = None,
) -> RetentionReport:  # fmt: skip
    """Enforce every budget once; returns usage and the days-left forecast."""
    now = now_us if now_us is not None else int(time.time() * 1_000_000)
    report = RetentionReport()
    for kind, budget in ((KIND_ALERTS, cfg.alerts), (KIND_METADATA, cfg.metadata)):
        report.kinds[kind] = _retain_events(conn, kind, budget, now)
    report.kinds["pcap"] = _retain_files(list(evidence_dirs), cfg.pcap, now)
    logger.info("Retention: %s.", report.describe())
    return report


def _usage(conn: sqlite3.Connection, kind: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT coalesce(sum(length(data)), 0), coalesce(sum(n), 0) FROM chunks WHERE kind = ?",
        (kind,),
    ).fetchone()
    return int(row[0]) + int(row[1]) * ROW_OVERHEAD_BYTES, int(row[1])


def _retain_events(
    conn: sqlite3.Connection, kind: str, budget: RetentionBudget, now: int
) -> KindUsage:
    usage = KindUsage(kind)
    cutoff = now - budget.max_days * _DAY_US
    old = [r[0] for r in conn.execute(
        "SELECT id FROM chunks WHERE kind = ? AND ingested_at < ? ORDER BY ingested_at",
        (kind, cutoff))]
    usage.removed_events += _delete_chunks(conn, old)
    limit = budget.max_mb * _MIB
    size, _ = _usage(conn, kind)
    usage.removed_events += _delete_chunks(conn, _oldest_beyond(conn, kind, size - limit))
    usage.bytes, usage.events = _usage(conn, kind)
    usage.bytes_per_day = _recent_rate(conn, kind, now)
    usage.days_left = _days_left(limit - usage.bytes, usage.bytes_per_day)
    return usage  # fmt: skip


def _oldest_beyond(conn: sqlite3.Connection, kind: str, excess: int) -> list[int]:
    """The oldest chunks of ``kind`` whose removal frees at least ``excess`` bytes."""
    if excess <= 0:
        return []
    rows = conn.execute(
        "SELECT id, length(data) + n * ? FROM chunks WHERE kind = ? ORDER BY ingested_at, id",
        (ROW_OVERHEAD_BYTES, kind),
    ).fetchall()
    doomed, freed = [], 0
    for chunk_id, cost in rows:
        if freed >= excess:
            break
        doomed.append(chunk_id)
        freed += cost
    return doomed


def _delete_chunks(conn: sqlite3.Connection, chunk_ids: list[int]) -> int:
    removed = 0
    for start in range(0, len(chunk_ids), 200):
        part = chunk_ids[start : start + 200]
        marks = ",".join("?" * len(part))
        begin_immediate(conn)
        try:
            # Each chunk's rows through its id range (the primary key), not a chunk index.
            removed += sum(conn.execute(
                "DELETE FROM events WHERE id BETWEEN ? AND ? AND chunk = ?", (lo, hi, chunk)
            ).rowcount for chunk, lo, hi in conn.execute(
                f"SELECT id, min_id, max_id FROM chunks WHERE id IN ({marks})", part
            ).fetchall())  # fmt: skip
            conn.execute(f"DELETE FROM chunk_hosts WHERE chunk IN ({marks})", part)
            conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
    return removed


def _recent_rate(conn: sqlite3.Connection, kind: str, now: int) -> float:
    """Bytes per day of this kind stored over the last 7 days."""
    since = now - 7 * _DAY_US
    row = conn.execute(
        "SELECT coalesce(sum(length(data)), 0), coalesce(sum(n), 0), min(ingested_at), "
        "max(ingested_at) FROM chunks WHERE kind = ? AND ingested_at >= ?",
        (kind, since),
    ).fetchone()
    total = int(row[0]) + int(row[1]) * ROW_OVERHEAD_BYTES
    if not total or row[2] is None:
        return 0.0
    span_days = max((row[3] - row[2]) / _DAY_US, 1.0)
    return total / span_days


def _days_left(free_bytes: float, per_day: float) -> float | None:
    if per_day <= 0:
        return None
    return max(free_bytes, 0) / per_day


def _retain_files(dirs: list[Path], budget: RetentionBudget, now: int) -> KindUsage:
    usage = KindUsage("pcap")
    files: list[Path] = []
    for folder in dirs:
        if folder.is_dir():
            files.extend(p for p in folder.rglob("*") if p.is_file())
    cutoff = now / 1_000_000 - budget.max_days * 86_400
    stats = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_mtime < cutoff:
            path.unlink(missing_ok=True)
            usage.removed_files += 1
        else:
            stats.append((st.st_mtime, st.st_size, path))
    stats.sort()
    total = sum(size for _, size, _ in stats)
    limit = budget.max_mb * _MIB
    busy_after = now / 1_000_000 - 120  # Suricata may still be writing newer files.
    while stats and total > limit and stats[0][0] < busy_after:
        _, size, path = stats.pop(0)
        path.unlink(missing_ok=True)
        total -= size
        usage.removed_files += 1
    usage.bytes = total
    return usage
