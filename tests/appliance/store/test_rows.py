"""Rows built before the write transaction (in the reader's thread) store what they should."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.store import Bookmark, EventQuery, EventStore, open_store
from appliance.store.rows import prepare
from tests.appliance.store.test_sqlite import SENSOR, T0, _alert, _eve, _records


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = open_store(tmp_path / "spanwatch.db")
    yield opened
    opened.close()


def test_a_prepared_batch_stores_the_same_as_an_unprepared_one(tmp_path: Path) -> None:
    lines = [_eve("dns", T0, "192.0.2.1", "192.0.2.53"),
             _alert(T0 + 1, "198.51.100.7", "192.0.2.1", 2001, community_id="1:abcdefghij="),
             _eve("flow", T0 + 2, "2001:db8::1", "2001:db8::2", flow={"bytes_toserver": 10,
                                                                      "bytes_toclient": 5})]
    stored = []
    for use_prepared in (False, True):
        db = open_store(tmp_path / f"{use_prepared}.db")
        records = _records(db.source_id(b"fp", "eve.json"), lines)
        batch = db.prepare(records) if use_prepared else None
        assert db.add_events(records, SENSOR, prepared=batch) == 3
        conn = db.connection  # type: ignore[attr-defined]
        stored.append(conn.execute(
            "SELECT e.id, e.ts, s.name, t.name, e.src_ip, e.dest_ip, e.src_port, e.dest_port, "
            "e.proto, e.flow_id, e.cid, e.sid, e.severity, e.bytes, e.pos FROM events e "
            "JOIN sensors s ON s.id = e.sensor JOIN event_types t ON t.id = e.etype ORDER BY e.id"
        ).fetchall())
        db.close()
    assert stored[0] == stored[1]
    assert [row[3] for row in stored[1]] == ["dns", "alert", "flow"]
    assert stored[1][2][13] == 15  # a flow's bytes, both ways


def test_a_prepared_batch_retried_after_a_failure_keeps_its_type_names(
    store: EventStore,
) -> None:
    source = store.source_id(b"fp", "eve.json")
    records = _records(source, [_eve("smb", T0, "192.0.2.1", "192.0.2.2")])
    batch = prepare(records)
    with pytest.raises(StoreError):
        store.add_events(records, SENSOR, prepared=batch,
                         bookmark=Bookmark("x", 1, 1, 1, 1, source + 100))  # fmt: skip
    store.add_events(_records(source, [_eve("quic", T0, "192.0.2.9", "192.0.2.8")],
                              start=500), SENSOR)  # fmt: skip
    assert store.add_events(records, SENSOR, prepared=batch) == 1
    assert store.type_counts() == {"quic": 1, "smb": 1}


def test_a_prepared_batch_of_partly_stored_records_stores_only_the_new(store: EventStore) -> None:
    source = store.source_id(b"fp", "eve.json")
    records = _records(source, [_eve("dns", T0 + i, "192.0.2.1", "192.0.2.53") for i in range(4)])
    store.add_events(records[:2], SENSOR)
    assert store.add_events(records, SENSOR, prepared=prepare(records)) == 2
    assert store.count_events(EventQuery()) == 4


def test_alert_columns_land_in_place_whatever_comes_first_in_a_chunk(store: EventStore) -> None:
    """Rows leave the alert columns out until a chunk's first alert or finding; then the
    chunk's rows so far are widened. Each record's columns stay its own."""
    source = store.source_id(b"fp", "eve.json")
    lines = [_eve("anomaly", T0, "192.0.2.1", "192.0.2.2", anomaly={"type": "stream"}),
             _alert(T0 + 1, "198.51.100.7", "192.0.2.1", 2001, sev=1,
                    community_id="1:abcdefghij="),
             _eve("dns", T0 + 2, "192.0.2.1", "192.0.2.53"),
             _eve("stats", T0 + 3, None, None, stats={"uptime": 1}),
             _eve("flow", T0 + 4, "not-an-address", "192.0.2.53",
                  flow={"bytes_toserver": 1, "bytes_toclient": 2})]  # fmt: skip
    assert store.add_events(_records(source, lines), SENSOR) == 5
    rows = store.connection.execute(  # type: ignore[attr-defined]
        "SELECT t.name, e.sid, e.severity, e.cid IS NOT NULL, typeof(e.src_ip), e.bytes "
        "FROM events e JOIN event_types t ON t.id = e.etype ORDER BY e.id").fetchall()
    assert rows == [("anomaly", None, None, 0, "blob", None),
                    ("alert", 2001, 1, 1, "blob", None),
                    ("dns", None, None, 0, "blob", None),
                    ("stats", None, None, 0, "null", None),
                    ("flow", None, None, 0, "null", 3)]  # fmt: skip
    # Addresses, bound as bytearrays, are found as packed bytes, in rows and zone map.
    assert store.count_events(EventQuery(ip="192.0.2.1")) == 3
    assert store.count_events(EventQuery(ip="192.0.2.53")) == 2
    assert store.count_events(EventQuery(sid=2001)) == 1
