"""The sinks: the store sink and the threaded writer in front of it."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.events import EveRecord, decode_line
from appliance.store import Bookmark, EventQuery, open_store
from sensors.ship import StoreSink, ThreadedSink, close_quietly, store_writer

LINE = (b'{"timestamp":"2026-01-01T00:00:%02d.000000+0000","event_type":"dns",'
        b'"src_ip":"192.0.2.1","dest_ip":"198.51.100.53","proto":"UDP"}')  # fmt: skip


def _records(start: int, n: int) -> list[EveRecord]:
    return [decode_line(LINE % (i % 60), (7 << 40) | (i * 200)) for i in range(start, start + n)]


def test_threaded_writer_stores_every_batch_in_order_and_counts_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    sink = store_writer(path, "s1")
    for start in range(0, 1000, 100):
        assert sink.write(_records(start, 100), None, {"c": 1}) == 0
    assert sink.flush() == 1000
    assert sink.flush() == 0
    sink.write(_records(0, 100), None, {})  # the same ids again: idempotent
    assert sink.flush() == 0
    sink.close()
    store = open_store(path, readonly=True)
    assert store.count_events(EventQuery()) == 1000
    assert store.stats().counters == {"c": 10}
    store.close()


class _FailingSink:
    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def write(self, records: Sequence[EveRecord], bookmark: Bookmark | None,
              counters: Mapping[str, int]) -> int:  # fmt: skip
        self.calls += 1
        raise StoreError("Cannot write to the store: database or disk is full")

    def flush(self) -> int:
        return 0

    def close(self) -> None:
        pass


def test_a_writer_error_reaches_the_producer_and_later_batches_are_not_written() -> None:
    inner = _FailingSink()
    sink = ThreadedSink(inner)
    sink.write(_records(0, 10), None, {})
    with pytest.raises(StoreError, match="disk is full"):
        sink.flush()
    with pytest.raises(StoreError):
        sink.write(_records(10, 10), None, {})
    close_quietly(sink)
    assert inner.calls == 1


def test_store_sink_closes_only_a_store_it_owns(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    StoreSink(store, "s1").close()
    assert store.count_events(EventQuery()) == 0  # still open
    StoreSink(store, "s1", owns_store=True).close()
    with pytest.raises(Exception):
        store.count_events(EventQuery())
