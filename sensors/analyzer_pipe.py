"""The EVE analyzers of a sensor or an ingest in a process of their own, fed batch by batch.

Decoding, analyzing and storing share one interpreter lock when the analyzers run in the
ingest's process: with every analyzer on, ingest ran at 60% of its rate without them on
two cores with one of them idle. Here the runner hands each batch's records (their ids
and raw lines) to a forked process and collects that batch's findings one batch later:
it reads and decodes the next batch meanwhile, hands it over, and writes the batch whose
findings came while the process analyzes the next. Each batch is written with its own
findings and bookmark in one transaction, exactly as with in-process analyzers, so a
kill loses nothing and a replay stores nothing twice.

The runner waits for a batch's findings before it hands over the next batch, so neither
side ever writes to the pipe while the other writes too. A process that dies is replaced
by the in-process analyzers (their time windows start again, as after a restart) and
the batch in flight is analyzed there: findings are never silently lost.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from typing import Any

import msgspec

from appliance.config import AppConfig
from appliance.events import EveHead, EveRecord, decode_line
from sensors.analyzers import REGISTRY, AnalyzerSet, load_analyzers
from sensors.overlap import fork_context, message_or_orphaned, stop_helper

logger = logging.getLogger(__name__)

_HEADS = msgspec.msgpack.Encoder()
_HEAD_LIST = msgspec.msgpack.Decoder(list[EveHead])


def runner_analyzers(cfg: AppConfig) -> AnalyzerSet:
    """The analyzers for an :class:`~sensors.runner.EveRunner`: in a process of their own
    where one can be forked (no other thread runs yet), else in this process."""
    if not any(getattr(cfg.analyzers, name).enabled for name in REGISTRY):
        return load_analyzers(cfg)
    ctx = fork_context()
    if ctx is None:
        return load_analyzers(cfg)
    return PipedAnalyzers(cfg, ctx)


def close_analyzers(analyzers: AnalyzerSet) -> None:
    """Stop the analyzers' process, if they run in one."""
    if isinstance(analyzers, PipedAnalyzers):
        analyzers.close()


class PipedAnalyzers(AnalyzerSet):
    """What the runner sees of the analyzers' process (:attr:`deferred`: a batch's
    findings come with :meth:`collect`, after :meth:`submit`)."""

    deferred = True

    def __init__(self, cfg: AppConfig, ctx: Any) -> None:
        super().__init__([])
        self.cfg = cfg
        self._local: AnalyzerSet | None = None
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(cfg, child, os.getpid()),
                                 name="spanwatch-analyzers", daemon=True)  # fmt: skip
        self._proc.start()
        child.close()
        self._in_flight: Sequence[EveRecord] | None = None
        self._started = False

    @property
    def pid(self) -> int | None:
        """The process's id while it serves."""
        return None if self._local is not None else int(self._proc.pid)

    def init(self) -> None:
        """Start the analyzers (at the start of a run)."""
        sent = self._local is None and self._send(("init",))
        self._started = True
        if not sent:
            assert self._local is not None
            self._local.init()

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """A batch's findings at once (for callers that do not defer)."""
        self.submit(records)
        return self.collect()

    def submit(self, records: Sequence[EveRecord]) -> None:
        """Hand a batch over; its findings come with the next :meth:`collect`."""
        assert self._in_flight is None, "collect() the batch in flight first"
        self._in_flight = records
        if self._local is None:
            ids, raws = [r.id for r in records], [r.raw for r in records]
            try:
                # Heads as msgpack (decoded without a second JSON parse), lines for what
                # else an analyzer reads (``record.data``).
                heads = _HEADS.encode([r.head for r in records])
            except (msgspec.EncodeError, OverflowError, TypeError):
                # A field msgpack cannot carry (an integer beyond 64 bits in a field kept
                # as is): the process decodes the lines themselves.
                self._send(("lines", ids, raws))
                return
            self._send(("batch", ids, [r.ts for r in records], heads, raws))

    def collect(self) -> list[bytes]:
        """The findings of the batch handed over last (waits for them)."""
        records, self._in_flight = self._in_flight, None
        if records is None:
            return []
        if self._local is None:
            reply = self._receive()
            if reply is not None:
                return reply  # type: ignore[no-any-return]
        assert self._local is not None
        return self._local.process(records)

    def shutdown(self) -> list[bytes]:
        """The findings the analyzers still hold (end of a run)."""
        findings = self.collect()
        if self._local is None and self._send(("shutdown",)):
            reply = self._receive()
            if reply is not None:
                return findings + list(reply)
        assert self._local is not None
        return findings + self._local.shutdown()

    def close(self) -> None:
        """Stop the process (when the sensor or the ingest stops)."""
        stop_helper(self._proc, self._conn, ("stop",), ask=self._local is None)

    # -- the pipe --------------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> bool:
        try:
            self._conn.send(message)
            return True
        except OSError:
            self._fall_back()
            return False

    def _receive(self) -> list[bytes] | None:
        try:
            return self._conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            self._fall_back()
            return None

    def _fall_back(self) -> None:
        """The process is gone: analyze here from now on."""
        if self._local is not None:
            return
        logger.error("The analyzers' process ended unexpectedly (exit code %s); analyzing "
                     "in the ingest's process from now on, with fresh time windows.",
                     self._proc.exitcode)  # fmt: skip
        self._local = load_analyzers(self.cfg)
        if self._started:
            self._local.init()


def _serve(cfg: AppConfig, conn: Any, parent: int) -> None:
    """The analyzers' process: batches in, findings out, in order."""
    # Ctrl-C and a stop (systemd signals the whole unit) are the parent's to handle: it
    # collects the findings the analyzers still hold, then says stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    analyzers = load_analyzers(cfg)
    try:
        while True:
            if not message_or_orphaned(conn, parent, 1.0):
                return
            message = conn.recv()
            kind = message[0]
            if kind == "batch":
                _, ids, stamps, heads, raws = message
                records = list(map(EveRecord, ids, raws, _HEAD_LIST.decode(heads), stamps))
                conn.send(analyzers.process(records))
            elif kind == "lines":
                conn.send(analyzers.process(list(map(decode_line, message[2], message[1]))))
            elif kind == "init":
                analyzers.init()
            elif kind == "shutdown":
                conn.send(analyzers.shutdown())
            else:
                return
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return
