"""Opening SQLite connections to the store, and what a failed write tells the user."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from appliance.errors import StoreError


def write_error(path: Path, err: sqlite3.Error) -> str:
    """A message for a failed write that says what to check."""
    message = f"Cannot write to the store {path}: {err}"
    hint = disk_hint(path, err)
    if hint:
        message += (f"{hint}. Check the disk space and file-size limits (ulimit -f) of the "
                    "data directory; nothing after the last committed batch was stored, and a "
                    "restart resumes from there.")  # fmt: skip
    return message


def disk_hint(path: Path, err: BaseException) -> str:
    """`` (SQLITE_FULL; 0.0 MiB free on its file system: the disk is full)`` for an error
    that may come from the disk (SQLite says "disk I/O error" when a full disk stops it
    growing its journal); empty for others."""
    name = getattr(err, "sqlite_errorname", "") or ""
    if not (name in ("SQLITE_FULL", "SQLITE_CANTOPEN") or name.startswith("SQLITE_IOERR")
            or getattr(err, "errno", None) == errno.ENOSPC):  # fmt: skip
        return ""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return f" ({name or err.__class__.__name__}; free space unknown)"
    free = st.f_bavail * st.f_frsize / 1048576
    full = ": the disk is full" if free < 1 else ""
    return f" ({name or err.__class__.__name__}; {free:.1f} MiB free on its file system{full})"


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas every connection to the store uses."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            # 16 KiB pages: fewer splits for the append-mostly indexes and the chunk blobs
            # (takes effect only when the file is created).
            conn.execute("PRAGMA page_size = 16384")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA wal_autocheckpoint = 4000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -65536")
    except (sqlite3.Error, OSError) as err:
        raise StoreError(f"Cannot open the store {path}: {err}{disk_hint(path, err)}") from err
    return conn


@contextlib.contextmanager
def opening_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Held while a writer connects and migrates (a lock file beside the store).

    Writers hold it alone; a reader (``shared``) waits only until a store another process
    is creating has its schema, and never creates the lock file itself.
    """
    if shared:
        try:
            fd = os.open(f"{path}.lock", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # no writer ever opened it, or not ours to read: nothing to wait for
            yield
            return
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        except OSError as err:
            raise StoreError(f"Cannot open the store {path}: {err}") from err
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
