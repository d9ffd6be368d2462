"""The rollups follow the store by cursor: every stored flow counted once, whoever follows."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.events import decode_line
from appliance.store import open_store
from appliance.traffic.follow import RollupFollower, catch_up, read_cursor
from appliance.traffic.service import TrafficService
from appliance.traffic.settings import DAY, MINUTE
from tests.appliance.traffic.test_rollup import T0, _all_time, _flow_line


def _flows(source: int, n: int, first: int = 0) -> list[Any]:
    return [decode_line(_flow_line(i, T0 + i * MINUTE, T0 + i * MINUTE + 5),
                        (source << 40) | i) for i in range(first, first + n)]  # fmt: skip


def test_the_ingest_only_stores_and_the_follower_counts_each_flow_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        source = store.source_id(b"eve", "eve.json")
        store.add_events(_flows(source, 30), "s1")
        assert _all_time(TrafficService(store))["flows"] == 0  # not counted by the ingest
        assert catch_up(store).lines == 30
        store.add_events(_flows(source, 30), "s1")  # the same lines read again after a crash
        store.add_events(_flows(source, 10, first=30), "s1")
        assert catch_up(store).lines == 10
        assert catch_up(store).lines == 0
        assert _all_time(TrafficService(store)) == {"bytes": 40 * 610_000, "packets": 40 * 300,
                                                    "flows": 40}  # fmt: skip
    finally:
        store.close()


def test_followers_at_once_count_each_chunk_once(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    writer = open_store(db)
    source = writer.source_id(b"eve", "eve.json")
    stop = threading.Event()
    errors: list[BaseException] = []

    def follow() -> None:
        store = open_store(db)
        follower = RollupFollower(store)
        try:
            while not stop.is_set():
                follower.run_once()
            follower.run_once()
        except BaseException as err:
            errors.append(err)
        finally:
            store.close()

    threads = [threading.Thread(target=follow) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for batch in range(60):  # one chunk per batch
            writer.add_events(_flows(source, 5, first=batch * 5), "s1")
    finally:
        stop.set()
        for t in threads:
            t.join()
    try:
        assert errors == []
        conn = writer.connection  # type: ignore[attr-defined]
        assert read_cursor(conn) == conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
        assert _all_time(TrafficService(writer))["flows"] == 300
    finally:
        writer.close()


def test_flows_deleted_while_a_follower_read_them_are_not_counted(tmp_path: Path) -> None:
    """A failed analysis is deleted between a follower's read and its write (a race no
    test can time, so the read is made to wait for the deletion)."""
    db = tmp_path / "s.db"
    store, other = open_store(db), open_store(db)
    try:
        failed = store.source_id(b"capture-one", "one.pcap")
        kept = store.source_id(b"capture-two", "two.pcap")
        store.add_events(_flows(kept, 3), "s1")
        store.add_events(_flows(failed, 20, first=3), "s1")
        follower = RollupFollower(store)
        read = store.lines_after_chunk  # type: ignore[attr-defined]
        deleted: list[int] = []

        def read_then_delete(*args: Any, **kwargs: Any) -> Any:
            out = read(*args, **kwargs)
            if not deleted:
                deleted.append(other.delete_sources([failed]))
            return out

        store.lines_after_chunk = read_then_delete  # type: ignore[attr-defined]
        follower.run_once()
        assert deleted == [20]
        assert _all_time(TrafficService(store))["flows"] == 3
    finally:
        store.close()
        other.close()


def test_deleting_counted_flows_takes_them_out_and_new_chunks_are_still_counted(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    try:
        kept = store.source_id(b"capture-one", "one.pcap")
        failed = store.source_id(b"capture-two", "two.pcap")
        store.add_events(_flows(kept, 5), "s1")
        store.add_events(_flows(failed, 7, first=5), "s1")
        catch_up(store)
        newest = conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
        assert store.delete_sources([failed]) == 7  # the newest chunk goes
        assert _all_time(TrafficService(store))["flows"] == 5
        # Chunk ids never go back, so the cursor (at the deleted chunk) is not ahead of them.
        later = store.source_id(b"capture-three", "three.pcap")
        store.add_events(_flows(later, 4, first=20), "s1")
        assert conn.execute("SELECT max(id) FROM chunks").fetchone()[0] > newest
        catch_up(store)
        assert _all_time(TrafficService(store))["flows"] == 9
    finally:
        store.close()


def test_after_every_chunk_expired_new_chunks_are_still_counted(tmp_path: Path) -> None:
    from appliance.config import RetentionBudget, RetentionConfig

    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    try:
        source = store.source_id(b"eve", "eve.json")
        store.add_events(_flows(source, 5), "s1")
        catch_up(store)
        budget = RetentionBudget(max_days=1, max_mb=100)
        later = time.time_ns() // 1000 + 30 * DAY  # a month without traffic
        store.apply_retention(RetentionConfig(alerts=budget, metadata=budget), now_us=later)
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
        store.add_events(_flows(source, 3, first=100), "s1")
        assert catch_up(store).lines == 3
        assert _all_time(TrafficService(store))["flows"] == 8
    finally:
        store.close()


def test_a_store_rolled_up_at_ingest_before_this_version_is_not_counted_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    store = open_store(db)
    source = store.source_id(b"eve", "eve.json")
    store.add_events(_flows(source, 6), "s1")
    store.close()
    # The store as the previous version left it: its rollups made in the ingest's
    # transaction (here: by one catch-up), no cursors table.
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        store = open_store(db)
        catch_up(store)
        store.close()
        conn.execute("DROP TABLE cursors")
        conn.execute("DELETE FROM schema_migrations WHERE version = 5")
    finally:
        conn.close()
    store = open_store(db)  # migrates
    try:
        assert catch_up(store).lines == 0
        assert _all_time(TrafficService(store))["flows"] == 6
        store.add_events(_flows(source, 2, first=6), "s1")
        assert catch_up(store).lines == 2
    finally:
        store.close()


def test_core_keeps_the_rollups_up_to_date(tmp_path: Path) -> None:
    from appliance.traffic.follow import StoreRollups

    store = open_store(tmp_path / "s.db")
    try:
        source = store.source_id(b"eve", "eve.json")
        store.add_events(_flows(source, 4), "s1")
        rollups = StoreRollups(tmp_path / "s.db")  # what spanwatch-core runs every 2 s
        assert rollups.run_once().lines == 4
        store.add_events(_flows(source, 2, first=4), "s1")
        assert rollups.run_once().lines == 2
        assert _all_time(TrafficService(store))["flows"] == 6
    finally:
        store.close()


_FOLLOW_SLOWLY = """
import sys
import appliance.traffic.follow as follow
from appliance.store import open_store
follow.ROUND_CHUNKS = 1  # one transaction per chunk: many points to be killed at
from appliance.traffic.geo import shared_database
shared_database().lookup("192.0.2.1")  # the country tables load before, not during, the work
store = open_store(sys.argv[1])
print("ready", flush=True)
follow.catch_up(store)
"""


def test_a_follower_killed_at_any_point_leaves_nothing_counted_twice(tmp_path: Path) -> None:
    import random
    import signal
    import subprocess
    import sys

    db = tmp_path / "s.db"
    store = open_store(db)
    conn = store.connection  # type: ignore[attr-defined]
    try:
        source = store.source_id(b"eve", "eve.json")
        for batch in range(120):  # a chunk each
            store.add_events(_flows(source, 50, first=batch * 50), "s1")
        last = conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
        rng = random.Random(7)
        cursors = []
        for _ in range(4):
            proc = subprocess.Popen([sys.executable, "-c", _FOLLOW_SLOWLY, str(db)],
                                    stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
            before, deadline = read_cursor(conn), time.monotonic() + 30
            while read_cursor(conn) == before and proc.poll() is None:  # once it has begun
                assert time.monotonic() < deadline, "the follower made no progress"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.02))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            cursors.append(read_cursor(conn))
        assert any(0 < c < last for c in cursors), f"no kill fell mid-way: {cursors}"
        catch_up(store)
        assert read_cursor(conn) == last
        assert _all_time(TrafficService(store)) == {"bytes": 6000 * 610_000,
                                                    "packets": 6000 * 300, "flows": 6000}
    finally:
        store.close()


def test_chunks_that_cannot_be_summed_are_logged_and_do_not_stall_the_rollups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from appliance.traffic import follow

    store = open_store(tmp_path / "s.db")
    try:
        source = store.source_id(b"eve", "eve.json")
        store.add_events(_flows(source, 3), "s1")

        def broken(heads: Any) -> Any:
            raise TypeError("a record no test foresaw")

        monkeypatch.setattr(follow, "compound", broken)  # a fault no capture produces
        assert catch_up(store).cursor == 1
        assert "chunks 1-1 could not be summed" in caplog.text
        monkeypatch.undo()
        store.add_events(_flows(source, 2, first=3), "s1")
        catch_up(store)
        assert _all_time(TrafficService(store))["flows"] == 2  # the next chunks count
    finally:
        store.close()
