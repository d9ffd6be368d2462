"""The state database: migrated on open, transactions that commit or roll back whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.state import open_state
from appliance.store.migrate import available_migrations


def test_opening_applies_every_shipped_state_migration(tmp_path: Path) -> None:
    db = open_state(tmp_path / "state.db")
    recorded = [tuple(r) for r in db.query("SELECT version, name FROM schema_migrations")]
    assert recorded == [(v, n) for v, n, _ in available_migrations("appliance.state")]
    db.close()


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db = open_state(tmp_path / "state.db")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('a', '1', 0)")
        raise RuntimeError("boom")
    with db.transaction() as conn:
        conn.execute("INSERT INTO kv VALUES ('b', '2', 0)")
    assert [r["key"] for r in db.query("SELECT key FROM kv")] == ["b"]
    db.close()


def test_a_state_database_from_a_newer_spanwatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_state(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)")
    with pytest.raises(StoreError, match="state database has schema version 9999"):
        open_state(path)


def test_read_only_open_of_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="No state database"):
        open_state(tmp_path / "missing.db", readonly=True)
