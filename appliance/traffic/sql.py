"""The rollup tables' columns and the upserts that add to them."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

#: Rollup tables with summed columns: table -> (key columns, summed columns).
SUM_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "traffic_iface": (("sensor", "iface"), ("bytes", "pkts", "flows")),
    "traffic_app": (("app",), ("bytes", "pkts", "flows")),
    "traffic_service": (("proto", "port"), ("bytes", "pkts", "flows")),
    "traffic_host": (("ip",), ("bytes_out", "bytes_in", "pkts_out", "pkts_in", "flows_out",
                              "flows_in")),
    "traffic_conv": (("src", "dest"), ("bytes", "pkts", "flows")),
    "traffic_country": (("cc",), ("bytes", "pkts", "flows")),
    "traffic_asn": (("asn",), ("bytes", "pkts", "flows")),
}  # fmt: skip
#: Every table folded into hours and days, the capture-health table included.
FOLDED_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    **SUM_TABLES,
    "traffic_capture": (("sensor", "iface"), ("packets", "drops")),
}
#: Rows per statement (SQLite binds at most 32,766 parameters).
_ROWS_PER_STATEMENT = 500
#: Tables whose keys hold packed addresses: bound as bytearrays, since the sqlite3 module
#: looks up an adapter for every bytes parameter (about 1 µs each; see store/rows.py).
_ADDRESS_TABLES = frozenset({"traffic_host", "traffic_conv"})


def _upsert_sql(table: str, rows: int) -> str:
    keys, sums = FOLDED_TABLES[table]
    width = 2 + len(keys) + len(sums)
    one = "(" + ",".join("?" * width) + ")"
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in sums)
    target = ", ".join(("res", "bucket", *keys))
    return (f"INSERT INTO {table} VALUES {','.join([one] * rows)} "
            f"ON CONFLICT({target}) DO UPDATE SET {updates}")  # fmt: skip


def _late_sql(table: str, rows: int) -> str:
    keys, sums = FOLDED_TABLES[table]
    one = "(" + ",".join("?" * (1 + len(keys) + len(sums))) + ")"
    return f"INSERT INTO {table}_late VALUES {','.join([one] * rows)}"


_SQL_CACHE: dict[tuple[str, int, bool], str] = {}


def _upsert(conn: sqlite3.Connection, table: str, res: int | None,
            rows: Mapping[tuple[Any, ...], list[int]]) -> None:  # fmt: skip
    """Add ``rows`` at resolution ``res``, or append them to the late table (``res`` None)."""
    flat: list[Any] = []
    count = 0
    late = res is None
    addresses = table in _ADDRESS_TABLES
    for key, sums in rows.items():
        if not late:
            flat.append(res)
        if addresses:
            flat.extend([bytearray(v) if type(v) is bytes else v for v in key])
        else:
            flat.extend(key)
        flat.extend(sums)
        count += 1
        if count == _ROWS_PER_STATEMENT:
            _run(conn, table, count, flat, late)
            flat, count = [], 0
    if count:
        _run(conn, table, count, flat, late)


def _run(conn: sqlite3.Connection, table: str, count: int, flat: list[Any], late: bool) -> None:
    sql = _SQL_CACHE.get((table, count, late))
    if sql is None:
        sql = _late_sql(table, count) if late else _upsert_sql(table, count)
        _SQL_CACHE[(table, count, late)] = sql
        if len(_SQL_CACHE) > 2000:
            _SQL_CACHE.clear()
    conn.execute(sql, flat)


def upsert_sums(conn: sqlite3.Connection, table: str, res: int,
                rows: Mapping[tuple[Any, ...], list[int]]) -> None:  # fmt: skip
    """Add ``rows`` ({(bucket, *key): sums}) to ``table`` at resolution ``res``."""
    _upsert(conn, table, res, rows)


def append_late(conn: sqlite3.Connection, table: str,
                rows: Mapping[tuple[Any, ...], list[int]]) -> None:  # fmt: skip
    """Append minute ``rows`` ({(bucket, *key): sums}) to ``table``'s late rows."""
    _upsert(conn, table, None, rows)


def upsert_capture(conn: sqlite3.Connection, res: int,
                   rows: Mapping[tuple[Any, ...], list[int]]) -> None:  # fmt: skip
    """Add capture-health rows ({(bucket, sensor, iface): [packets, drops]})."""
    _upsert(conn, "traffic_capture", res, rows)


def fold_sql(table: str, res: int, bucket_expr: str, *, late: bool = False) -> str:
    """``INSERT ... SELECT`` adding rows of resolution ``res - 1`` in ``[?, ?)`` to ``res``;
    with ``late``, the late minute rows of the table instead."""
    keys, sums = FOLDED_TABLES[table]
    key_list = ", ".join(keys)
    target = ", ".join(("res", "bucket", *keys))
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in sums)
    source = f"{table}_late WHERE" if late else f"{table} WHERE res = {res - 1} AND"
    return (f"INSERT INTO {table} SELECT {res}, {bucket_expr} AS b, {key_list}, "
            f"{', '.join(f'sum({c})' for c in sums)} FROM {source} "
            f"bucket >= ? AND bucket < ? GROUP BY b, {key_list} "
            f"ON CONFLICT({target}) DO UPDATE SET {updates}")  # fmt: skip


#: Records a first contact; an earlier minute (a late or older record) wins.
SEEN_UPSERT = (
    "INSERT INTO traffic_seen(host, kind, key, first_seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(host, kind, key) DO UPDATE SET first_seen = excluded.first_seen "
    "WHERE excluded.first_seen < first_seen"
)
