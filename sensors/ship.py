"""Sinks: where the sensor's batches go (the local store; the center's API later)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from appliance.events import EveRecord
from appliance.store import Bookmark, EventStore


class Sink(Protocol):
    """Receives batches; the bookmark may advance only once the batch is durable."""

    def write(
        self, records: Sequence[EveRecord], bookmark: Bookmark | None, counters: Mapping[str, int]
    ) -> int: ...

    def close(self) -> None: ...


class StoreSink:
    """Writes batches into the local store, with the bookmark in the same transaction."""

    def __init__(self, store: EventStore, sensor: str) -> None:
        self.store = store
        self.sensor = sensor

    def write(
        self, records: Sequence[EveRecord], bookmark: Bookmark | None, counters: Mapping[str, int]
    ) -> int:
        """Store a batch; returns how many records were new."""
        return self.store.add_events(records, self.sensor, bookmark=bookmark, counters=counters)

    def close(self) -> None:
        """Nothing buffered: every write is committed."""
