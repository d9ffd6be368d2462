"""Reading new records after a chunk cursor: every record once, in commit order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import EventQuery, EventStore, open_store
from tests.appliance.store.test_sqlite import T0, _alert, _eve, _records, _ts


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = open_store(tmp_path / "spanwatch.db")
    yield opened
    opened.close()


def test_a_cursor_sees_every_alert_once_whatever_the_event_ids(store: EventStore) -> None:
    low = store.source_id(b"low", "eve.json")
    high = store.source_id(b"high", "eve.json.1")  # higher event ids, but stored first
    assert low < high
    store.add_events(_records(high, [_alert(T0, "192.0.2.9", "192.0.2.10", 1),
                                     _eve("flow", T0, "192.0.2.9", "192.0.2.10")]), "dc1")
    cursor, first = store.events_after_chunk(0, kind="alerts")
    assert [r["alert"]["signature_id"] for r in first] == [1]
    assert first[0]["_sensor"] == "dc1"
    # A later batch from a source with lower ids is still "after" the cursor.
    store.add_events(_records(low, [_alert(T0 + 5, "192.0.2.9", "192.0.2.11", 2)]), "dc2")
    cursor2, second = store.events_after_chunk(cursor, kind="alerts")
    assert [(r["alert"]["signature_id"], r["_sensor"]) for r in second] == [(2, "dc2")]
    assert store.events_after_chunk(cursor2, kind="alerts") == (cursor2, [])


def test_without_a_kind_metadata_comes_too_and_ids_match_the_store(store: EventStore) -> None:
    source = store.source_id(b"s", "eve.json")
    written = _records(source, [_eve("dns", T0, "192.0.2.1", "192.0.2.53"),
                                _alert(T0 + 1, "192.0.2.1", "192.0.2.53", 7),
                                _eve("flow", T0 + 2, "192.0.2.1", "192.0.2.53")])
    store.add_events(written, "dc1")
    _, records = store.events_after_chunk(0)
    assert sorted(r["_id"] for r in records) == sorted(r.id for r in written)
    assert {r["event_type"] for r in records} == {"dns", "alert", "flow"}


def test_max_chunks_pages_through_a_long_backlog(store: EventStore) -> None:
    source = store.source_id(b"s", "eve.json")
    for n in range(5):
        store.add_events(_records(source, [_alert(T0 + n, "192.0.2.1", "192.0.2.2", 100 + n)],
                                  start=n * 1000), "dc1")
    cursor, seen = 0, []
    while True:
        cursor, page = store.events_after_chunk(cursor, kind="alerts", max_chunks=2)
        if not page:
            break
        assert len(page) <= 2
        seen += [r["alert"]["signature_id"] for r in page]
    assert seen == [100, 101, 102, 103, 104]


def test_a_host_query_in_a_time_range_reads_only_the_chunks_of_that_range(
    store: EventStore,
) -> None:
    source = store.source_id(b"s", "eve.json")
    hour = 3_600_000_000
    for n in range(3):  # one chunk per hour, each with the same host
        store.add_events(_records(source, [_eve("dns", T0 + n * hour, "192.0.2.1", "192.0.2.53")],
                                  start=n * 1000), "dc1")  # fmt: skip
    found = list(store.events(EventQuery(ip="192.0.2.1", since_us=T0 + hour,
                                         until_us=T0 + 2 * hour)))  # fmt: skip
    assert [r["timestamp"] for r in found] == [_ts(T0 + hour)]
    assert store.count_events(EventQuery(ip="192.0.2.53", since_us=T0 + hour)) == 2
