"""The sensor loop: EVE reader -> decode -> analyzers -> sink, with bookmarks.

Delivery is at-least-once (the bookmark is written after, or with, its batch) and store
writes are idempotent (an event's id is its source and byte offset), so every EVE line
is stored exactly once whatever process is killed when.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import IngestConfig
from appliance.events import EveDecodeError, EveRecord, decode_line
from appliance.store import Bookmark, EventStore, event_id
from sensors.analyzers import AnalyzerSet
from sensors.analyzers.cleartext import redact_credentials
from sensors.deadletter import DeadLetterFile
from sensors.eve.bookmark import make_bookmark, resume, rotated_backlog
from sensors.eve.reader import EveReader, ReadResult, fingerprint_of
from sensors.ship import Sink

logger = logging.getLogger(__name__)

_LOG_EVERY_SECONDS = 60.0


@dataclass
class RunStats:
    """What one run of the loop did."""

    lines: int = 0
    stored: int = 0
    findings: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    source_ids: list[int] = field(default_factory=list)
    #: Lines not stored because ``skip`` said they were stored already (from another file).
    skipped: int = 0

    def add(self, other: RunStats) -> None:
        """Count another run's work in this one's (one capture's EVE files)."""
        self.lines += other.lines
        self.stored += other.stored
        self.findings += other.findings
        self.skipped += other.skipped
        for reason, count in other.bad.items():
            self.bad[reason] = self.bad.get(reason, 0) + count
        self.source_ids.extend(i for i in other.source_ids if i not in self.source_ids)

    @property
    def bad_total(self) -> int:
        """Lines sent to the dead letters."""
        return sum(self.bad.values())


@dataclass
class _Batch:
    """A batch read and decoded, to be written with its findings."""

    records: list[EveRecord]
    bookmark: Bookmark
    counters: dict[str, int]
    lines: int


class EveRunner:
    """Reads one EVE file (following it or to its end) into a sink."""

    def __init__(
        self,
        path: Path,
        *,
        store: EventStore,
        sink: Sink,
        analyzers: AnalyzerSet,
        dead_letters: DeadLetterFile,
        cfg: IngestConfig,
        follow: bool = False,
        poll_seconds: float = 0.2,
        stop: threading.Event | None = None,
        on_batch: Callable[[RunStats], None] | None = None,
        bookmark_path: Path | None = None,
        source_namespace: bytes = b"",
        wake: threading.Event | None = None,
        skip: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.reader = EveReader(
            path, max_line_bytes=cfg.max_line_bytes, namespace=source_namespace
        )
        self.bookmark_path = bookmark_path
        self.store, self.sink, self.analyzers = store, sink, analyzers
        self.dead_letters = dead_letters
        self.cfg = cfg
        self.follow = follow
        self.poll_seconds = poll_seconds
        self.stop = stop or threading.Event()
        # Set by the caller when ``until()`` turns true (the writer exited): an idle wait
        # ends at once instead of at the next poll.
        self.wake = wake
        # Lines to leave out (an analysis's other EVE files: records stored from the first).
        self.skip = skip
        self.on_batch = on_batch
        self.stats = RunStats()
        self._source = 0
        self._findings_source = 0
        # Deferred analyzers: the batch whose findings are being made (written once they are).
        self._pending: _Batch | None = None
        self._last_log = time.monotonic()

    def run(self, until: Callable[[], bool] | None = None, *, nested: bool = False) -> RunStats:
        """Read until the end (or, following, until ``stop`` is set or ``until()`` is true).

        ``nested`` runs share the caller's analyzers, which are neither started nor stopped.
        """
        if not nested:
            self.analyzers.init()
        while not self.stop.is_set():
            finishing = not self.follow or (until is not None and until())
            if not self.reader.is_open and not self._open(finishing):
                if finishing:
                    break
                self._idle()
                continue
            result = self.reader.read(self.cfg.batch_size, final=finishing)
            if (result.lines or result.bad) and not self.reader.starts_as_opened():
                # Truncated and refilled: what we read may be new content at the old
                # offset. The old tail lives on only in the copy; the new file is a new
                # source, read from its start.
                logger.info("EVE file %s was truncated; reopening.", self.reader.path)
                self._write_pending()
                self.reader.close()
                continue
            if result.lines or result.bad:
                self._handle(result)
                continue
            if finishing:
                break
            if self.reader.replaced() is not None:
                self._drain_rotated()
                continue
            self._log_progress()
            self._write_pending()
            # Idle: collect the writer's counts, and its error (a full disk) now rather
            # than at the next batch, which may never come.
            self.stats.stored += self.sink.flush()
            self._idle()
        self._finish(nested)
        return self.stats

    def _idle(self) -> None:
        """Wait a poll interval, or less when ``stop`` (or ``wake``) is set."""
        if self.wake is None:
            self.stop.wait(self.poll_seconds)
        elif not self.stop.is_set():
            self.wake.wait(self.poll_seconds)

    # -- steps -----------------------------------------------------------------------

    def _open(self, finishing: bool) -> bool:
        self._write_pending()  # under the source it was read from
        if not self.reader.open():
            if finishing and self.reader.path.exists() and self.reader.path.stat().st_size:
                logger.warning("EVE file %s has no complete line.", self.reader.path)
            return False
        self._catch_up_rotated()
        if self.stop.is_set():
            # Stopped during the catch-up: reading on in the new file would make its
            # bookmark the latest, and the rest of the rotated file would be forgotten.
            self.reader.close()
            return False
        self._source = resume(self.reader, self.store)
        assert self.reader.fingerprint is not None
        derived = fingerprint_of(b"findings:" + self.reader.fingerprint)
        self._findings_source = self.store.source_id(derived, f"{self.reader.path}#findings")
        self.stats.source_ids.extend([self._source, self._findings_source])
        return True

    def _catch_up_rotated(self) -> None:
        """Read rotated files with lines never read (the sensor was down at rotation)."""
        for previous in rotated_backlog(self.reader, self.store):
            if self.stop.is_set():
                return
            logger.info("Reading the rest of rotated file %s first.", previous)
            EveRunner(
                Path(previous), store=self.store, sink=self.sink, analyzers=self.analyzers,
                dead_letters=self.dead_letters, cfg=self.cfg, follow=False, stop=self.stop,
                bookmark_path=self.reader.path,
            ).run(nested=True)  # fmt: skip

    def _drain_rotated(self) -> None:
        """The file was rotated or truncated: finish the old one, then reopen the path.

        A truncated file's old content is gone (what is there now belongs to the new
        source). A renamed file may still get lines, even the rest of a half-written one,
        until Suricata reopens its log: its unterminated tail is left for the catch-up
        when the new file is opened (``_catch_up_rotated``), not dead-lettered now.
        """
        why = self.reader.replaced()
        logger.info("EVE file %s was %s; reopening.", self.reader.path, why)
        while why == "rotated":
            result = self.reader.read(self.cfg.batch_size)
            if not (result.lines or result.bad):
                break
            self._handle(result)
        self._write_pending()
        self.reader.close()

    def _handle(self, result: ReadResult) -> None:
        counters: dict[str, int] = {}
        records = self._decode(result, counters)
        for bad in result.bad:
            self._dead_letter(bad.offset, bad.reason, bad.head, bad.length, counters)
        if counters:
            self.dead_letters.flush()
        bookmark = make_bookmark(self.reader, self._source, result, self.bookmark_path)
        batch = _Batch(records, bookmark, counters, len(result.lines))
        if not self.analyzers.deferred:
            self.analyzers.submit(records)
            self._pending = batch
            self._write_pending()  # in-process analyzers: the findings are in already
            return
        # The analyzers' process makes this batch's findings while the previous batch, whose
        # findings are in, is written (with them) and the next one is read and decoded.
        previous, self._pending = self._pending, batch
        found = self.analyzers.collect() if previous is not None else []
        self.analyzers.submit(records)
        if previous is not None:
            self._write(previous, found)

    def _write_pending(self) -> None:
        batch, self._pending = self._pending, None
        if batch is not None:
            self._write(batch, self.analyzers.collect())

    def _write(self, batch: _Batch, raw_findings: Sequence[bytes]) -> None:
        """A batch with its findings and its bookmark, in one transaction of the sink."""
        findings = self._findings(raw_findings)
        # Passwords Suricata wrote (FTP PASS, Authorization, payloads) never reach the store;
        # the analyzers saw them only to name the user.
        records = [redact_credentials(r) for r in batch.records]
        self.stats.stored += self.sink.write(records + findings, batch.bookmark, batch.counters)
        self.stats.lines += batch.lines
        self.stats.findings += len(findings)
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _decode(self, result: ReadResult, counters: dict[str, int]) -> list[EveRecord]:
        records = []
        base = event_id(self._source, 0)
        lines = result.lines
        if self.skip is not None:
            lines = [line for line in lines if not self.skip(line[1])]
            self.stats.skipped += len(result.lines) - len(lines)
        for offset, raw in lines:
            try:
                records.append(decode_line(raw, base | offset))
            except EveDecodeError as err:
                self._dead_letter(offset, err.reason, raw, len(raw), counters)
        return records

    def _dead_letter(
        self, offset: int, reason: str, data: bytes, length: int, counters: dict[str, int]
    ) -> None:
        self.dead_letters.append(
            source=str(self.reader.path), offset=offset, reason=reason, data=data, length=length
        )
        key = f"dead_letter.{reason}"
        counters[key] = counters.get(key, 0) + 1
        self.stats.bad[reason] = self.stats.bad.get(reason, 0) + 1
        if self.stats.bad_total <= 10 or self.stats.bad_total % 1000 == 0:
            logger.warning(
                "Bad EVE line sent to the dead letters: path=%s offset=%d reason=%s total=%d.",
                self.reader.path, offset, reason, self.stats.bad_total,
            )  # fmt: skip

    def _findings(self, raws: Sequence[bytes]) -> list[EveRecord]:
        """Findings get content-derived ids, so a replayed batch yields the same ids."""
        out = []
        base = event_id(self._findings_source, 0)
        for raw in raws:
            offset = int.from_bytes(hashlib.sha256(raw).digest()[:5], "big")
            try:
                out.append(decode_line(raw, base | offset))
            except EveDecodeError:
                logger.exception("An analyzer emitted an invalid finding: %r.", raw[:200])
        return out

    def _finish(self, nested: bool) -> None:
        self._write_pending()
        findings = [] if nested else self._findings(self.analyzers.shutdown())
        # Findings belong to the last file opened, even when it was closed since (rotated
        # away at the very end); with no file ever opened there are none.
        if findings and self._findings_source:
            self.stats.stored += self.sink.write(findings, None, {})
            self.stats.findings += len(findings)
        self.stats.stored += self.sink.flush()
        self.reader.close()
        self.dead_letters.flush()

    def _log_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_SECONDS:
            self._last_log = now
            logger.info(
                "Ingest counters: path=%s lines=%d stored=%d findings=%d bad=%d.",
                self.reader.path, self.stats.lines, self.stats.stored, self.stats.findings,
                self.stats.bad_total,
            )  # fmt: skip
