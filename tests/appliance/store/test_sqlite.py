"""The SQLite event store on real database files: schema, idempotence, queries, atomicity."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from appliance.errors import StoreError
from appliance.events import EveRecord, decode_line
from appliance.store import (
    Bookmark,
    EventQuery,
    EventStore,
    Signature,
    event_id,
    open_store,
    source_of,
)
from appliance.store.migrate import available_migrations

T0 = 1_714_564_800_000_000  # 2024-05-01T12:00:00Z in microseconds
SENSOR = "dc1-core"


def _ts(us: int) -> str:
    secs, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{micros:06d}+0000"


def _eve(event_type: str, at: int, src: str | None, dst: str | None, **extra: Any) -> bytes:
    record: dict[str, Any] = {"timestamp": _ts(at), "event_type": event_type}
    if src is not None:
        record.update(src_ip=src, src_port=40000, dest_ip=dst, dest_port=443, proto="TCP")
    record.update(extra)
    return json.dumps(record, ensure_ascii=False).encode()


def _alert(at: int, src: str, dst: str, sid: int, msg: str = "", sev: int = 2, **kw: Any) -> bytes:
    alert = {"action": "allowed", "gid": 1, "signature_id": sid, "rev": kw.pop("rev", 1),
             "signature": msg or f"SPANWATCH TEST {sid}", "category": "Misc activity",
             "severity": sev}  # fmt: skip
    return _eve("alert", at, src, dst, alert=alert, **kw)


def _records(source: int, lines: list[bytes], *, start: int = 0) -> list[EveRecord]:
    """Lines as they would sit one after another in a file, starting at byte ``start``."""
    out, offset = [], start
    for raw in lines:
        out.append(decode_line(raw, event_id(source, offset)))
        offset += len(raw) + 1
    return out


def _parsed(records: list[EveRecord]) -> list[dict[str, Any]]:
    return [orjson.loads(r.raw) for r in sorted(records, key=lambda r: r.id)]


def _without_ids(rows: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        row = dict(row)
        row.pop("_id")
        out.append(row)
    return out


def _rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Query the database file through a connection of the test's own."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "spanwatch.db"


@pytest.fixture
def store(db: Path) -> Iterator[EventStore]:
    opened = open_store(db)
    yield opened
    opened.close()


@pytest.fixture
def mixed(store: EventStore) -> dict[str, list[EveRecord]]:
    """Two sources of alerts and metadata over IPv4 and IPv6 hosts."""
    a = store.source_id(b"fingerprint-a", "/var/log/suricata/eve.json")
    b = store.source_id(b"fingerprint-b", "/var/log/suricata/eve.json.1")
    first = _records(a, [
        _eve("flow", T0, "192.0.2.10", "198.51.100.20", flow_id=1001),
        _eve("dns", T0 + 1, "192.0.2.10", "203.0.113.53", flow_id=1002,
             dns={"rrname": "www.example.com"}),
        _alert(T0 + 2, "198.51.100.20", "192.0.2.10", 2100498, flow_id=1001),
        _eve("http", T0 + 3, "192.0.2.11", "198.51.100.21", flow_id=1003),
        _alert(T0 + 4, "203.0.113.66", "192.0.2.11", 9000001, sev=1, flow_id=1003),
    ])  # fmt: skip
    second = _records(b, [
        _eve("flow", T0 + 10, "2001:db8::10", "2001:db8:1::80", proto="TCP", flow_id=2001),
        _alert(T0 + 11, "2001:db8:1::80", "2001:db8::10", 2100498, flow_id=2001),
        _eve("tls", T0 + 12, "192.0.2.12", "198.51.100.20", flow_id=2002),
    ])  # fmt: skip
    assert store.add_events(first, SENSOR) == 5
    assert store.add_events(second, "dc2-edge") == 3
    return {"a": first, "b": second, "all": first + second}


# -- schema ---------------------------------------------------------------------------------


def test_new_store_applies_and_records_every_migration(db: Path) -> None:
    open_store(db).close()
    recorded = _rows(db, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert recorded == [(v, name) for v, name, _ in available_migrations()]
    tables = {r[0] for r in _rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"events", "chunks", "chunk_hosts", "sources", "bookmarks", "counters"} <= tables


def test_reopening_does_not_apply_migrations_again(db: Path) -> None:
    open_store(db).close()
    before = _rows(db, "SELECT * FROM schema_migrations")
    open_store(db).close()
    open_store(db, readonly=True).close()
    assert _rows(db, "SELECT * FROM schema_migrations") == before


def test_store_uses_wal(db: Path) -> None:
    open_store(db).close()
    assert _rows(db, "PRAGMA journal_mode") == [("wal",)]


def test_store_of_a_newer_spanwatch_is_refused(db: Path) -> None:
    open_store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)")
    conn.commit()
    conn.close()
    known = max(v for v, _, _ in available_migrations())
    with pytest.raises(StoreError) as info:
        open_store(db)
    assert str(info.value) == (
        f"The store has schema version 9999, newer than this spanwatch knows ({known}); "
        "upgrade spanwatch."
    )


def test_readonly_open_of_a_missing_store_explains_what_to_do(db: Path) -> None:
    with pytest.raises(StoreError) as info:
        open_store(db, readonly=True)
    assert str(info.value) == (
        f"No store at {db}; run `spanwatch analyze` or a sensor first."
    )
    assert not db.exists()
    assert not db.parent.exists()


@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_that_is_not_sqlite_is_refused(db: Path, readonly: bool) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"timestamp,event_type\n2024-05-01,alert\n" * 200)
    with pytest.raises(StoreError) as info:
        open_store(db, readonly=readonly)
    assert str(db) in str(info.value)
    assert "not a database" in str(info.value)


def test_a_foreign_sqlite_database_is_not_a_spanwatch_store(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        open_store(db, readonly=True)
    assert str(info.value).startswith(f"The store {db} is not a spanwatch store")


def test_a_reader_waits_for_a_store_another_process_is_creating(db: Path) -> None:
    # The sensor creates the file, then its tables: `spanwatch stats` or the web UI opening it
    # in between must see a store, not "not a spanwatch store".
    from appliance.store.connection import connect, opening_lock
    from appliance.store.migrate import migrate

    db.parent.mkdir(parents=True)
    seen: list[int] = []

    def read() -> None:
        reader = open_store(db, readonly=True)
        seen.append(reader.stats().total_events)
        reader.close()

    with opening_lock(db):
        sqlite3.connect(db).close()  # the file exists, without tables yet
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(0.3)
        assert reader.is_alive(), "the reader did not wait for the writer's schema"
        writer = connect(db)  # what the sensor holding the lock does next
        migrate(writer)
        writer.close()
    reader.join(10)
    assert seen == [0]


def test_readonly_store_refuses_writes(db: Path, store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    reader = open_store(db, readonly=True)
    try:
        with pytest.raises(StoreError) as info:
            reader.add_events(_records(source, [_eve("flow", T0, "192.0.2.1", "192.0.2.9")]), "s")
        assert "readonly" in str(info.value)
    finally:
        reader.close()


# -- sources and ids ------------------------------------------------------------------------


def test_source_ids_are_stable_per_fingerprint(store: EventStore) -> None:
    a = store.source_id(b"first line hash", "/a/eve.json")
    assert store.source_id(b"first line hash", "/b/renamed.json") == a
    assert store.source_id(b"another hash", "/a/eve.json") != a


def test_event_ids_encode_source_and_offset() -> None:
    assert source_of(event_id(7, 123_456)) == 7
    assert event_id(7, 123_456) & ((1 << 40) - 1) == 123_456
    assert event_id(1, (1 << 40) - 1) < event_id(2, 0)


# -- writing --------------------------------------------------------------------------------


def test_the_same_lines_twice_are_stored_once(db: Path, store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    lines = [_eve("flow", T0 + i, "192.0.2.1", "198.51.100.1", flow_id=i) for i in range(10)]
    records = _records(source, lines)
    assert store.add_events(records, SENSOR) == 10
    assert store.add_events(records, SENSOR) == 0
    assert store.count_events(EventQuery()) == 10
    assert _rows(db, "SELECT count(*), sum(n) FROM chunks") == [(1, 10)]


def test_an_overlapping_batch_stores_only_the_new_lines(store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    lines = [_eve("dns", T0 + i, "192.0.2.1", "198.51.100.1") for i in range(8)]
    records = _records(source, lines)
    assert store.add_events(records[:5], SENSOR) == 5
    assert store.add_events(records[3:], SENSOR) == 3
    assert [r["_id"] for r in store.events(EventQuery())] == [r.id for r in records]


def test_events_come_back_as_written_in_id_order(store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    lines = [
        _eve("http", T0, "192.0.2.1", "198.51.100.1",
             http={"hostname": "hà-nội.example.com", "url": "/tìm?q=café", "status": 200}),
        _alert(T0 + 1, "198.51.100.1", "192.0.2.1", 2100498, metadata={"tag": ["a", "b"]}),
        _eve("flow", T0 + 2, "2001:db8::1", "2001:db8::2",
             flow={"bytes_toserver": 12345678901, "age": 0.25, "alerted": False}),
        _eve("stats", T0 + 3, None, None, stats={"uptime": 9, "capture": {"kernel_drops": 0}}),
    ]  # fmt: skip
    records = _records(source, lines)
    # Written newest first and in two batches: alerts and metadata land in separate chunks.
    store.add_events(records[2:][::-1], SENSOR)
    store.add_events(records[:2][::-1], SENSOR)
    got = list(store.events(EventQuery()))
    assert [r["_id"] for r in got] == [r.id for r in records]
    assert _without_ids(iter(got)) == [orjson.loads(line) for line in lines]


def test_a_batch_may_mix_sources(store: EventStore) -> None:
    a, b = store.source_id(b"a", "a.json"), store.source_id(b"b", "b.json")
    rec_a = _records(a, [_eve("dns", T0, "192.0.2.1", "192.0.2.53")])
    rec_b = _records(b, [_eve("dns", T0, "192.0.2.2", "192.0.2.53")])
    assert store.add_events(rec_b + rec_a, SENSOR) == 2
    assert [r["src_ip"] for r in store.events(EventQuery())] == ["192.0.2.1", "192.0.2.2"]


def test_counters_accumulate_across_batches(store: EventStore) -> None:
    store.add_events([], SENSOR, counters={"dead_letter.bad-json": 2, "dead_letter.schema": 0})
    store.add_events([], SENSOR, counters={"dead_letter.bad-json": 3, "dead_letter.not-utf8": 1})
    assert store.counters() == {"dead_letter.bad-json": 5, "dead_letter.not-utf8": 1}
    assert store.stats().counters == store.counters()


def test_bookmark_is_written_with_its_batch(store: EventStore) -> None:
    source = store.source_id(b"fp", "/var/log/suricata/eve.json")
    lines = [_eve("flow", T0 + i, "192.0.2.1", "198.51.100.1") for i in range(3)]
    end = sum(len(line) + 1 for line in lines)
    mark = Bookmark("/var/log/suricata/eve.json", 4242, end, end, 3, source)
    store.add_events(_records(source, lines), SENSOR, bookmark=mark, counters={"lines": 3})
    assert store.bookmark(source) == mark
    assert store.latest_bookmark("/var/log/suricata/eve.json") == mark
    assert store.latest_bookmark("/elsewhere/eve.json") is None
    later = Bookmark(mark.path, 4242, end + 10, end + 10, 4, source)
    store.add_events([], SENSOR, bookmark=later)
    assert store.bookmark(source) == later


def test_a_failing_batch_leaves_neither_events_nor_bookmark(db: Path, store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    good = Bookmark("eve.json", 1, 10, 10, 1, source)
    store.add_events([], SENSOR, bookmark=good, counters={"lines": 1})
    records = _records(source, [
        _eve("smb", T0, "192.0.2.1", "192.0.2.2"),
        _alert(T0 + 1, "192.0.2.1", "192.0.2.2", 9000010, "SPANWATCH POLICY Telnet"),
    ])  # fmt: skip
    # A bookmark of a source that is not registered breaks the foreign key mid-batch,
    # after the events and counters were written inside the transaction.
    orphan = Bookmark("eve.json", 1, 999, 999, 2, source + 100)
    with pytest.raises(StoreError) as info:
        store.add_events(records, "new-sensor", bookmark=orphan, counters={"lines": 2})
    assert "FOREIGN KEY" in str(info.value)
    assert store.count_events(EventQuery()) == 0
    assert store.bookmark(source) == good
    assert store.bookmark(source + 100) is None
    assert store.counters() == {"lines": 1}
    assert _rows(db, "SELECT count(*) FROM chunks") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM chunk_hosts") == [(0,)]
    assert _rows(db, "SELECT name FROM sensors WHERE name = 'new-sensor'") == []


def test_the_retried_batch_after_a_failure_keeps_its_names(db: Path, store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    lines = [
        _eve("smb", T0, "192.0.2.1", "192.0.2.2"),
        _alert(T0 + 1, "192.0.2.1", "192.0.2.2", 9000010, "SPANWATCH POLICY Telnet"),
    ]
    records = _records(source, lines, start=100)
    with pytest.raises(StoreError):
        store.add_events(records, SENSOR, bookmark=Bookmark("x", 1, 1, 1, 1, source + 100))
    # Another type is stored first, then the failed batch is retried, as a reader does.
    store.add_events(_records(source, [_eve("quic", T0, "192.0.2.9", "192.0.2.8")]), SENSOR)
    assert store.add_events(records, SENSOR) == 2
    reader = open_store(db, readonly=True)  # a fresh process's view
    try:
        assert reader.type_counts() == {"quic": 1, "smb": 1, "alert": 1}
        assert reader.count_events(EventQuery(event_type="smb")) == 1
        assert reader.signatures([9000010]) == {
            9000010: Signature(9000010, "SPANWATCH POLICY Telnet", "Misc activity", 2)
        }
    finally:
        reader.close()


def test_a_reader_sees_committed_batches_of_a_writer(db: Path, store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    store.add_events(_records(source, [_eve("flow", T0, "192.0.2.1", "192.0.2.2")]), SENSOR)
    reader = open_store(db, readonly=True)
    try:
        assert reader.count_events(EventQuery()) == 1
        store.add_events(
            _records(source, [_eve("flow", T0, "192.0.2.1", "192.0.2.2")], start=500), SENSOR
        )
        assert reader.count_events(EventQuery()) == 2
    finally:
        reader.close()


# -- queries --------------------------------------------------------------------------------


def _ids(store: EventStore, **query: Any) -> list[int]:
    q = EventQuery(**query)
    ids = [r["_id"] for r in store.events(q)]
    if q.limit is None:
        assert store.count_events(q) == len(ids)
    return ids


def _ids_of(records: list[EveRecord], *positions: int) -> list[int]:
    return sorted(records[p].id for p in positions)


def test_no_filter_returns_everything(store: EventStore, mixed: dict[str, Any]) -> None:
    assert _ids(store) == sorted(r.id for r in mixed["all"])


def test_filter_by_event_type(store: EventStore, mixed: dict[str, Any]) -> None:
    a, b = mixed["a"], mixed["b"]
    assert _ids(store, event_type="alert") == sorted([a[2].id, a[4].id, b[1].id])
    assert _ids(store, event_type="flow") == sorted([a[0].id, b[0].id])
    assert _ids(store, event_type="smtp") == []


def test_filter_by_ipv4_finds_metadata_and_alerts_either_way(
    store: EventStore, mixed: dict[str, Any]
) -> None:
    a, b = mixed["a"], mixed["b"]
    # 198.51.100.20: dest of a flow, src of an alert, dest of a tls record of source b.
    assert _ids(store, ip="198.51.100.20") == sorted([a[0].id, a[2].id, b[2].id])
    # Same chunk as 198.51.100.20, but only in the dns record.
    assert _ids(store, ip="203.0.113.53") == [a[1].id]
    assert _ids(store, ip="203.0.113.66") == [a[4].id]
    assert _ids(store, ip="192.0.2.99") == []


def test_filter_by_ipv6(store: EventStore, mixed: dict[str, Any]) -> None:
    b = mixed["b"]
    assert _ids(store, ip="2001:db8::10") == [b[0].id, b[1].id]
    assert _ids(store, ip="2001:0db8:0001:0000:0000:0000:0000:0080") == [b[0].id, b[1].id]
    assert _ids(store, ip="2001:db8::11") == []


def test_filter_by_an_invalid_ip_matches_nothing(store: EventStore, mixed: dict[str, Any]) -> None:
    assert _ids(store, ip="example.com") == []


def test_filter_by_ip_and_type(store: EventStore, mixed: dict[str, Any]) -> None:
    a = mixed["a"]
    assert _ids(store, ip="192.0.2.10", event_type="alert") == [a[2].id]
    assert _ids(store, ip="192.0.2.10", event_type="dns") == [a[1].id]


def test_filter_by_sid_and_flow(store: EventStore, mixed: dict[str, Any]) -> None:
    a, b = mixed["a"], mixed["b"]
    assert _ids(store, sid=2100498) == sorted([a[2].id, b[1].id])
    assert _ids(store, sid=9000001) == [a[4].id]
    assert _ids(store, sid=1) == []
    assert _ids(store, flow_id=1003) == [a[3].id, a[4].id]
    assert _ids(store, flow_id=2001, event_type="flow") == [b[0].id]


def test_time_window_includes_since_and_excludes_until(
    store: EventStore, mixed: dict[str, Any]
) -> None:
    a, b = mixed["a"], mixed["b"]
    assert _ids(store, since_us=T0 + 2, until_us=T0 + 4) == [a[2].id, a[3].id]
    assert _ids(store, since_us=T0 + 11) == [b[1].id, b[2].id]
    assert _ids(store, until_us=T0 + 1) == [a[0].id]
    assert _ids(store, since_us=T0 + 100) == []


def test_filter_by_sources(store: EventStore, mixed: dict[str, Any]) -> None:
    a, b = mixed["a"], mixed["b"]
    source_a, source_b = source_of(a[0].id), source_of(b[0].id)
    assert _ids(store, source_ids=[source_b]) == [r.id for r in b]
    assert _ids(store, source_ids=[source_a, source_b]) == sorted(r.id for r in a + b)
    assert _ids(store, source_ids=[]) == []
    assert _ids(store, source_ids=[source_b], event_type="alert") == [b[1].id]


def test_limit_returns_the_first_ids(store: EventStore, mixed: dict[str, Any]) -> None:
    everything = _ids(store)
    assert _ids(store, limit=3) == everything[:3]
    assert _ids(store, limit=100) == everything


def test_alert_and_type_counts(store: EventStore, mixed: dict[str, Any]) -> None:
    source_b = source_of(mixed["b"][0].id)
    assert store.alert_counts() == {2100498: 2, 9000001: 1}
    assert store.alert_counts([source_b]) == {2100498: 1}
    assert store.type_counts() == {"flow": 2, "dns": 1, "alert": 3, "http": 1, "tls": 1}
    assert store.type_counts([source_b]) == {"flow": 1, "alert": 1, "tls": 1}


def test_signatures_are_as_last_seen(store: EventStore, mixed: dict[str, Any]) -> None:
    assert store.signatures([9000001, 2100498, 42]) == {
        9000001: Signature(9000001, "SPANWATCH TEST 9000001", "Misc activity", 1),
        2100498: Signature(2100498, "SPANWATCH TEST 2100498", "Misc activity", 2),
    }
    source = store.source_id(b"updated rules", "eve.json")
    store.add_events(_records(source, [
        _alert(T0, "192.0.2.1", "192.0.2.2", 2100498, "GPL ATTACK_RESPONSE id check", sev=1, rev=8)
    ]), SENSOR)  # fmt: skip
    assert store.signatures([2100498])[2100498] == Signature(
        2100498, "GPL ATTACK_RESPONSE id check", "Misc activity", 1
    )


def test_stats_describe_the_store(db: Path, store: EventStore, mixed: dict[str, Any]) -> None:
    stats = store.stats()
    assert stats.total_events == 8
    assert (stats.oldest_us, stats.newest_us) == (T0, T0 + 12)
    assert stats.events_by_type == store.type_counts()
    assert stats.alerts_by_sid == {2100498: 2, 9000001: 1}
    assert stats.size_bytes >= db.stat().st_size > 0


def test_an_empty_store_has_empty_stats(store: EventStore) -> None:
    stats = store.stats()
    assert (stats.total_events, stats.oldest_us, stats.newest_us) == (0, None, None)
    assert stats.events_by_type == {} and stats.alerts_by_sid == {} and stats.counters == {}


# -- deleting sources -----------------------------------------------------------------------


def test_delete_sources_removes_only_their_rows(
    db: Path, store: EventStore, mixed: dict[str, Any]
) -> None:
    a, b = mixed["a"], mixed["b"]
    source_a, source_b = source_of(a[0].id), source_of(b[0].id)
    store.add_events([], SENSOR, bookmark=Bookmark("b.json", 1, 5, 5, 1, source_b))
    store.add_events([], SENSOR, bookmark=Bookmark("a.json", 1, 5, 5, 1, source_a))
    sql = "SELECT chunk FROM events WHERE id >= ?"
    chunks_b = {r[0] for r in _rows(db, sql, event_id(source_b, 0))}
    assert store.delete_sources([source_b]) == 3
    assert _ids(store) == [r.id for r in a]
    assert _without_ids(store.events(EventQuery())) == _parsed(a)
    remaining_chunks = {r[0] for r in _rows(db, "SELECT id FROM chunks")}
    assert remaining_chunks and not remaining_chunks & chunks_b
    host_chunks = {r[0] for r in _rows(db, "SELECT chunk FROM chunk_hosts")}
    assert host_chunks == remaining_chunks
    assert _ids(store, ip="2001:db8::10") == []
    assert _ids(store, ip="198.51.100.20") == [a[0].id, a[2].id]
    assert store.bookmark(source_b) is None
    assert store.bookmark(source_a) is not None
    assert store.alert_counts() == {2100498: 1, 9000001: 1}


def test_deleting_unknown_sources_removes_nothing(
    store: EventStore, mixed: dict[str, Any]
) -> None:
    assert store.delete_sources([12345]) == 0
    assert store.delete_sources([]) == 0
    assert store.count_events(EventQuery()) == len(mixed["all"])
