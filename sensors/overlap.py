"""Work of an offline analysis that runs beside Suricata instead of after it.

``spanwatch analyze`` is measured against ``suricata -r`` alone, so what does not need
Suricata's output starts as soon as Suricata does: the packet analyzers read the capture
file itself (:class:`PacketPass`, a thread). The traffic rollups and the asset
inventory, which read the store by a cursor as ``spanwatch core`` does, follow the ingest
from a process of their own (:class:`StoreFollower`, also beside ``spanwatch ingest``), so
they use the core the ingest leaves idle instead of running after it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import StoreError

logger = logging.getLogger(__name__)

#: Niceness of the work beside Suricata: on two cores Suricata and the ingest come first,
#: and what they leave idle goes to the helpers (on a busy machine they still finish).
HELPER_NICENESS = 10

#: How often the inventory process looks for new chunks while the ingest runs (each look
#: costs a few queries; the rest is read at once when the analysis finishes).
FOLLOW_POLL_S = 0.2


class PacketPass:
    """The packet analyzers over each capture, in order, in a thread of their own.

    Their findings are stored by the analysis after its EVE ingest (under the packet
    source, as before); :meth:`findings` waits for one capture's and re-raises its error.
    """

    def __init__(self, cfg: AppConfig, paths: Sequence[Path]) -> None:
        self._futures: list[Future[list[bytes]]] = [Future() for _ in paths]
        self._thread = threading.Thread(
            target=self._run, args=(cfg, list(paths)), name="packet-analyzers", daemon=True
        )
        self._thread.start()

    def _run(self, cfg: AppConfig, paths: list[Path]) -> None:
        from sensors.analyzers.packet import load_packet_analyzers
        from sensors.capture import analyze_packets

        # Not niced: it shares the ingest's interpreter lock, so it should be done while
        # the ingest still waits for Suricata's output, not compete with it afterwards.
        for path, future in zip(paths, self._futures):
            try:
                analyzers = load_packet_analyzers(cfg)
                future.set_result(analyze_packets(path, analyzers) if analyzers else [])
            except BaseException as err:  # handed to the analysis by findings()
                future.set_exception(err)

    def findings(self, index: int) -> list[bytes]:
        """The findings of capture ``index`` (waits for them)."""
        return self._futures[index].result()


def lower_priority() -> None:
    """Make the calling thread (on Linux a thread has a niceness of its own; threads it
    starts inherit it) yield to Suricata: a helper process, or the analysis itself while
    Suricata reads."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HELPER_NICENESS)
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: the same work, only at the usual priority


def own_threads() -> list[int]:
    """The ids of this process's threads (Linux; none elsewhere)."""
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{os.getpid()}/task")]
    except OSError:
        return []


def restore_priority(ids: Sequence[int | None]) -> None:
    """Suricata has exited: the helper processes are the analysis now, and
    get the usual priority back where that is allowed (root; otherwise they stay nice)."""
    for ident in ids:
        if ident is None:
            continue
        try:
            os.setpriority(os.PRIO_PROCESS, ident, 0)
        except (AttributeError, OSError):
            pass  # gone already, or not allowed


def fork_context() -> Any:
    """multiprocessing's fork context where forking is safe here (no other thread runs, so
    none holds a lock the child would inherit), with our output flushed (a child flushes
    its copy of the buffers as it exits); None where it is not."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    return multiprocessing.get_context("fork")


def message_or_orphaned(conn: Any, parent: int, poll_s: float) -> bool:
    """In a helper process: wait until a message is on ``conn`` (True), or until the
    parent is gone (False), looking for it every ``poll_s`` seconds."""
    while not conn.poll(poll_s):
        if os.getppid() != parent:
            return False
    return True


def stop_helper(proc: Any, conn: Any, message: Any, *, ask: bool = True) -> None:
    """Ask a helper process to stop (``message`` on its pipe, unless ``ask`` is false: it
    is gone), give it a few seconds, then end it; close the pipe."""
    if ask:
        try:
            conn.send(message)
        except OSError:
            pass
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()
        proc.join()
    conn.close()


class StoreFollower:
    """The traffic rollups (and, for an analysis, the asset inventory and risk scores)
    brought up to date with an ingest, each from a process of its own.

    The processes are forked when the ingest begins, before it opens any database or
    starts a thread (a forked SQLite connection is unsafe), and wait. :meth:`start` (the
    first batch is near) lets them follow the store, chunk by chunk, as ``spanwatch core``
    would; :meth:`finish` (for an analysis, after correlation: risk scores read incidents)
    lets them read the rest, recompute the risk scores, and waits for them. An analysis
    that fails before :meth:`start` never reaches them; :meth:`cancel` stops them (what
    the inventory had read stays in it, not in the event store; the rollups keep no trace
    of deleted events). Where forking is not possible (another thread runs), :meth:`finish`
    does it all in-process. A failure is logged and never fails the ingest.
    """

    def __init__(self, cfg: AppConfig, *, inventory: bool = True, nice: bool = True) -> None:
        self.cfg = cfg
        self.inventory = inventory and cfg.assets.enabled
        self._procs: list[tuple[str, Any]] = []  # (part, process)
        self._cancelled = False
        ctx = fork_context()
        if ctx is None:
            return
        self._go, self._done, self._risk = ctx.Event(), ctx.Event(), ctx.Event()
        # One process each: at the end of an analysis both catch up at once, on two cores.
        for part in ("rollups", "inventory") if self.inventory else ("rollups",):
            proc = ctx.Process(
                target=_follow,
                args=(cfg, part, nice, (self._go, self._done, self._risk), os.getpid()),
                name=f"spanwatch-{part}", daemon=True,
            )  # fmt: skip
            proc.start()
            self._procs.append((part, proc))

    @property
    def pids(self) -> list[int]:
        """The ids of its processes while they run."""
        return [int(proc.pid) for _part, proc in self._procs]

    def start(self) -> None:
        """Follow the store from now on."""
        if self._procs:
            self._go.set()

    def read_rest(self) -> None:
        """The store holds every record: read the rest now (while the analysis summarizes
        and correlates), then wait for :meth:`finish` to recompute the risk scores."""
        if self._procs:
            self._go.set()
            self._done.set()

    def finish(self) -> None:
        """Read what is left, recompute the risk scores, and wait until that is done."""
        if not self._procs:
            if not self._cancelled:
                catch_up_in_process(self.cfg, self.inventory)
            return
        self.read_rest()
        self._risk.set()
        for part, proc in self._procs:
            proc.join()
            if proc.exitcode not in (0, 1):  # 1: it logged why
                logger.error("%s could not be updated (exit status %s); `spanwatch core` will "
                             "catch up.", _PARTS[part], proc.exitcode)  # fmt: skip
        self._procs = []

    def cancel(self) -> None:
        """The ingest failed: stop the processes; :meth:`finish` does nothing now."""
        self._cancelled = True
        for _part, proc in self._procs:
            proc.terminate()
            proc.join()
        self._procs = []


_PARTS = {"rollups": "The traffic rollups", "inventory": "The asset inventory"}


def catch_up_in_process(cfg: AppConfig, inventory: bool) -> None:
    """In-process: the rollups, then the inventory (and risk scores), up to date."""
    from appliance.store import open_store
    from appliance.traffic.follow import catch_up

    try:
        store = open_store(cfg.store_path)
        try:
            catch_up(store)
        finally:
            store.close()
    except Exception:
        logger.exception("The traffic rollups could not be updated; `spanwatch core` will "
                         "catch up.")  # fmt: skip
    if inventory:
        from appliance.assets.inventory import update_inventory

        update_inventory(cfg)


def _follow(cfg: AppConfig, part: str, nice: bool, events: tuple[Any, Any, Any], parent: int
            ) -> None:  # fmt: skip
    """A follower process (``part``: the rollups or the inventory): wait for the go
    (``events``: go, done, risk), then read new chunks until done; the inventory then
    recomputes the risk scores once told to (they read the incidents correlation makes).

    It ends when its parent does (Ctrl-C and kills are the parent's to handle).
    """
    # The parent's handlers (`spanwatch ingest` stops on SIGTERM, analyze raises) are not
    # this process's, from its first instruction on: cancel() ends it with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from appliance.assets.inventory import Inventory
    from appliance.service import Service
    from appliance.traffic.follow import RollupFollower

    go, done, risk = events
    if nice:
        lower_priority()
    if part == "rollups" and cfg.traffic.enabled and cfg.traffic.geo:
        from appliance.traffic.geo import shared_database

        shared_database().lookup("192.0.2.1")  # load the country/AS tables (~0.2 s) now
    if part == "inventory":  # what the risk scores read, imported now (20 ms at the end)
        import appliance.incidents.service  # noqa: F401
        import appliance.risk.service  # noqa: F401
    while not go.wait(0.5):
        if os.getppid() != parent:
            return
    service = Service(cfg)
    try:
        rollups = RollupFollower(service.store) if part == "rollups" else None
        assets = Inventory(service) if part == "inventory" else None
        chunks = 0
        while True:
            last = done.is_set()
            if rollups is not None:
                rollups.run_once()
            if assets is not None:
                chunks += assets.run_once().chunks
            if last:
                break
            if not done.wait(FOLLOW_POLL_S) and os.getppid() != parent:
                return
        if rollups is not None:
            rollups.finish()
        if chunks:
            while not risk.wait(0.5):
                if os.getppid() != parent:
                    return
            service.risk.recompute()
    except StoreError as err:  # (a full disk: said in one line, not a traceback)
        logger.error("%s could not be updated (%s); `spanwatch core` will catch up.",
                     _PARTS[part], err)  # fmt: skip
        raise SystemExit(1) from None
    except Exception:
        logger.exception("%s could not be updated; `spanwatch core` will catch up.",
                         _PARTS[part])  # fmt: skip
        raise SystemExit(1) from None
    finally:
        service.close()
