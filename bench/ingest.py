"""Benchmark: EVE events per second from an EVE file into the store, beside a naive baseline.

    python bench/ingest.py [--lines 1000000]

spanwatch: EVE reader -> msgspec decode -> zstd chunks + indexed columns in SQLite, with
bookmarks. Baseline, measured in the same run on the same file: ``json.loads`` and
``executemany`` of the same columns plus the raw JSON, four indexes, batches of 1,000.
Targets: >= 100,000 events/s, >= 3x the baseline, <= 300 bytes per event on disk. Printed
for the reader and store writer alone (what the target names; also pinned to one CPU, as
the target says "on one core"), and until the traffic rollups, which follow the store in a
process of their own, are up to date too.

The file is the shared attack corpus's EVE repeated with new times; each flow's start and
end move with its record (``bench.evefile.live_like``), as on a live link.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.evefile import eve_file, live_like  # noqa: E402

_BASELINE_SCHEMA = """
CREATE TABLE events (ts TEXT, event_type TEXT, src_ip TEXT, dest_ip TEXT, src_port INTEGER,
  dest_port INTEGER, flow_id INTEGER, community_id TEXT, sid INTEGER, severity INTEGER,
  raw TEXT);
CREATE INDEX e_ts ON events(ts);
CREATE INDEX e_src ON events(src_ip);
CREATE INDEX e_dest ON events(dest_ip);
CREATE INDEX e_sid ON events(sid);
"""


def run_baseline(path: Path, db: Path) -> tuple[float, int]:
    """The naive way; returns (seconds, events)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_BASELINE_SCHEMA)
    start = time.perf_counter()
    batch: list[tuple] = []
    n = 0
    sql = "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            e = json.loads(line)
            alert = e.get("alert") or {}
            batch.append((e["timestamp"], e["event_type"], e.get("src_ip"), e.get("dest_ip"),
                          e.get("src_port"), e.get("dest_port"), e.get("flow_id"),
                          e.get("community_id"), alert.get("signature_id"),
                          alert.get("severity"), line))  # fmt: skip
            if len(batch) == 1000:
                conn.executemany(sql, batch)
                conn.commit()
                n += len(batch)
                batch.clear()
    conn.executemany(sql, batch)
    conn.commit()
    n += len(batch)
    elapsed = time.perf_counter() - start
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return elapsed, n


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the helpers)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_spanwatch(
    path: Path, data_dir: Path, with_analyzers: bool = False, rollups: bool = True,
    one_core: bool = False,
) -> tuple[float, float, int]:
    """The ingest path as ``spanwatch ingest`` runs it: the EVE reader and store writer,
    with the traffic rollups following the store in a process of their own (on an
    appliance, ``spanwatch core`` does that); returns (seconds until the rollups too are up
    to date, CPU seconds of the ingest and its helper processes, events stored). With
    ``rollups`` false, no follower runs (as a center's ingest API: its core follows). With
    ``one_core``, the process (and so the writer's thread, started after) runs on one CPU."""
    from appliance.config import load_config
    from appliance.store import open_store
    from sensors.analyzer_pipe import close_analyzers, runner_analyzers
    from sensors.analyzers import AnalyzerSet
    from sensors.deadletter import DeadLetterFile
    from sensors.overlap import StoreFollower
    from sensors.runner import EveRunner
    from sensors.ship import store_writer

    cfg = load_config(None, overrides={"data_dir": str(data_dir)}, environ={})
    cpus = os.sched_getaffinity(0)
    if one_core:
        os.sched_setaffinity(0, {min(cpus)})
    # As the sensor runs them: in processes of their own (forked before the store opens).
    follower = StoreFollower(cfg, inventory=False, nice=False) if rollups else None
    analyzers = runner_analyzers(cfg) if with_analyzers else AnalyzerSet([])
    store = open_store(cfg.store_path)
    sink = store_writer(cfg.store_path, "bench")
    runner = EveRunner(
        path, store=store, sink=sink, analyzers=analyzers,
        dead_letters=DeadLetterFile(data_dir / "dead.jsonl"), cfg=cfg.ingest,
        stop=threading.Event(),
    )  # fmt: skip
    start, cpu = time.perf_counter(), _cpu_seconds()
    if follower is not None:
        follower.start()
    stats = runner.run()
    sink.close()
    if follower is not None:
        follower.finish()
    close_analyzers(analyzers)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    os.sched_setaffinity(0, cpus)
    store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    store.close()
    return elapsed, cpu, stats.stored


def disk_bytes(path: Path) -> int:
    """Size of a SQLite database with its WAL and shared memory files."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> int:
    from appliance.cli import tune_interpreter

    # As every spanwatch command runs (appliance.cli); the baseline gets it too.
    tune_interpreter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--as-repeated", action="store_true",
                        help="the repeated captures' EVE as is: every flow started "
                        "years before its record (the input of earlier figures)")  # fmt: skip
    args = parser.parse_args()
    # Flows start and end when they are logged (as on a live link), not years before their
    # record as the repeated captures left them (which sent every flow down the rollups'
    # late path).
    path = eve_file(args.lines) if args.as_repeated else live_like(eve_file(args.lines))
    size = path.stat().st_size
    print(f"Input: {path} ({args.lines:,} lines, {size / args.lines:.0f} bytes per line)")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        base_db = Path(tmp) / "baseline.db"
        b_secs, b_n = run_baseline(path, base_db)
        b_bytes = disk_bytes(base_db) / b_n
        base_db.unlink()
        r_secs, r_cpu, r_n = run_spanwatch(path, Path(tmp) / "sw-store", rollups=False)
        r_bytes = disk_bytes(Path(tmp) / "sw-store" / "spanwatch.db") / r_n
        o_secs, o_cpu, o_n = run_spanwatch(path, Path(tmp) / "sw-one", rollups=False,
                                           one_core=True)  # fmt: skip
        s_secs, s_cpu, s_n = run_spanwatch(path, Path(tmp) / "sw")
        a_secs, a_cpu, a_n = run_spanwatch(path, Path(tmp) / "sw-analyzers", with_analyzers=True)
    b_rate, r_rate = b_n / b_secs, r_n / r_secs
    s_rate, a_rate = s_n / s_secs, a_n / a_secs
    print(f"baseline  (json.loads + executemany, 4 indexes):   {b_rate:10,.0f} events/s "
          f"{b_bytes:6.0f} bytes/event")
    print(f"spanwatch (reader, bookmarks, store writer):        {r_rate:10,.0f} events/s "
          f"{r_bytes:6.0f} bytes/event  ({r_cpu / r_secs:.2f} cores busy; "
          f"{r_rate / b_rate:.1f}x)")
    print(f"  ... the same on one core (pinned to one CPU):     {o_n / o_secs:10,.0f} events/s "
          f"({o_cpu / o_secs:.2f} cores busy; {o_n / o_secs / b_rate:.1f}x)")
    print(f"  ... until the traffic rollups are up to date too: {s_rate:10,.0f} events/s "
          f"({s_cpu / s_secs:.2f} cores busy)")
    print(f"spanwatch with every analyzer on:                   {a_rate:10,.0f} events/s "
          f"({a_rate / s_rate:.0%} of the rate without; target >= 70%)")
    print(f"speed-up: {r_rate / b_rate:.1f}x, {s_rate / b_rate:.1f}x with the rollups (target "
          f">= 3x); rate target >= 100,000 events/s; size target <= 300 bytes/event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
