"""The EVE analyzers of an offline analysis in a process of their own.

Decoding, analyzing and storing share one interpreter lock in the ingest process, so the
second core sits idle once Suricata has exited. For ``spanwatch analyze`` the analyzers
read the EVE file themselves in a second process, forked before any database is opened
(a forked SQLite connection is unsafe) or thread started: the same lines in the same
order as the ingest reads, since the file is complete before they finish it. They hand
back only their findings, which the ingest stores as before; a finding's id derives from
its content, so where it joins the stream does not change what is stored. Record ids are
offsets here (analyzers use ids only to cache per record).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ApplianceError
from appliance.events import EveDecodeError, EveRecord, decode_line
from sensors.analyzers import REGISTRY, AnalyzerSet
from sensors.eve.reader import EveReader
from sensors.overlap import fork_context, lower_priority, message_or_orphaned, stop_helper

logger = logging.getLogger(__name__)

#: How often the analyzers' process looks for more lines while Suricata writes.
POLL_S = 0.05


class AnalyzerProcessError(ApplianceError):
    """The analyzers' process ended without handing back its findings."""


class AnalyzerProcess:
    """A process that runs the EVE analyzers over one EVE file after another.

    Forked when created, so create it before opening a database or starting a thread.
    Where it cannot be (another thread runs, no fork, no analyzer enabled),
    :meth:`analyzers_for` gives the usual in-process :class:`AnalyzerSet`.
    """

    def __init__(self, cfg: AppConfig) -> None:
        self.cfg = cfg
        self._proc: Any = None
        self._conn: Any = None
        enabled = any(getattr(cfg.analyzers, name).enabled for name in REGISTRY)
        ctx = fork_context() if enabled else None
        if ctx is None:
            return
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(cfg, child, os.getpid()),
                                 name="spanwatch-analyzers", daemon=True)  # fmt: skip
        self._proc.start()
        child.close()

    @property
    def pid(self) -> int | None:
        """The process's id while it runs."""
        return None if self._proc is None else int(self._proc.pid)

    def analyzers_for(self, eve: Path, *, max_line_bytes: int, batch_size: int) -> AnalyzerSet:
        """The analyzers for the runner that ingests ``eve`` (one file at a time)."""
        from sensors.analyzers import load_analyzers

        if self._proc is None:
            return load_analyzers(self.cfg)
        return RemoteAnalyzers(self._conn, eve, max_line_bytes, batch_size)

    def close(self) -> None:
        """Stop the process (after the last file, or when the analysis failed)."""
        if self._proc is None:
            return
        stop_helper(self._proc, self._conn, None)
        self._proc = None


class RemoteAnalyzers(AnalyzerSet):
    """What the runner sees of the analyzers' process: findings as they come."""

    def __init__(self, conn: Any, eve: Path, max_line_bytes: int, batch_size: int) -> None:
        super().__init__([])
        self._conn = conn
        self._job = (str(eve), max_line_bytes, batch_size)

    def init(self) -> None:
        """Start the analyzers on the file."""
        self._send(self._job)

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """The findings that have arrived (the process reads the file on its own)."""
        findings: list[bytes] = []
        while self._conn.poll():
            findings += self._receive()
        return findings

    def shutdown(self) -> list[bytes]:
        """The file is complete: the process reads the rest and hands back every finding."""
        self._send("finish")
        findings: list[bytes] = []
        while True:
            message = self._receive(final=True)
            if message is None:
                return findings
            findings += message

    def _send(self, message: Any) -> None:
        try:
            self._conn.send(message)
        except OSError as err:
            raise _ended() from err

    def _receive(self, final: bool = False) -> Any:
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError) as err:
            raise _ended() from err
        if kind == "done":
            if not final:
                raise AnalyzerProcessError("The analyzers' process finished too early.")
            return None
        return payload


def _ended() -> AnalyzerProcessError:
    return AnalyzerProcessError(
        "The analyzers' process ended unexpectedly; its findings are lost (see the log)."
    )


def _serve(cfg: AppConfig, conn: Any, parent: int) -> None:
    """The analyzers' process: one job (an EVE file) after another, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # (the parent's may raise; a stop ends it)
    from sensors.analyzers import load_analyzers

    lower_priority()
    # The first file's analyzers are made ready before it comes (while Suricata loads its
    # rules): a small capture's analysis would wait for them. The next files' (unix-socket
    # mode) are made when they come, not after the last one, as the analysis ends.
    first = load_analyzers(cfg)
    first.init()
    analyzers: AnalyzerSet | None = first
    try:
        while True:
            if not message_or_orphaned(conn, parent, 0.5):
                return
            job = conn.recv()
            if job is None:
                return
            if analyzers is None:
                analyzers = load_analyzers(cfg)
                analyzers.init()
            path, max_line_bytes, batch_size = job
            if not _analyze_file(analyzers, conn, Path(path), max_line_bytes, batch_size,
                                 parent):  # fmt: skip
                return
            analyzers = None
    except (EOFError, BrokenPipeError):
        return  # the parent is gone


def _analyze_file(analyzers: AnalyzerSet, conn: Any, path: Path, max_line_bytes: int,
                  batch_size: int, parent: int) -> bool:  # fmt: skip
    """Follow ``path`` until the parent says it is complete; False if told to stop."""
    reader = EveReader(path, max_line_bytes=max_line_bytes)
    finishing = False
    try:
        while True:
            if not finishing and conn.poll():
                message = conn.recv()
                if message is None:
                    return False
                finishing = True
            if not reader.is_open and not reader.open():
                if finishing:
                    break
                if os.getppid() != parent:
                    return False  # (no line yet, and the analysis is gone)
                conn.poll(POLL_S)
                continue
            result = reader.read(batch_size, final=finishing)
            if result.lines:
                findings = analyzers.process(_decode(result.lines))
                if findings:
                    conn.send(("findings", findings))
                continue
            if finishing:
                break
            if os.getppid() != parent:
                return False
            conn.poll(POLL_S)  # wakes at once when the parent says the file is complete
        conn.send(("findings", analyzers.shutdown()))
        conn.send(("done", None))
        return True
    finally:
        reader.close()


def _decode(lines: Sequence[tuple[int, bytes]]) -> list[EveRecord]:
    """The records the ingest decodes too (it dead-letters the rest)."""
    records = []
    for offset, raw in lines:
        try:
            records.append(decode_line(raw, offset))
        except EveDecodeError:
            continue
    return records
