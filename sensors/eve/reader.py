"""Reading complete lines from a growing EVE file, across rotation and truncation.

The reader never returns a partial line: an unterminated last line is read again on the
next call (Suricata is still writing it). Lines longer than ``max_line_bytes`` are skipped
with bounded memory and reported as bad lines, so one huge record cannot stop the sensor.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

logger = logging.getLogger(__name__)

#: A source's identity is a hash of its first line (at most this many bytes of it).
FINGERPRINT_BYTES = 4096
#: Bytes before a bookmark's offset that a resumed file must hold too.
TAIL_BYTES = 64
_READ_SIZE = 1 << 20
#: How much of an overlong line the dead-letter record keeps.
OVERLONG_KEEP = 64 * 1024
#: A line's length plus its newline: where the next line starts.
_PLUS_ONE = (1).__add__


@dataclass(slots=True)
class BadLine:
    """A line that is not usable as it is: too long, or unterminated at the end of a file."""

    offset: int
    reason: str
    head: bytes
    length: int


@dataclass(slots=True)
class ReadResult:
    """Complete lines ``(offset, bytes)`` and bad lines, up to position ``offset``."""

    lines: list[tuple[int, bytes]] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    offset: int = 0
    line: int = 0


def fingerprint_of(first_line: bytes, namespace: bytes = b"") -> bytes:
    """Identity of a source from its first line (within an optional namespace)."""
    prefix = namespace + b"\0" if namespace else b""
    return hashlib.sha256(prefix + first_line[:FINGERPRINT_BYTES]).digest()[:16]


class EveReader:
    """Reads one EVE file by path; reopens it when it is rotated or truncated."""

    def __init__(
        self, path: Path | str, *, max_line_bytes: int = 8 * 1024 * 1024, namespace: bytes = b""
    ) -> None:
        self.path = Path(path)
        # Sources with the same first line in different namespaces are different sources
        # (two analyses of one capture); the live sensor and ingest use none, so a copy or
        # a rotated file is recognised as the file it was.
        self.namespace = namespace
        self.max_line_bytes = max_line_bytes
        self._fh: int | None = None
        self.inode = 0
        self.offset = 0  # next byte to read from the file
        self.line = 0  # number of lines before ``offset``
        self.fingerprint: bytes | None = None
        self._first_line = b""
        self._buf = b""
        self._skipping: BadLine | None = None

    # -- opening -------------------------------------------------------------------------

    def open(self) -> bool:
        """Open the file and read its fingerprint; False while it has no complete line."""
        self.close()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        first = _first_line(fd)
        if first is None:
            os.close(fd)
            return False
        self._fh = fd
        self.inode = os.fstat(fd).st_ino
        self._first_line = first
        self.fingerprint = fingerprint_of(first, self.namespace)
        self.seek(0, 0)
        return True

    @property
    def is_open(self) -> bool:
        """Whether a file is open."""
        return self._fh is not None

    def seek(self, offset: int, line: int) -> None:
        """Continue reading at ``offset`` (a bookmark), which starts line number ``line``."""
        self.offset, self.line = offset, line
        self._buf = b""
        self._skipping = None

    def size(self) -> int:
        """Size of the open file."""
        assert self._fh is not None
        return os.fstat(self._fh).st_size

    def tail_hash(self, offset: int) -> int | None:
        """A hash of the bytes just before ``offset`` (None at 0, or where there are fewer):
        what a bookmark at ``offset`` checks a file by (sensors.eve.bookmark)."""
        assert self._fh is not None
        n = min(TAIL_BYTES, offset)
        data = os.pread(self._fh, n, offset - n) if n else b""
        if not data or len(data) < n:
            return None
        return int.from_bytes(hashlib.blake2b(data, digest_size=7).digest(), "big")

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            os.close(self._fh)
            self._fh = None

    # -- reading -------------------------------------------------------------------------

    def read(self, max_lines: int, *, final: bool = False) -> ReadResult:
        """Up to ``max_lines`` complete lines from the current position.

        ``final`` treats an unterminated last line as complete input that ended early
        (the writer is gone): it is returned as a bad line instead of waited for.
        """
        assert self._fh is not None, "open() first"
        result = ReadResult()
        start = self.offset - len(self._buf)
        if self._buf:
            data, self._buf = self._buf, b""
            start = self._split(data, start, result, max_lines)
        while len(result.lines) < max_lines:
            chunk = os.pread(self._fh, _READ_SIZE, self.offset)
            if not chunk:
                break
            self.offset += len(chunk)
            start = self._split(self._buf + chunk, start, result, max_lines)
        if final and not chunk_pending(result, max_lines):
            if self._skipping is not None:
                result.bad.append(self._skipping)
                self._skipping = None
                self.line += 1
            elif self._buf:
                self._flush_partial(start, result)
                start = self.offset
        # A bookmark must not point into an overlong line still being skipped: a restart
        # would read its tail as a line of its own.
        result.offset = start if self._skipping is None else self._skipping.offset
        result.line = self.line
        # Keep the unconsumed tail's position: the next read starts from ``start``.
        self.offset = start + len(self._buf)
        return result

    def _split(self, data: bytes, start: int, result: ReadResult, max_lines: int) -> int:
        """Cut ``data`` (which begins at file offset ``start``) into lines; return new start."""
        pos = 0
        lines = result.lines
        room = max_lines - len(lines)
        rest: bytes | None = None
        if self._skipping is None and room > 0:
            # The usual case, cut and numbered in C: no line too long, none being skipped.
            parts = data.split(b"\n", room)
            tail = parts.pop()
            if parts and max(map(len, parts)) <= self.max_line_bytes:
                lines.extend(zip(accumulate(map(_PLUS_ONE, map(len, parts)), initial=start),
                                 parts))  # fmt: skip
                pos = len(data) - len(tail)
                self.line += len(parts)
                rest = tail
        while len(lines) < max_lines:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            if self._skipping is not None:
                self._skipping.length += nl - pos
                result.bad.append(self._skipping)
                self._skipping = None
            elif nl - pos > self.max_line_bytes:
                head = data[pos : min(nl, pos + OVERLONG_KEEP)]
                result.bad.append(BadLine(start + pos, "too-long", head, nl - pos))
            else:
                # Empty lines too: they are bad input, counted as such by the decoder.
                lines.append((start + pos, data[pos:nl]))
            pos = nl + 1
            self.line += 1
            rest = None
        if rest is None:
            rest = data[pos:]
        if len(lines) >= max_lines and self._skipping is None:
            self._buf = rest
            return start + pos
        if self._skipping is None and len(rest) > self.max_line_bytes:
            self._skipping = BadLine(start + pos, "too-long", rest[:OVERLONG_KEEP], len(rest))
            rest = b""
        elif self._skipping is not None:
            self._skipping.length += len(rest)
            rest = b""
        if self._skipping is not None:
            # Skipped bytes are not buffered; resume after them.
            self._buf = b""
            return start + len(data)
        self._buf = rest
        return start + pos

    def _flush_partial(self, start: int, result: ReadResult) -> None:
        result.bad.append(BadLine(start, "unterminated", self._buf[:OVERLONG_KEEP], len(self._buf)))
        self._buf = b""
        self.line += 1

    # -- rotation ------------------------------------------------------------------------

    def replaced(self) -> str | None:
        """Why the path no longer names the open file ('rotated', 'truncated'), or None."""
        assert self._fh is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "rotated"
        if st.st_ino != self.inode:
            return "rotated"
        if st.st_size < self.offset or not self.starts_as_opened():
            return "truncated"
        return None

    def starts_as_opened(self) -> bool:
        """Whether the open file still begins with the line it began with when opened.

        False after a truncation (copytruncate), even one refilled beyond our offset.
        """
        assert self._fh is not None
        return os.pread(self._fh, len(self._first_line), 0) == self._first_line


def chunk_pending(result: ReadResult, max_lines: int) -> bool:
    """Whether a read stopped because it was full, not at the end of the file."""
    return len(result.lines) >= max_lines


def _first_line(fd: int) -> bytes | None:
    """The first line (up to the fingerprint size) if it is complete, else None."""
    data = os.pread(fd, FINGERPRINT_BYTES, 0)
    nl = data.find(b"\n")
    if nl >= 0:
        return data[:nl]
    if len(data) >= FINGERPRINT_BYTES:
        return data
    return None
