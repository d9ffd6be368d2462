"""Bookmarks: where reading of an EVE source resumes after a restart.

A source is identified by its first line, not its path, so a renamed (rotated) or copied
file resumes where it stopped and is never stored twice. A bookmark is trusted only if
the file is still at least as long as the bookmarked offset.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from appliance.errors import StoreError
from appliance.store import Bookmark, EventStore
from sensors.eve.reader import EveReader, ReadResult, fingerprint_of

logger = logging.getLogger(__name__)


def resume(reader: EveReader, store: EventStore) -> int:
    """Register the reader's source, seek to its bookmark, and return the source id.

    A file that begins as a bookmarked one does, with other bytes before the bookmark's
    offset, is another file (two outputs of one Suricata that begin with the same record),
    not a copy to read on from there: it is a source of its own, a twin, whose fingerprint
    derives from the first's (the same again for the same file).
    """
    assert reader.fingerprint is not None
    first = reader.fingerprint
    for twin in range(_MAX_TWINS):
        fingerprint = first if twin == 0 else fingerprint_of(b"twin %d\0" % twin + first)
        source_id = store.source_id(fingerprint, str(reader.path))
        saved = store.bookmark(source_id)
        if saved is None or not _another_file(reader, saved):
            reader.fingerprint = fingerprint
            _seek(reader, saved)
            return source_id
        logger.info("%s begins as %s does, but is another file: a source of its own.",
                    reader.path, saved.path)  # fmt: skip
    raise StoreError(f"{reader.path}: {_MAX_TWINS} files begin with its first line; the store "
                     "takes no more")  # fmt: skip


#: Different files that may begin with one line (each is a source of its own).
_MAX_TWINS = 64


def _another_file(reader: EveReader, saved: Bookmark) -> bool:
    """Whether the open file holds other bytes before the bookmark's offset than the file
    bookmarked did (a file of the same inode, or an older bookmark, is taken to be it)."""
    if saved.tail is None or saved.inode == reader.inode or reader.size() < saved.offset:
        return False
    return reader.tail_hash(saved.offset) != saved.tail


def _seek(reader: EveReader, saved: Bookmark | None) -> None:
    if saved is None:
        reader.seek(0, 0)
        return
    size = reader.size()
    if size >= saved.offset:
        logger.info(
            "Resuming %s at offset=%d line=%d.", reader.path, saved.offset, saved.line
        )
        reader.seek(saved.offset, saved.line)
    else:
        logger.warning(
            "Bookmark of %s is past its end (offset=%d size=%d); reading it from the start.",
            reader.path, saved.offset, size,
        )  # fmt: skip
        reader.seek(0, 0)


def make_bookmark(
    reader: EveReader, source_id: int, result: ReadResult, path: Path | None = None
) -> Bookmark:
    """The bookmark after ``result`` has been stored.

    ``path`` is the path the sensor follows, when it reads a rotated copy of it: a restart
    in the middle of the catch-up finds the rotated file again through it.
    """
    return Bookmark(
        path=str(path or reader.path),
        inode=reader.inode,
        offset=result.offset,
        size=reader.size(),
        line=result.line,
        source_id=source_id,
        tail=reader.tail_hash(result.offset),
    )


_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4")


def rotated_backlog(reader: EveReader, store: EventStore) -> list[str]:
    """Rotated copies of the file (``eve.json.1``, ...) holding lines never read, oldest first.

    When the sensor was down while Suricata rotated its log, the last bookmark for this
    path points at a file that now lives under another name, and any file rotated in and
    out after it was never opened. Both are read before the current file; re-reading a
    file already stored costs time but stores nothing twice.
    """
    last = store.latest_bookmark(str(reader.path))
    if last is None:
        return []
    siblings = []
    for candidate in _siblings(reader):
        try:
            st = candidate.stat()
        except OSError:
            continue
        siblings.append((st.st_mtime, st.st_ino, st.st_size, candidate))
    marked = [s for s in siblings if s[1] == last.inode]
    if not marked:
        return []
    since = marked[0][0]
    backlog = [s for s in siblings if s[1] != last.inode and s[0] >= since and s[1] != reader.inode]
    out = [str(marked[0][3])] if marked[0][2] > last.offset else []
    return out + [str(s[3]) for s in sorted(backlog)]


def _siblings(reader: EveReader) -> list[Path]:
    folder, name = reader.path.parent, reader.path.name
    return [
        folder / entry
        for entry in sorted(os.listdir(folder))
        if entry.startswith(name) and entry != name and not entry.endswith(_COMPRESSED)
    ]
