"""Turns at the store's write lock, fair between processes.

SQLite lets one writer at a time into a database. A writer that finds it locked sleeps
and retries (its busy handler), up to 100 ms a sleep. The ingest commits one batch and
begins the next within microseconds, so on a busy link it takes the lock back before a
sleeping waiter wakes: the traffic rollups, retention and the other writers of
``spanwatch core`` could wait seconds for their turn, and time out.

So waiting is announced. :func:`begin_immediate` tries at once; if the store is locked,
it takes a shared ``flock`` on a file beside the store (``<store>.turn``) and retries
every few milliseconds until it has the lock, then lets the file go. After each commit,
the ingest calls :func:`give_turn`: if anyone holds the file, it waits until they let it
go (one of them has the lock), at most ``YIELD_MAX_S``, before it begins again. A process that dies
while it waits drops its ``flock`` with it, so nothing stays announced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: A waiting writer lets SQLite retry for it (1, 2, 2 ms apart: its busy handler sleeps
#: without the interpreter lock, so ten waiting threads of a center cost next to nothing)
#: and checks its deadline every ``POLL_MAX_S``; a committer waits ``POLL_S`` between looks.
POLL_S, POLL_MAX_S = 0.001, 0.005
#: How long a committing writer waits for the waiters: they retry within ``POLL_MAX_S`` of
#: its commit, so this hands the lock over. Waiting until every waiter had its turn would
#: hold each committer back for the transactions of all the others (ten sensors posting
#: to a center: seconds of lag).
YIELD_MAX_S = 0.02
#: How long a writer waits for the lock before it fails (the connections' busy timeout).
TIMEOUT_S = 10.0


class _TurnFile:
    """An open turn file, closed when its thread ends (its thread-local goes)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


_local = threading.local()


def _turn_fd(path: str) -> int | None:
    """This thread's descriptor of the turn file of the store at ``path`` (None if it
    cannot be opened: then turns are not announced, and writers only retry).

    A ``flock`` belongs to an open file, not to a thread or a process: each thread (and a
    forked child) opens its own, so that writers of one process (``spanwatch core``: the
    rollups beside a center's ingest) take turns as writers of different processes do.
    """
    files: dict[str, _TurnFile | None] | None = getattr(_local, "files", None)
    if files is None or _local.pid != os.getpid():
        files = _local.files = {}
        _local.pid = os.getpid()
    if path not in files:
        try:
            files[path] = _TurnFile(os.open(f"{path}.turn",
                                            os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660))
        except OSError:
            files[path] = None
    found = files[path]
    return found.fd if found is not None else None


def _is_busy(err: sqlite3.OperationalError) -> bool:
    return getattr(err, "sqlite_errorname", "").startswith("SQLITE_BUSY")


def _try_begin(conn: sqlite3.Connection, wait_ms: int = 0) -> bool:
    """``BEGIN IMMEDIATE``, retried by SQLite for up to ``wait_ms`` (its busy handler sleeps
    1, then 2 ms... without holding the interpreter lock); False if still locked."""
    conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as err:
        if not _is_busy(err):
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(TIMEOUT_S * 1000)}")


def begin_immediate(conn: sqlite3.Connection, path: Path | str | None = None,
                    timeout_s: float = TIMEOUT_S) -> None:  # fmt: skip
    """``BEGIN IMMEDIATE`` on ``conn`` (a connection to the store at ``path``; found from
    the connection if not given), announcing the wait if the lock is taken.

    Raises ``sqlite3.OperationalError`` ("database is locked") after ``timeout_s``.
    """
    if _try_begin(conn):
        return
    if path is None:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
    fd = _turn_fd(str(path)) if path else None
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        deadline = time.monotonic() + timeout_s
        while not _try_begin(conn, int(POLL_MAX_S * 1000)):
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked")
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


def give_turn(path: Path | str) -> bool:
    """After a commit: if other writers announced a wait, wait until they have the lock
    (at most ``YIELD_MAX_S``). Returns whether anyone was waiting."""
    fd = _turn_fd(str(path))
    if fd is None:
        return False
    waited = False
    deadline = time.monotonic() + YIELD_MAX_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            if time.monotonic() > deadline:
                return waited
            time.sleep(POLL_S)
            continue
        fcntl.flock(fd, fcntl.LOCK_UN)
        return waited


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """:func:`begin_immediate` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""
    begin_immediate(conn)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
