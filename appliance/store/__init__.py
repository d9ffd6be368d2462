"""The event store: one interface for every caller, SQLite behind it by default.

Callers depend on :class:`EventStore`; :func:`open_store` picks the implementation, so a
central database can replace SQLite later without touching them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from appliance.config import RetentionConfig
from appliance.events import EveRecord

if TYPE_CHECKING:
    from appliance.store.retention import RetentionReport


#: Bits of an event id that hold the byte offset of the line in its source.
OFFSET_BITS = 40
def event_id(source_id: int, offset: int) -> int:
    """The store id of the line at ``offset`` of source ``source_id``."""
    return (source_id << OFFSET_BITS) | offset


def source_of(event_id: int) -> int:
    """The source id encoded in an event id."""
    return event_id >> OFFSET_BITS


@dataclass(frozen=True, slots=True)
class Bookmark:
    """Where the reader of one EVE source stopped: the next byte to read."""

    path: str
    inode: int
    offset: int
    size: int
    line: int
    source_id: int
    #: A hash of the bytes just before ``offset`` (None: not known, an older bookmark).
    tail: int | None = None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A filter over stored events; every field is optional."""

    event_type: str | None = None
    source_ids: Sequence[int] | None = None
    since_us: int | None = None
    until_us: int | None = None
    ip: str | None = None
    sid: int | None = None
    flow_id: int | None = None
    event_id: int | None = None
    limit: int | None = None


@dataclass(slots=True)
class StoreStats:
    """What the store holds."""

    events_by_type: dict[str, int] = field(default_factory=dict)
    alerts_by_sid: dict[int, int] = field(default_factory=dict)
    total_events: int = 0
    size_bytes: int = 0
    oldest_us: int | None = None
    newest_us: int | None = None
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Signature:
    """A signature as last seen in an alert."""

    sid: int
    msg: str | None
    category: str | None
    severity: int | None


class EventStore(Protocol):
    """Everything callers may do with stored events."""

    def source_id(self, fingerprint: bytes, path: str) -> int: ...

    def sources_named(self, part: str) -> list[int]: ...

    def bookmark(self, source_id: int) -> Bookmark | None: ...

    def latest_bookmark(self, path: str) -> Bookmark | None: ...

    def add_events(
        self,
        records: Sequence[EveRecord],
        sensor: str,
        *,
        bookmark: Bookmark | None = None,
        counters: Mapping[str, int] | None = None,
        prepared: Any = None,
    ) -> int: ...

    def prepare(self, records: Sequence[EveRecord]) -> Any:
        """Work on ``records`` that needs no transaction (any thread), for ``add_events``."""
        ...

    def delete_sources(self, source_ids: Sequence[int]) -> int: ...

    def events(self, query: EventQuery) -> Iterator[dict[str, Any]]: ...

    def count_events(self, query: EventQuery) -> int: ...

    def events_after_chunk(
        self, after: int, *, kind: str | None = None, max_chunks: int = 64
    ) -> tuple[int, list[dict[str, Any]]]: ...

    def alert_counts(self, source_ids: Sequence[int] | None = None) -> dict[int, int]: ...

    def type_counts(self, source_ids: Sequence[int] | None = None) -> dict[str, int]: ...

    def top_talkers(
        self, source_ids: Sequence[int] | None = None, n: int = 10
    ) -> list[tuple[str, int]]: ...

    def signatures(self, sids: Sequence[int]) -> dict[int, Signature]: ...

    def add_capture(
        self, path: str, source_ids: Sequence[int], *, packets: int | None, summary: Any = None
    ) -> None: ...

    def capture_path(self, source_id: int) -> str | None: ...

    def stats(self) -> StoreStats: ...

    def apply_retention(
        self, cfg: RetentionConfig, evidence_dirs: Sequence[Path] = (), now_us: int | None = None
    ) -> RetentionReport: ...

    def close(self) -> None: ...


def open_store(path: Path, *, readonly: bool = False) -> EventStore:
    """Open (creating and migrating if needed) the store at ``path``."""
    from appliance.store.sqlite import SqliteEventStore

    return SqliteEventStore(path, readonly=readonly)
