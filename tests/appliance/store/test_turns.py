"""Turns at the store's write lock between real processes on a real SQLite file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.events import decode_line
from appliance.store import open_store
from appliance.store.connection import connect
from appliance.store.turns import YIELD_MAX_S, begin_immediate, give_turn
from tests.appliance.store.test_sqlite import _eve

# A writer that commits and begins again at once, as the ingest does on a busy link:
# each transaction holds the lock 80 ms; between two, only microseconds pass.
_GREEDY = """
import sys, time
from pathlib import Path
from appliance.store.connection import connect
from appliance.store.turns import YIELD_MAX_S, begin_immediate, give_turn
db, stop = Path(sys.argv[1]), Path(sys.argv[2])
conn = connect(db)
conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
print("ready", flush=True)
while not stop.exists():
    begin_immediate(conn, db)
    conn.execute("INSERT INTO t VALUES (1)")
    time.sleep(0.08)
    conn.execute("COMMIT")
    give_turn(db)
"""

# Holds the write lock (``hold`` seconds) or waits for it, announced (``wait``).
_ONE_WRITE = """
import sys, time
from pathlib import Path
from appliance.store.connection import connect
from appliance.store.turns import begin_immediate
db = Path(sys.argv[1])
conn = connect(db)
if sys.argv[2] == "hold":
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
    conn.execute("COMMIT")
else:
    print("waiting", flush=True)
    begin_immediate(conn, db)
    conn.execute("COMMIT")
"""


@contextlib.contextmanager
def _spawn(script: str, *args: object) -> Iterator[subprocess.Popen[str]]:
    """A Python process running ``script``; killed if still running at the end."""
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def _announced(db: Path) -> bool:
    """Whether a writer holds the turn file (waits for the lock)."""
    fd = os.open(f"{db}.turn", os.O_RDWR | os.O_CREAT, 0o660)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _turns(conn: sqlite3.Connection, db: Path, n: int = 4) -> list[float]:
    """How long each of ``n`` writes of ``conn`` waited for the lock (a greedy writer runs)."""
    time.sleep(0.2)
    waits = []
    for _ in range(n):
        start = time.monotonic()
        begin_immediate(conn, db)
        waits.append(time.monotonic() - start)
        conn.execute("COMMIT")
        time.sleep(0.1)
    return waits


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "spanwatch.db"
    connect(path).close()
    yield path


def test_a_writer_gets_its_turn_while_another_process_commits_back_to_back(
    db: Path, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    conn = connect(db)
    with _spawn(_GREEDY, db, stop) as greedy:
        assert greedy.stdout is not None and greedy.stdout.readline() == "ready\n"
        waits = _turns(conn, db)
        still_writing = greedy.poll() is None
        stop.touch()
        greedy.wait(10)
    conn.close()
    # Without turns, the waiter rarely finds the lock free between two batches: seconds.
    assert max(waits) < 0.5, waits
    assert still_writing, "the other writer had stopped: the test proved nothing"
    assert greedy.returncode == 0
    assert not _announced(db)


def test_writers_of_one_process_take_turns_too(db: Path) -> None:
    """As in ``spanwatch core``: the rollups' thread beside a center's ingest threads."""
    import threading

    stop = threading.Event()
    errors: list[BaseException] = []

    def greedy() -> None:
        conn = connect(db)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
            while not stop.is_set():
                begin_immediate(conn, db)
                conn.execute("INSERT INTO t VALUES (1)")
                time.sleep(0.08)
                conn.execute("COMMIT")
                give_turn(db)
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            conn.close()

    writer = threading.Thread(target=greedy)
    writer.start()
    conn = connect(db)
    try:
        waits = _turns(conn, db)
        still_writing = writer.is_alive()
    finally:
        stop.set()
        writer.join(10)
        conn.close()
    assert not errors
    assert max(waits) < 0.5, waits
    assert still_writing


def test_the_ingest_waits_after_a_batch_for_a_writer_that_announced_itself(db: Path) -> None:
    store = open_store(db)
    announce = ("import fcntl, os, sys, time\n"
                "fd = os.open(sys.argv[1] + '.turn', os.O_RDWR | os.O_CREAT)\n"
                "fcntl.flock(fd, fcntl.LOCK_SH)\n"
                "print('announced', flush=True)\n"
                "time.sleep(0.4)\n")  # fmt: skip
    try:
        with _spawn(announce, db) as announcer:
            assert announcer.stdout is not None
            assert announcer.stdout.readline() == "announced\n"
            source = store.source_id(b"eve", "eve.json")
            record = decode_line(_eve("dns", 1_714_564_800_000_000, "10.0.0.1", "10.0.0.53"),
                                 source << 40)  # fmt: skip
            start = time.monotonic()
            stored = store.add_events([record], "s1")
            took = time.monotonic() - start
    finally:
        store.close()
    assert stored == 1
    # It gave its turn, for a bounded time (the announcer never takes the lock here).
    assert YIELD_MAX_S * 0.9 < took < YIELD_MAX_S + 1.0


def test_a_writer_that_never_gets_the_lock_fails_clearly_and_withdraws(db: Path) -> None:
    conn = connect(db)
    try:
        with _spawn(_ONE_WRITE, db, "hold", 3) as holder:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            start = time.monotonic()
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                begin_immediate(conn, db, timeout_s=0.3)
            assert time.monotonic() - start < 2.0
            assert not conn.in_transaction
            assert not _announced(db)
            assert not give_turn(db)  # nobody waits: the ingest goes on at once
    finally:
        conn.close()


def test_a_waiting_writer_killed_leaves_nothing_announced(db: Path) -> None:
    conn = connect(db)
    conn.execute("BEGIN IMMEDIATE")
    try:
        with _spawn(_ONE_WRITE, db, "wait") as waiter:
            assert waiter.stdout is not None and waiter.stdout.readline() == "waiting\n"
            deadline = time.monotonic() + 10
            while not _announced(db):
                assert time.monotonic() < deadline, "the waiter never announced itself"
                time.sleep(0.01)
            waiter.send_signal(signal.SIGKILL)
            waiter.wait(10)
            assert not _announced(db)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    start = time.monotonic()
    assert not give_turn(db)
    assert time.monotonic() - start < 0.1
