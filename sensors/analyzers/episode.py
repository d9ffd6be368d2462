"""Sliding event-time windows over flow observations, and the episodes they report.

Each key (e.g. scanner and target) collects observations in buckets of a sixth of the
window. Whenever a bucket changes, every run of six consecutive buckets around it is a
window; the first window whose tally satisfies the :class:`Threshold` becomes an
*episode* (a key that has had fewer distinct items than the threshold asks is not
judged: none of its windows could be one). Later observations within a window's length
of the episode join it instead of starting another, so one attack gives one finding.
Reported episodes are remembered until ``retention_us`` of event time has passed, so
late flows never report them twice.

An episode is reported once it got no new evidence for ``quiet_us`` of the *log clock*
(the ``timestamp`` of the flow records, when Suricata wrote them), or at shutdown. Live,
that is the wall clock, and an attack is reported shortly after its last flow timed out.
Reading a capture, Suricata 7 stamps every flow record with the capture's first second
and logs most flows only at shutdown, in hash order: the log clock stands still, and
episodes wait for the end of input, with the whole attack as evidence.

Memory is bounded: bucket and episode sets are capped, old buckets and episodes are dropped by
event time, and beyond ``max_keys`` the least recently used key is dropped. Most keys
see one flow (a client and a server; every spoofed source of a flood), so a key's first
observation is kept as a plain tuple, which the garbage collector does not track.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sensors.analyzers.tally import (
    Bucket,
    Obs,
    Tally,
    as_tally,
    distinct_items,
    merge_into,
)

#: Windows are measured in this many buckets.
SPAN = 6
#: Distinct items an episode keeps, for exact counts in the evidence.
EPISODE_ITEMS = 65_536
#: Distinct items a bucket keeps. Before a window is judged (at the end of a batch) its
#: buckets gather the batch's flows, whose items must still be there for the evidence.
BUCKET_ITEMS = 4096


@dataclass(frozen=True, slots=True)
class Threshold:
    """When a window's tally is an episode: minimums, then ``accept`` on the whole tally."""

    min_flows: int = 1
    min_failed: int = 0
    min_items: int = 0
    min_bytes: int = 0
    accept: Callable[[Tally], bool] = lambda tally: True

    def could_cross(self, flows: int, failed: int, items_at_most: int, nbytes: int) -> bool:
        return (flows >= self.min_flows and failed >= self.min_failed
                and items_at_most >= self.min_items and nbytes >= self.min_bytes)  # fmt: skip

    def crossed(self, tally: Tally) -> bool:
        return self.could_cross(
            tally.flows, tally.failed, len(tally.items), tally.nbytes
        ) and self.accept(tally)


@dataclass(slots=True)
class Episode:
    """A reported (or to-be-reported) attack of one key."""

    key: Hashable
    tally: Tally
    touched_us: int  # the log clock when it last got evidence
    reported: bool = False


class EpisodeTracker:
    """Sliding windows per key with episode detection; see the module docstring."""

    def __init__(
        self, *, window_us: int, threshold: Threshold, quiet_us: int, retention_us: int,
        repeat_us: int, max_keys: int,
    ) -> None:  # fmt: skip
        self.window_us = window_us
        self.bucket_us = max(1, window_us // SPAN)
        self.threshold = threshold
        self.quiet_us, self.repeat_us, self.max_keys = quiet_us, repeat_us, max_keys
        self.retention_us = max(retention_us, window_us + quiet_us)
        self.watermark = 0  # event time: the latest flow start seen
        self.clock = 0  # log clock: the latest record timestamp seen
        self.late = 0
        # A flow that did not fail can cross no threshold that counts failures.
        self._only_failures = threshold.min_failed > 0
        # Whether one flow alone may be an episode (else keys with one flow are not judged).
        self._single_may_cross = (threshold.min_flows <= 1 and threshold.min_failed <= 1
                                  and threshold.min_items <= 1)  # fmt: skip
        # Per key, least recently used first: its buckets, or its only observation.
        self._keys: dict[Hashable, dict[int, Bucket] | Obs] = {}
        # With a minimum of distinct items: per key of two flows or more, the distinct items
        # it has had (up to that minimum). Fewer, and no window of it can cross.
        self._min_items = threshold.min_items if threshold.min_items > 1 else 0
        self._items: dict[Hashable, tuple[Hashable, ...]] = {}
        self._episodes: dict[Hashable, list[Episode]] = {}
        self._dirty: dict[Hashable, int | set[int]] = {}
        self._open: list[Episode] = []
        self._next_sweep = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Hashable, obs: Obs) -> None:
        """Count one flow for ``key`` (see :data:`Obs`)."""
        ts_us = obs[0]
        if ts_us > self.watermark:
            self.watermark = ts_us
        elif ts_us < self.watermark - self.retention_us:
            self.late += 1
            return
        if self._episodes:
            episodes = self._episodes.get(key)
            if episodes is not None:
                w = self.window_us
                for episode in episodes:
                    tally = episode.tally
                    first, last = tally.first_us, tally.last_us
                    # self._joins(tally, ts_us, ts_us), inline: floods join for every flow.
                    if first - w <= ts_us <= last + w and (
                        (ts_us if ts_us > last else last) - (ts_us if ts_us < first else first)
                        <= self.repeat_us
                    ):
                        tally.add(obs, EPISODE_ITEMS)
                        episode.touched_us = self.clock
                        return
        keys = self._keys
        entry = keys.pop(key, None)
        if entry is None:
            if len(keys) >= self.max_keys:
                self._drop_oldest()
            keys[key] = obs
            if not self._single_may_cross:
                return  # one flow crosses nothing: windows are judged around a second one
        else:
            buckets: dict[int, Bucket]
            if isinstance(entry, dict):
                buckets = entry
            else:  # the key's second flow
                buckets = {entry[0] // self.bucket_us: entry}
                if self._min_items:
                    self._items[key] = () if entry[5] is None else (entry[5],)
            keys[key] = buckets
            index = ts_us // self.bucket_us
            bucket = buckets.get(index)
            if bucket is None:
                buckets[index] = obs  # most buckets hold one flow: no tally for it
            elif bucket.__class__ is tuple:
                tally = buckets[index] = as_tally(bucket, BUCKET_ITEMS)  # type: ignore[arg-type]
                tally.add(obs, BUCKET_ITEMS)
            else:
                bucket.add(obs, BUCKET_ITEMS)  # type: ignore[union-attr]
            if self._min_items and self._too_few_items(key, obs[5]):
                return  # no window of this key can cross: nothing to judge
        if obs[2] or not self._only_failures:
            # Mark the bucket as changed (a set of indexes once a key has two).
            index = ts_us // self.bucket_us
            dirty = self._dirty.get(key)
            if dirty is None:
                self._dirty[key] = index
            elif dirty.__class__ is int:
                if dirty != index:
                    self._dirty[key] = {dirty, index}  # type: ignore[arg-type]
            else:
                dirty.add(index)  # type: ignore[union-attr]

    def _too_few_items(self, key: Hashable, item: Hashable) -> bool:
        """Count ``item`` among the key's distinct items; whether it has fewer than the
        threshold's minimum (then so has every window: they hold some of them)."""
        seen = self._items[key]
        if len(seen) < self._min_items and item is not None and item not in seen:
            seen = self._items[key] = (*seen, item)
        return len(seen) < self._min_items

    def due(self, clock_us: int) -> list[Episode]:
        """Detect in the windows changed since the last call; return the episodes that have
        been quiet since the log clock read ``clock_us`` (the batch's latest timestamp)."""
        self.clock = max(self.clock, clock_us)
        keys, single = self._keys, self._single_may_cross
        for key, dirty in self._dirty.items():
            # Most keys hold one flow, which crosses no threshold asking for more.
            if single or keys.get(key).__class__ is not tuple:
                self._detect(key, {dirty} if isinstance(dirty, int) else dirty)
        self._dirty.clear()
        if self.watermark >= self._next_sweep:
            self._sweep()
        ready: list[Episode] = []
        waiting: list[Episode] = []
        for episode in self._open:
            quiet = self.clock - episode.touched_us >= self.quiet_us
            (ready if quiet else waiting).append(episode)
        self._open = waiting
        for episode in ready:
            episode.reported = True
        return ready

    def flush(self) -> list[Episode]:
        """Every episode not yet reported (end of input)."""
        self.due(self.clock)
        ready, self._open = self._open, []
        for episode in ready:
            episode.reported = True
        return ready

    def _buckets(self, entry: dict[int, Bucket] | Obs) -> dict[int, Bucket]:
        if isinstance(entry, dict):
            return entry
        return {entry[0] // self.bucket_us: entry}

    def _joins(self, tally: Tally, lo: int, hi: int) -> bool:
        w = self.window_us
        return (tally.first_us - w <= hi and lo <= tally.last_us + w
                and max(hi, tally.last_us) - min(lo, tally.first_us) <= self.repeat_us)  # fmt: skip

    def _detect(self, key: Hashable, dirty: set[int]) -> None:
        entry = self._keys.get(key)
        if entry is None:
            return
        if isinstance(entry, tuple):
            failed, item = entry[2], entry[5]
            if not self.threshold.could_cross(1, failed, item is not None, entry[3]):
                return  # one flow is no attack unless a threshold says so
            entry = self._keys[key] = self._buckets(entry)
        # Only windows around a changed bucket are judged: counting the buckets within
        # their reach (not every bucket of a key seen for an hour) bounds what any can hold.
        lo, hi = min(dirty) - SPAN + 1, max(dirty) + SPAN - 1
        near = (entry.values() if len(entry) <= hi - lo + 1
                else [b for b in map(entry.get, range(lo, hi + 1)) if b is not None])  # fmt: skip
        flows = failures = items = nbytes = 0
        for bucket in near:
            if bucket.__class__ is tuple:
                flows += 1
                failures += bucket[2]  # type: ignore[index]
                items += bucket[5] is not None  # type: ignore[index]
                nbytes += bucket[3]  # type: ignore[index]
                continue
            flows += bucket.flows  # type: ignore[union-attr]
            failures += bucket.failed  # type: ignore[union-attr]
            items += len(bucket.items)  # type: ignore[union-attr]
            nbytes += bucket.nbytes  # type: ignore[union-attr]
        if not self.threshold.could_cross(flows, failures, items, nbytes):
            return  # most keys never come close: skip the windows
        least = self.threshold.min_items
        if least > 1 and distinct_items(near, least) < least:
            return  # the same few items in every bucket (one port failing all day)
        judged = lo - 1  # windows starting at or before this were judged and did not cross
        for index in sorted(dirty):
            if index not in entry:
                continue  # taken by an episode found earlier in this loop
            window, judged = self._crossing_window(entry, index, judged)
            if window is None:
                continue
            tally = Tally()
            for i in window:
                merge_into(tally, entry.pop(i), EPISODE_ITEMS)
            episode = Episode(key, tally, self.clock)
            self._absorb(entry, episode)
            self._episodes.setdefault(key, []).append(episode)
            self._open.append(episode)
            judged = lo - 1  # the buckets changed: every window is judged afresh

    def _crossing_window(self, buckets: dict[int, Bucket], index: int, judged: int
                         ) -> tuple[list[int] | None, int]:  # fmt: skip
        """Indexes of the first window around ``index`` that crosses the threshold, and the
        last window start judged. Windows starting at or before ``judged`` were judged for
        an earlier changed bucket, with the same buckets, and did not cross: skipped. Only
        a window whose counts, then distinct items, could cross is merged and judged whole.
        """
        first = max(index - SPAN + 1, judged + 1)
        counts: dict[int, tuple[int, int, int, int]] = {}
        for i in range(first, index + SPAN):
            bucket = buckets.get(i)
            if bucket is None:
                continue
            if bucket.__class__ is tuple:
                counts[i] = (1, bucket[2], bucket[5] is not None, bucket[3])  # type: ignore[index]
            else:
                counts[i] = (bucket.flows, bucket.failed, len(bucket.items),  # type: ignore[union-attr]
                             bucket.nbytes)  # type: ignore[union-attr]  # fmt: skip
        could_cross = self.threshold.could_cross
        min_items = self.threshold.min_items
        for start in range(first, index + 1):
            present = [i for i in range(start, start + SPAN) if i in counts]
            flows = failed = items = nbytes = 0
            for i in present:
                f, fail, n, b = counts[i]
                flows, failed, items, nbytes = flows + f, failed + fail, items + n, nbytes + b
            if not could_cross(flows, failed, items, nbytes):
                continue
            if min_items > 1 and distinct_items(map(buckets.get, present), min_items) < min_items:
                continue
            tally = Tally()
            for i in present:
                merge_into(tally, buckets[i], BUCKET_ITEMS * SPAN)
            if self.threshold.crossed(tally):
                return present, start
        return None, index

    def _absorb(self, buckets: dict[int, Bucket], episode: Episode) -> None:
        """Move the key's buckets near the episode into it."""
        changed = True
        while changed:
            changed = False
            for index in sorted(buckets):
                lo = index * self.bucket_us
                if self._joins(episode.tally, lo, lo + self.bucket_us - 1):
                    merge_into(episode.tally, buckets.pop(index), EPISODE_ITEMS)
                    changed = True

    def _sweep(self) -> None:
        """Forget buckets and reported episodes older than the retention (once a window:
        a pass reads every key, so memory may hold one window more than the retention)."""
        self._next_sweep = self.watermark + self.window_us
        cutoff = self.watermark - self.retention_us
        old = cutoff // self.bucket_us  # buckets before this index ended before the cutoff
        for key in list(self._keys):
            entry = self._keys[key]
            if isinstance(entry, tuple):
                if entry[0] // self.bucket_us < old:
                    del self._keys[key]
                continue
            for index in [i for i in entry if i < old]:
                del entry[index]
            if not entry:
                del self._keys[key]
                self._items.pop(key, None)
        for key in list(self._episodes):
            kept = [e for e in self._episodes[key] if not e.reported or e.tally.last_us >= cutoff]
            if kept:
                self._episodes[key] = kept
            else:
                del self._episodes[key]

    def _drop_oldest(self) -> None:
        key = next(iter(self._keys))
        del self._keys[key]
        self._dirty.pop(key, None)
        self._items.pop(key, None)
        # Its episodes stay: unreported ones are still reported.


def format_us(us: int) -> str:
    """Microseconds since the epoch as an EVE timestamp (UTC)."""
    moment = datetime.datetime.fromtimestamp(us / 1_000_000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
