"""Numbered SQL migrations, applied at open and recorded in the database."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from importlib import resources

from appliance.errors import StoreError

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available_migrations(package: str = "appliance.store") -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped in ``package``/migrations."""
    folder = resources.files(package) / "migrations"
    out = []
    for entry in folder.iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            out.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(
    conn: sqlite3.Connection, package: str = "appliance.store", what: str = "store"
) -> int:
    """Apply the migrations of ``package`` not yet recorded; return the schema version.

    Versions are applied in order, and one that is missing in the middle (shipped later
    than a higher number) is applied when it appears.
    """
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    except sqlite3.Error as err:  # (a full disk, a file that is not a database)
        raise StoreError(f"Cannot prepare the {what}: {err}") from err
    shipped = available_migrations(package)
    known = {version for version, _, _ in shipped}
    newer = done - known
    if newer:
        raise StoreError(
            f"The {what} has schema version {max(newer)}, newer than this spanwatch knows "
            f"({max(known, default=0)}); upgrade spanwatch."
        )
    version = max(done, default=0)
    for number, name, sql in shipped:
        if number in done:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Another process or thread opening the same new store may have applied it
            # while we waited for the write lock.
            if conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (number,)
            ).fetchone():
                conn.execute("COMMIT")
                version = max(version, number)
                continue
            logger.info("Applying store migration %s.", name)
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)", (number, name, int(time.time()))
            )
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"Migration {name} failed: {err}") from err
        version = max(version, number)
    return version


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (our migrations have no triggers)."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [part.strip() for part in body.split(";") if part.strip()]
