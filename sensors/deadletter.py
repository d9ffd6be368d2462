"""The dead-letter file: EVE lines that could not be used, kept whole for inspection."""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path
from typing import BinaryIO

import orjson

logger = logging.getLogger(__name__)


class DeadLetterFile:
    """Appends bad lines as JSON lines; ``(source, offset)`` identifies each one.

    A line can appear twice after a crash (it is written before its batch commits);
    readers deduplicate on ``(source, offset)``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = None

    def append(self, *, source: str, offset: int, reason: str, data: bytes, length: int) -> None:
        """Record one bad line."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for appends
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
        self._fh.write(orjson.dumps(record) + b"\n")

    def flush(self) -> None:
        """Make appended records durable before the batch that skipped them commits."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
