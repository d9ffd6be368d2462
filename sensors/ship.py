"""Sinks: where the sensor's batches go (the local store; the center's API later)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from appliance.events import EveRecord
from appliance.store import Bookmark, EventStore

logger = logging.getLogger(__name__)


class Sink(Protocol):
    """Receives batches; the bookmark may advance only once the batch is durable."""

    def write(
        self, records: Sequence[EveRecord], bookmark: Bookmark | None, counters: Mapping[str, int]
    ) -> int: ...

    def flush(self) -> int: ...

    def close(self) -> None: ...


class StoreSink:
    """Writes batches into the local store, with the bookmark in the same transaction."""

    def __init__(self, store: EventStore, sensor: str, *, owns_store: bool = False) -> None:
        self.store = store
        self.sensor = sensor
        self.owns_store = owns_store

    def write(
        self,
        records: Sequence[EveRecord],
        bookmark: Bookmark | None,
        counters: Mapping[str, int],
        prepared: Any = None,
    ) -> int:
        """Store a batch; returns how many records were new."""
        return self.store.add_events(
            records, self.sensor, bookmark=bookmark, counters=counters, prepared=prepared
        )

    def prepare(self, records: Sequence[EveRecord]) -> Any:
        """The store's rows for ``records``, built in the caller's thread."""
        return self.store.prepare(records)

    def flush(self) -> int:
        """Nothing buffered: every write is committed (and counted by ``write``)."""
        return 0

    def close(self) -> None:
        """Nothing buffered: every write is committed. Closes the store if it owns it."""
        if self.owns_store:
            self.store.close()


class ThreadedSink:
    """Writes batches from a thread of its own, so decoding overlaps the store's writes.

    SQLite releases the interpreter lock while it writes, so the reader and analyzers
    keep one core busy while the store keeps the other. At most ``depth`` batches wait;
    each is still committed with its own bookmark, so delivery stays at-least-once and a
    kill loses only batches that were not committed, which are read again. The first
    error of the writer is raised by the next ``write``, ``flush`` or ``close``.
    """

    def __init__(self, inner: Sink, depth: int = 2) -> None:
        self.inner = inner
        self._queue: queue.Queue[tuple[Sequence[EveRecord], Bookmark | None,
                                       Mapping[str, int], Any] | None] = queue.Queue(depth)
        # Rows are built in the producer's thread, so the writer's thread is left with
        # SQLite's work, which runs without the interpreter lock.
        self._prepare = getattr(inner, "prepare", None)
        self._error: BaseException | None = None
        self._stored = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    records, bookmark, counters, prepared = item
                    if prepared is None:
                        stored = self.inner.write(records, bookmark, counters)
                    else:
                        stored = self.inner.write(  # type: ignore[call-arg]
                            records, bookmark, counters, prepared=prepared
                        )
                    with self._lock:
                        self._stored += stored
            except BaseException as err:  # handed to the producer thread
                self._error = err
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(
        self, records: Sequence[EveRecord], bookmark: Bookmark | None, counters: Mapping[str, int]
    ) -> int:
        """Queue a batch (waits while ``depth`` batches are pending); counts come by flush."""
        self._raise()
        prepared = self._prepare(records) if self._prepare is not None else None
        self._queue.put((records, bookmark, dict(counters), prepared))
        return 0

    def flush(self) -> int:
        """Wait for every queued batch; return how many new events they stored."""
        self._queue.join()
        self._raise()
        with self._lock:
            stored, self._stored = self._stored, 0
        return stored + self.inner.flush()

    def close(self) -> None:
        """Write what is queued, stop the thread, close the inner sink."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self.inner.close()
        self._raise()


def store_writer(path: Path, sensor: str) -> ThreadedSink:
    """A threaded sink writing into the store at ``path`` through a connection of its own."""
    from appliance.store import open_store

    return ThreadedSink(StoreSink(open_store(path), sensor, owns_store=True))


def close_quietly(sink: Sink) -> None:
    """Close ``sink`` on an error path, where the error being raised matters more."""
    try:
        sink.close()
    except Exception:
        logger.debug("Closing the sink after an error failed too.", exc_info=True)
