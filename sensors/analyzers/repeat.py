"""One finding per key and time window: the repeat gate the request analyzers share."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class RepeatGate:
    """Says whether a finding for ``key`` at ``ts`` is due: the first time, and again once
    ``window_us`` has passed since the last one reported. Remembers at most ``capacity``
    keys (the least recently reported go first)."""

    def __init__(self, window_us: int, capacity: int) -> None:
        self.window_us = window_us
        self.capacity = capacity
        self._last: OrderedDict[Hashable, int] = OrderedDict()

    def due(self, key: Hashable, ts: int) -> bool:
        """True (and the report noted) when a finding for ``key`` should be reported."""
        last = self._last.get(key)
        if last is not None and ts - last < self.window_us:
            return False
        self._last[key] = ts
        self._last.move_to_end(key)
        while len(self._last) > self.capacity:
            self._last.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._last)
