"""Counts of flow observations: one bucket of a window, a window, or an episode.

A :class:`Tally` counts flows, failures and bytes, and keeps the distinct items (ports,
hosts) and other ends it saw, up to a cap, with a few flow and community ids as evidence.
A bucket that holds one flow keeps that flow's observation (:data:`Obs`, a plain tuple)
instead: most do, and a tuple costs less and is not tracked by the garbage collector.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Union

#: Flow ids and community ids kept as evidence.
EVIDENCE_IDS = 20
#: Shared by every tally without items yet (never mutated: a tally makes its own set).
_EMPTY: set[Hashable] = set()

#: One flow: (ts_us, timestamp, failed, nbytes, nbytes_back, item, other, flow_id,
#: community_id), as :meth:`Tally.add` takes it.
Obs = tuple[int, str, bool, int, int, Hashable, Hashable, Union[int, None], Union[str, None]]


class Tally:
    """Counts over a bucket, a window or an episode (sets and lists made on first use)."""

    __slots__ = ("flows", "failed", "nbytes", "nbytes_back", "items", "others", "first_us",
                 "last_us", "last_timestamp", "flow_ids", "community_ids")  # fmt: skip

    def __init__(self) -> None:
        self.flows = self.failed = self.nbytes = self.nbytes_back = 0
        self.items: set[Hashable] = _EMPTY
        self.others: set[Hashable] = _EMPTY
        self.first_us, self.last_us, self.last_timestamp = 1 << 62, 0, ""
        self.flow_ids: list[int] = []
        self.community_ids: list[str] = []

    @property
    def failed_share(self) -> float:
        return self.failed / self.flows if self.flows else 0.0

    def add(self, obs: Obs, cap: int) -> None:
        """Count one observation; sets stop growing at ``cap``."""
        ts_us, timestamp, failed, nbytes, nbytes_back, item, other, flow_id, community_id = obs
        self.flows += 1
        self.failed += failed
        self.nbytes += nbytes
        self.nbytes_back += nbytes_back
        if item is not None:
            items = self.items
            if len(items) < cap:
                if items is _EMPTY:
                    items = self.items = set()
                items.add(item)
        if other is not None:
            others = self.others
            if len(others) < cap:
                if others is _EMPTY:
                    others = self.others = set()
                others.add(other)
        if ts_us < self.first_us:
            self.first_us = ts_us
        if ts_us >= self.last_us:
            self.last_us, self.last_timestamp = ts_us, timestamp
        if flow_id is not None:
            flow_ids = self.flow_ids
            if len(flow_ids) < EVIDENCE_IDS:
                flow_ids.append(flow_id)
        if community_id:
            community_ids = self.community_ids
            if len(community_ids) < EVIDENCE_IDS:
                community_ids.append(community_id)

    def merge(self, other: Tally, cap: int) -> None:
        """Add another tally's counts."""
        self.flows += other.flows
        self.failed += other.failed
        self.nbytes += other.nbytes
        self.nbytes_back += other.nbytes_back
        self.items = _union(self.items, other.items, cap)
        self.others = _union(self.others, other.others, cap)
        self.first_us = min(self.first_us, other.first_us)
        if other.last_us >= self.last_us:
            self.last_us, self.last_timestamp = other.last_us, other.last_timestamp
        self.flow_ids.extend(other.flow_ids[: EVIDENCE_IDS - len(self.flow_ids)])
        self.community_ids.extend(other.community_ids[: EVIDENCE_IDS - len(self.community_ids)])


#: A bucket: its tally, or the observation of its only flow.
Bucket = Union[Tally, Obs]


def as_tally(bucket: Bucket, cap: int) -> Tally:
    """A bucket as a tally (a bucket of one flow is kept as its observation)."""
    if isinstance(bucket, Tally):
        return bucket
    tally = Tally()
    tally.add(bucket, cap)
    return tally


def merge_into(tally: Tally, bucket: Bucket, cap: int) -> None:
    """Add a bucket's counts to ``tally``."""
    if isinstance(bucket, Tally):
        tally.merge(bucket, cap)
    else:
        tally.add(bucket, cap)


def distinct_items(buckets: Iterable[Bucket | None], enough: int) -> int:
    """Distinct items of these buckets, counted up to ``enough``."""
    seen: set[Hashable] = set()
    for bucket in buckets:
        if bucket.__class__ is tuple:
            item = bucket[5]  # type: ignore[index]
            if item is not None:
                seen.add(item)
        else:
            seen |= bucket.items  # type: ignore[union-attr]
        if len(seen) >= enough:
            break
    return len(seen)


def _union(target: set[Hashable], source: set[Hashable], cap: int) -> set[Hashable]:
    """``target`` with ``source`` added, up to ``cap`` items (a new set if target is shared)."""
    if not source:
        return target
    if target is _EMPTY:
        target = set()
    if len(target) + len(source) <= cap:
        target |= source
        return target
    for item in source:
        if len(target) >= cap:
            break
        target.add(item)
    return target
