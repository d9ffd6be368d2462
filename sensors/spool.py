"""The remote sensor's disk buffer: batches the center has not acknowledged yet.

One file per batch (its metadata, then the compressed body exactly as it is posted),
named by a sequence number so they are sent oldest first, also after a restart. Files
are written without fsync: a batch whose bookmark never advanced is read again from the
EVE file anyway, and a file cut short by a crash is recognised and discarded. When the
byte budget is exhausted the oldest batches are dropped, and the caller counts them.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_SUFFIX = ".batch"
_HEAD = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One buffered batch."""

    seq: int
    path: Path
    size: int
    records: int
    spooled_at: int  # UTC µs


@dataclass(frozen=True, slots=True)
class LoadedBatch:
    """A buffered batch read back: what to post, and what to do once acknowledged."""

    entry: SpoolEntry
    meta: dict[str, Any]
    body: bytes


class Spool:
    """Batches on disk, oldest first, within ``budget`` bytes."""

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder = Path(folder)
        self.budget = budget
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._lock = threading.Lock()
        self._entries: list[SpoolEntry] = []
        self._bytes = 0
        self._next = 1
        #: Per source id, the furthest bookmark offset among the batches found at start.
        self.high_water: dict[int, int] = {}
        self._load()

    def _load(self) -> None:
        for path in sorted(self.folder.glob("*" + _SUFFIX)):
            try:
                seq = int(path.stem.split("-")[0])
                meta = self._read(path)[0]
            except (ValueError, OSError) as err:
                logger.warning("Discarding an unreadable buffered batch: path=%s error=%s.",
                               path, err)  # fmt: skip
                path.unlink(missing_ok=True)
                continue
            size = path.stat().st_size
            mark = meta.get("bookmark")
            if isinstance(mark, dict) and "source_id" in mark and "offset" in mark:
                source, offset = int(mark["source_id"]), int(mark["offset"])
                self.high_water[source] = max(offset, self.high_water.get(source, 0))
            self._entries.append(SpoolEntry(seq, path, size, int(meta.get("records", 0)),
                                            int(meta.get("spooled_at", 0))))  # fmt: skip
            self._bytes += size
            self._next = max(self._next, seq + 1)
        for tmp in self.folder.glob(".tmp-*"):
            tmp.unlink(missing_ok=True)
        if self._entries:
            logger.info("Buffered batches from the last run: count=%d bytes=%d.",
                        len(self._entries), self._bytes)  # fmt: skip

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, Any], bytes]:
        data = path.read_bytes()
        if len(data) < _HEAD.size:
            raise ValueError("too short")
        (length,) = _HEAD.unpack_from(data)
        meta = json.loads(data[_HEAD.size:_HEAD.size + length])
        body = data[_HEAD.size + length:]
        if len(body) != int(meta["body_bytes"]):
            raise ValueError("cut short")
        return meta, body

    # -- adding and dropping -------------------------------------------------------------

    def add(self, meta: dict[str, Any], body: bytes) -> list[SpoolEntry]:
        """Buffer a batch; returns the oldest batches dropped to stay within the budget."""
        meta = {**meta, "body_bytes": len(body), "spooled_at": int(time.time() * 1e6)}
        head = json.dumps(meta).encode()
        with self._lock:
            seq = self._next
            self._next += 1
        path = self.folder / f"{seq:016d}{_SUFFIX}"
        tmp = self.folder / f".tmp-{seq}"
        with tmp.open("wb") as out:
            out.write(_HEAD.pack(len(head)))
            out.write(head)
            out.write(body)
        os.replace(tmp, path)
        entry = SpoolEntry(seq, path, path.stat().st_size, int(meta.get("records", 0)),
                           meta["spooled_at"])  # fmt: skip
        with self._lock:
            self._entries.append(entry)
            self._bytes += entry.size
            return self._enforce_budget(keep=entry)

    def _enforce_budget(self, keep: SpoolEntry) -> list[SpoolEntry]:
        dropped = []
        while self._bytes > self.budget and self._entries and self._entries[0] is not keep:
            oldest = self._entries.pop(0)
            oldest.path.unlink(missing_ok=True)
            self._bytes -= oldest.size
            dropped.append(oldest)
        return dropped

    def remove(self, entry: SpoolEntry) -> bool:
        """Forget a batch once acknowledged; False if it was dropped meanwhile."""
        with self._lock:
            try:
                self._entries.remove(entry)
            except ValueError:
                return False
            self._bytes -= entry.size
        entry.path.unlink(missing_ok=True)
        return True

    def replace(self, entry: SpoolEntry, parts: list[tuple[dict[str, Any], bytes]]) -> None:
        """Put ``parts`` (a split batch) in place of ``entry``, in order, still oldest."""
        new = []
        for i, (meta, body) in enumerate(parts):
            meta = {**meta, "body_bytes": len(body), "spooled_at": entry.spooled_at}
            head = json.dumps(meta).encode()
            # "<seq>-<i>" sorts after "<seq-1>..." and before "<seq+1>", also on reload.
            final = entry.path.with_name(f"{entry.path.stem}-{i:03d}{_SUFFIX}")
            tmp = self.folder / f".tmp-{entry.seq}-{i}"
            with tmp.open("wb") as out:
                out.write(_HEAD.pack(len(head)) + head + body)
            os.replace(tmp, final)
            new.append(SpoolEntry(entry.seq, final, final.stat().st_size,
                                  int(meta.get("records", 0)), entry.spooled_at))  # fmt: skip
        with self._lock:
            at = self._entries.index(entry) if entry in self._entries else 0
            if entry in self._entries:
                self._entries.remove(entry)
                self._bytes -= entry.size
            self._entries[at:at] = new
            self._bytes += sum(part.size for part in new)
        entry.path.unlink(missing_ok=True)

    # -- reading -------------------------------------------------------------------------

    def oldest(self) -> LoadedBatch | None:
        """The oldest buffered batch, read back (an unreadable one is discarded)."""
        while True:
            with self._lock:
                if not self._entries:
                    return None
                entry = self._entries[0]
            try:
                meta, body = self._read(entry.path)
            except (ValueError, OSError) as err:
                logger.warning("Discarding an unreadable buffered batch: path=%s error=%s.",
                               entry.path, err)  # fmt: skip
                self.remove(entry)
                continue
            return LoadedBatch(entry, meta, body)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def count(self) -> int:
        return len(self._entries)

    def oldest_spooled_at(self) -> int | None:
        """When the oldest unacknowledged batch was read (UTC µs), if any."""
        with self._lock:
            return self._entries[0].spooled_at if self._entries else None
