"""Analyses that did not finish: a killed ``spanwatch analyze`` leaves no half analysis.

An analysis holds a lock on a file in its run folder while it runs; the kernel releases
it when the process ends, however it ends (SIGKILL, a crash, the machine's OOM killer).
An analysis that ends by itself removes the file once every capture is recorded in the
store, or leaves it, free, when it failed. A run folder whose lock file is there and
free belongs to an analysis that is over without having finished: the next analysis of
the data directory, or the next retention pass (``spanwatch retention``, the core's daily
job), removes the events it stored (their sources are named after the run folder) and the
folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from appliance.errors import StoreError
from appliance.store import EventStore

logger = logging.getLogger(__name__)

LOCK_NAME = ".analysis.lock"

#: Lock files open in this process: a forked helper closes its copies at once, or the lock
#: would outlive a killed analysis for as long as its helpers take to notice.
_HELD: set[int] = set()


def _close_held() -> None:
    for fd in _HELD:
        os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held)


class RunLock:
    """The lock an analysis holds on its run folder while it runs."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new run: no one else has it
        _HELD.add(self._fd)

    def release(self, *, finished: bool) -> None:
        """The analysis ends: finished (every capture recorded), or not (what it stored
        is removed by the next analysis, if its own clean-up did not already)."""
        if self._fd is None:
            return
        if finished:
            self.path.unlink(missing_ok=True)
        _HELD.discard(self._fd)
        os.close(self._fd)
        self._fd = None


def discard(store: EventStore, source_ids: Sequence[int]) -> None:
    """Remove what a failed analysis stored. Where the store fails again (a full disk),
    the failure that stopped the analysis is what is reported: the lock file left in its
    run folder has the next analysis remove it."""
    if not source_ids:
        return
    try:
        removed = store.delete_sources(source_ids)
    except StoreError as err:
        logger.error("What the failed analysis stored could not be removed now (%s); the "
                     "next analysis of this data directory removes it.", err)  # fmt: skip
        return
    logger.info("Removed %d events of a failed analysis from the store.", removed)


def run_marker(run_dir: Path) -> str:
    """What the source names of an analysis's run contain (its EVE files live there)."""
    return f"{os.sep}runs{os.sep}{run_dir.name}{os.sep}"


def roll_back_unfinished(store: EventStore, runs_dir: Path, current: Path | None = None
                         ) -> None:  # fmt: skip
    """Remove the events and the folders of analyses over without having finished (but for
    the ``current`` one's)."""
    for lock in sorted(runs_dir.glob(f"*/{LOCK_NAME}")):
        run = lock.parent
        if current is not None and run.name == current.name:
            continue
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue  # removed meanwhile (another analysis rolled it back)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # an analysis that still runs
            try:
                sources = store.sources_named(run_marker(run))
                removed = store.delete_sources(sources) if sources else 0
            except StoreError as err:  # (a full disk still): the next pass tries again
                logger.warning("The analysis in %s did not finish; what it stored could not "
                               "be removed yet: %s", run, err)  # fmt: skip
                continue
            logger.warning("The analysis in %s did not finish: removed the %d events it had "
                           "stored, and its folder.", run, removed)  # fmt: skip
            shutil.rmtree(run, ignore_errors=True)
        finally:
            os.close(fd)
