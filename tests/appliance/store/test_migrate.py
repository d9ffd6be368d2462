"""Numbered SQL migrations: naming, numbering, order, and what a failed one leaves behind."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.store import migrate as migrate_module
from appliance.store.migrate import available_migrations, migrate

FOLDER = Path(str(resources.files("appliance.store") / "migrations"))
#: SHA-256 of every migration as shipped. Stores already created by a migration never
#: run it again, so editing it would leave them without the change: add a new file.
SHIPPED = {
    "0001_initial.sql": "186a173c5e59aa78a4d3dc0d060bb2aed24e78955d00e0c3d13e50cbeca8a519",
    "0002_traffic_rollups.sql": "e0e6dde57fc2b448910978931f3158783f10a1ed9e6ae305c5e05c094be2b9a4",
    "0003_lean_indexes.sql": "256e2dd9ae646b9c522f705f11f3959c98ca6e4f68c964830d3b24cdd8d1065b",
    "0004_traffic_late.sql": "7993e2de8102f8a08d4dbe8bd8721e4736e68f6d2f308624278c63301d73d4c3",
    "0005_chunk_cursors.sql": "e1cc9980767b7fcd79c15c3a54208d49fb2517021112cbb9b4a16def95dad348",
    "0006_bookmark_tail.sql": "e6ff047783d62be3a1a6776f5a660be04f8cd7782cbc07de21f41c87fa462168",
}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    yield connection
    connection.close()


def _recorded(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    return conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()


def test_every_sql_file_is_a_numbered_migration() -> None:
    files = sorted(p.name for p in FOLDER.iterdir() if p.is_file() and p.suffix == ".sql")
    assert files, f"no migrations in {FOLDER}"
    # A misnamed file would be skipped silently: its schema would never be created.
    misnamed = [name for name in files if not re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", name)]
    assert misnamed == []
    assert [name for _, name, _ in available_migrations()] == files


@pytest.mark.parametrize("package", ["appliance.store", "appliance.state"])
def test_numbers_start_at_one_and_are_unique(package: str) -> None:
    # Areas reserve numbers ahead, so a gap may exist for a while; a missing lower number
    # is applied when it ships (test_a_missing_lower_migration_is_applied_when_it_ships).
    versions = [version for version, _, _ in available_migrations(package)]
    assert versions[0] == 1
    assert len(set(versions)) == len(versions)


def test_migrations_are_offered_in_numeric_order_with_their_sql() -> None:
    shipped = available_migrations()
    assert shipped == sorted(shipped)
    for version, name, sql in shipped:
        assert int(name[:4]) == version
        assert sql == (FOLDER / name).read_text(encoding="utf-8")


def test_shipped_migrations_are_never_edited() -> None:
    current = {
        name: hashlib.sha256((FOLDER / name).read_bytes()).hexdigest()
        for name in SHIPPED
        if (FOLDER / name).is_file()
    }
    edited = sorted(name for name, digest in SHIPPED.items() if current.get(name) != digest)
    assert edited == [], (
        f"{edited} changed or vanished after being shipped; existing stores will not see the "
        "change. Restore the file and put the change in a new numbered migration (then add "
        "the new file's hash to SHIPPED)."
    )


def test_migrate_applies_all_in_order_and_records_them(conn: sqlite3.Connection) -> None:
    shipped = available_migrations()
    assert migrate(conn) == shipped[-1][0]
    assert _recorded(conn) == [(version, name) for version, name, _ in shipped]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"events", "chunks", "chunk_hosts", "sources", "bookmarks"} <= tables


def test_second_migrate_changes_nothing(conn: sqlite3.Connection) -> None:
    migrate(conn)
    schema = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    recorded = conn.execute("SELECT * FROM schema_migrations").fetchall()
    assert migrate(conn) == available_migrations()[-1][0]
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert conn.execute("SELECT * FROM schema_migrations").fetchall() == recorded


# The shipped set has one migration today. The upgrade path (an old store, newer
# migrations) is exercised with a sequence in which each step needs the one before.
UPGRADES = [
    (1, "0001_hosts.sql", "CREATE TABLE hosts (ip BLOB PRIMARY KEY);"),
    (2, "0002_host_names.sql", "-- names from DNS\nALTER TABLE hosts ADD COLUMN name TEXT;"),
    (3, "0003_host_index.sql", "CREATE INDEX hosts_name ON hosts(name);\n"
                               "INSERT INTO hosts VALUES (x'c0000201', 'www.example.com');"),
]  # fmt: skip


def test_an_old_store_gets_only_the_newer_migrations_in_order(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate_module, "available_migrations", lambda _package="": UPGRADES[:1])
    assert migrate(conn) == 1
    conn.execute("INSERT INTO hosts VALUES (x'c6336401')")
    monkeypatch.setattr(migrate_module, "available_migrations", lambda _package="": UPGRADES)
    assert migrate(conn) == 3
    assert _recorded(conn) == [(v, n) for v, n, _ in UPGRADES]
    rows = conn.execute("SELECT hex(ip), name FROM hosts ORDER BY ip").fetchall()
    assert rows == [("C0000201", "www.example.com"), ("C6336401", None)]


def test_a_missing_lower_migration_is_applied_when_it_ships(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Version 2 was reserved by one area while another shipped version 3 first.
    shipped = [UPGRADES[0], (2, "0002_ports.sql", "CREATE TABLE ports (port INTEGER);"),
               (3, "0003_names.sql", "CREATE TABLE names (name TEXT);")]  # fmt: skip
    monkeypatch.setattr(migrate_module, "available_migrations",
                        lambda _package="": [shipped[0], shipped[2]])  # fmt: skip
    assert migrate(conn) == 3
    monkeypatch.setattr(migrate_module, "available_migrations", lambda _package="": shipped)
    assert migrate(conn) == 3
    assert _recorded(conn) == [(v, n) for v, n, _ in shipped]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"hosts", "ports", "names"} <= tables


def test_a_failing_migration_leaves_the_store_at_the_previous_version(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "CREATE TABLE half_done (x INTEGER);\nALTER TABLE nowhere ADD COLUMN y;"
    broken = [*UPGRADES[:2], (3, "0003_broken.sql", sql)]
    monkeypatch.setattr(migrate_module, "available_migrations", lambda _package="": broken)
    with pytest.raises(StoreError) as info:
        migrate(conn)
    assert str(info.value).startswith("Migration 0003_broken.sql failed: ")
    assert "nowhere" in str(info.value)
    assert _recorded(conn) == [(1, "0001_hosts.sql"), (2, "0002_host_names.sql")]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables
    assert not conn.in_transaction


def test_a_store_newer_than_the_code_is_refused(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate_module, "available_migrations", lambda _package="": UPGRADES)
    migrate(conn)
    monkeypatch.setattr(migrate_module, "available_migrations", lambda _package="": UPGRADES[:2])
    with pytest.raises(StoreError) as info:
        migrate(conn)
    assert "schema version 3, newer than this spanwatch knows (2)" in str(info.value)
