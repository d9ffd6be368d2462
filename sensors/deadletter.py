"""The dead-letter file: EVE lines that could not be used, kept whole for inspection."""

from __future__ import annotations

import base64
import logging
import os
import time
from io import FileIO
from pathlib import Path

import orjson

from appliance.errors import StoreError

logger = logging.getLogger(__name__)


class DeadLetterFile:
    """Appends bad lines as JSON lines; ``(source, offset)`` identifies each one.

    A line can appear twice after a crash (it is written before its batch commits);
    readers deduplicate on ``(source, offset)``. A record torn by a full disk stays an
    unparsable line of its own: readers skip it (its batch never committed, so the
    record is written again whole on the next run).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: FileIO | None = None

    def append(self, *, source: str, offset: int, reason: str, data: bytes, length: int) -> None:
        """Record one bad line; a write failure (disk full) raises :class:`StoreError`."""
        try:
            text: str | None = data.decode("utf-8")
            encoded = None
        except UnicodeDecodeError:
            text, encoded = None, base64.b64encode(data).decode("ascii")
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": source,
            "offset": offset,
            "reason": reason,
            "length": length,
            "truncated": length > len(data),
            "line": text,
            "line_base64": encoded,
        }
        try:
            self._write(orjson.dumps(record) + b"\n")
        except OSError as err:
            raise StoreError(f"Cannot write the dead-letter file {self.path}: {err}") from err

    def _write(self, data: bytes) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: one write per record, nothing left in a buffer after a failure.
            self._fh = open(self.path, "a+b", buffering=0)  # noqa: SIM115 - kept open
            if self._fh.tell() and os.pread(self._fh.fileno(), 1, self._fh.tell() - 1) != b"\n":
                data = b"\n" + data  # end a record torn by a full disk
        view = memoryview(data)
        while view:
            view = view[self._fh.write(view) or 0 :]

    def flush(self) -> None:
        """Make appended records durable before the batch that skipped them commits."""
        if self._fh is not None:
            try:
                os.fsync(self._fh.fileno())
            except OSError as err:
                raise StoreError(f"Cannot write the dead-letter file {self.path}: {err}") from err

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
