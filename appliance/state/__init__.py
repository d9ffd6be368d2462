"""The state database: what people and the core change, beside the event store.

Events are append-only and bulky (the event store, ``spanwatch.db``); incidents, assets,
risk, users, the audit log, jobs, reports and enrolled sensors are small and edited
(``state.db``). Keeping them apart means the sensor's writer and a triage click never
wait on each other, and event retention never touches what an analyst wrote.

Each area owns its tables through numbered migrations in ``appliance/state/migrations``;
:class:`StateDB` is the one way to reach them, so no SQL lives outside ``appliance``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from appliance.errors import StoreError
from appliance.store.connection import connect, opening_lock, write_error
from appliance.store.migrate import migrate


class StateDB:
    """A connection to the state database, migrated on open, safe to share across threads.

    Reads may run at any time; writes go through :meth:`transaction`, which serializes
    this process's writers and turns a failed write into a :class:`StoreError` that names
    the file and what to check.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise StoreError(f"No state database at {self.path}.")
            with opening_lock(self.path, shared=True):
                self.conn = connect(self.path, readonly=True)
        else:
            with opening_lock(self.path):
                self.conn = connect(self.path)
                migrate(self.conn, "appliance.state", "state database")
        self.conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on any exception)."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreError(write_error(self.path, err)) from err
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise StoreError(write_error(self.path, err)) from err

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """All rows of one read query."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def open_state(path: Path, *, readonly: bool = False) -> StateDB:
    """Open (creating and migrating if needed) the state database at ``path``."""
    return StateDB(path, readonly=readonly)
