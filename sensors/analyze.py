"""Offline analysis: Suricata reads capture files; the sensor path ingests its EVE output.

One capture runs ``suricata -r`` while the EVE file is ingested as it grows. Several
captures start Suricata once in unix-socket mode, so the rules load once, and queue the
files one by one, each into its own output directory, so each is summarized on its own.
A capture that fails leaves nothing in the store.

Suricata starts first: the helper processes are forked (the EVE analyzers; the traffic
rollups and the asset inventory), the store opened, the captures checked and the packet
analyzers run (:mod:`sensors.overlap`, :mod:`sensors.analyzer_process`) while it loads
its rules.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config import AppConfig
from appliance.errors import ConfigError, SuricataError
from appliance.runs import RunLock, discard, roll_back_unfinished
from appliance.suricata import command, render
from sensors.capturefile import CaptureInfo, inspect_capture
from sensors.engine import (
    eve_filenames,
    failure_message,
    output_dir,
    queue_order,
    read_share,
    rule_files_include,
    wait_for_socket,
    wait_then_set,
)
from sensors.quickstart import adopt, early_run_dir, new_run_dir, remember, spawn, stop_early

if TYPE_CHECKING:
    from appliance.store import EventStore
    from sensors.analyzer_process import AnalyzerProcess
    from sensors.deadletter import DeadLetterFile
    from sensors.overlap import StoreFollower
    from sensors.runner import RunStats

# Only what starting Suricata needs is imported with this module; the ingest's modules
# are imported once it runs (`_started`), while it loads its rules.

logger = logging.getLogger(__name__)


@dataclass
class AnalyzeOptions:
    """What the user asked of ``spanwatch analyze``."""

    captures: list[Path]
    rule_files: list[Path]
    suricata_config: Path | None = None
    sets: list[str] = field(default_factory=list)
    checksum: str | None = None
    simulate_ips: bool = False
    #: Suricata's flow hash without its random seed: flow ids repeat from run to run.
    no_random: bool = False
    # One packet thread: a capture's results do not depend on thread timing (in autofp an
    # FTP data flow can be seen before the control channel announced it, and its file is
    # missed on some runs); the sensor's ingest uses the other core.
    runmode: str = "single"
    progress: Callable[[str, float | None, RunStats], None] | None = None
    #: The EVE analyzers, the traffic rollups and the asset inventory in processes of their
    #: own, beside the ingest (off: in this process, the rollups and the inventory left to
    #: :meth:`Analysis.finish`).
    helpers: bool = True


@dataclass
class CaptureResult:
    """One analysed capture: its source ids in the store and its summary."""

    info: CaptureInfo
    source_ids: list[int]
    stats: RunStats
    summary: dict[str, Any]


class Analysis:
    """Runs Suricata over captures and ingests each one through the sensor path."""

    def __init__(self, cfg: AppConfig, opts: AnalyzeOptions) -> None:
        self.cfg, self.opts = cfg, opts
        self._store: EventStore | None = None
        self.follower: StoreFollower | None = None
        self._analyzers: AnalyzerProcess | None = None
        # The run of a Suricata the command started early, if any (sensors.quickstart).
        self.run_dir = early_run_dir(cfg.data_dir) or new_run_dir(cfg.data_dir)
        self._dead_letters: DeadLetterFile | None = None
        self._lock: RunLock | None = None

    def run(self) -> list[CaptureResult]:
        """Start Suricata, validate every capture while it loads its rules, then analyse
        them; return one result each. A bad capture stops Suricata and leaves no run."""
        try:
            command.set_args(self.opts.sets)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        early = None
        try:
            single = len(self.opts.captures) == 1
            text = self._suricata_text()
            if single and text is not None:
                early = adopt(text, self._single_argv(self.opts.captures[0]))
            else:
                stop_early()
            output_dir(self.run_dir)
            self._lock = RunLock(self.run_dir)  # before anything is stored (appliance.runs)
            config = self._suricata_config(text)
            if single:
                results = [self._run_single(config, self.opts.captures[0], early, text)]
            else:
                results = self._run_socket(config, self.opts.captures)
            self._lock.release(finished=True)
            return results
        except BaseException:
            if early is not None and early.returncode is None:
                early.kill()  # adopted, then something failed before it was waited for
                early.wait()
            if self.follower is not None:
                self.follower.cancel()
            raise
        finally:
            if self._analyzers is not None:
                self._analyzers.close()
            if self._store is not None:
                self._store.close()
            if self._lock is not None:
                self._lock.release(finished=False)  # (nothing left to do if it finished)

    def finish(self) -> None:
        """After correlation: the traffic rollups, asset inventory and risk scores (A2)."""
        if self.follower is None:
            from sensors.overlap import catch_up_in_process

            catch_up_in_process(self.cfg, inventory=self.cfg.assets.enabled)
        else:
            self.follower.finish()

    @property
    def dead_letters(self) -> DeadLetterFile:
        """The dead-letter file (opened once Suricata has started)."""
        assert self._dead_letters is not None, "opened as Suricata starts"
        return self._dead_letters

    @property
    def store(self) -> EventStore:
        """The store (opened once Suricata has started)."""
        assert self._store is not None, "the store opens as Suricata starts"
        return self._store

    def _started(self) -> None:
        """Suricata is loading its rules: fork the helpers (before any database is open or
        thread runs: a forked SQLite connection is unsafe), then open the store. From here
        on this process yields to Suricata too (its threads inherit that), so Suricata,
        which sets the pace, is not slowed down by what follows it."""
        from appliance.store import open_store
        from appliance.traffic.settings import sync_settings
        from sensors.analyzer_process import AnalyzerProcess
        from sensors.deadletter import DeadLetterFile
        from sensors.overlap import StoreFollower, lower_priority

        lower_priority()

        self._dead_letters = DeadLetterFile(self.cfg.data_dir / "dead-letter.jsonl")
        if self.opts.helpers:
            self.follower = StoreFollower(self.cfg)
            self._analyzers = AnalyzerProcess(self.cfg)
        self._store = open_store(self.cfg.store_path)
        roll_back_unfinished(self._store, self.run_dir.parent, self.run_dir)
        # The configured rollup settings (HOME_NET, day start) before the first batch.
        sync_settings(self._store, self.cfg)

    def _suricata_done(self) -> None:
        """Suricata has read every capture: this process and the helpers run at the usual
        priority again (where that is allowed)."""
        from sensors.overlap import own_threads, restore_priority

        pids = self.follower.pids if self.follower is not None else []
        restore_priority([*pids, self._analyzers.pid if self._analyzers is not None else None,
                          *own_threads()])  # fmt: skip

    def _inspect(self, paths: Sequence[Path], proc: subprocess.Popen[bytes]) -> list[CaptureInfo]:
        """Every capture checked (Suricata, already started, is stopped if one is bad)."""
        try:
            return [inspect_capture(p) for p in paths]
        except BaseException:
            proc.kill()
            proc.wait()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    @functools.cached_property
    def _suricata_cfg(self) -> AppConfig:
        # The capture file itself is the evidence of an offline analysis, so no pcap ring
        # (Suricata's pcap-log also stops the engine when captures differ in link type).
        ring = self.cfg.suricata.pcap_ring.model_copy(update={"enabled": False})
        suricata = self.cfg.suricata.model_copy(update={"pcap_ring": ring})
        return self.cfg.model_copy(update={"suricata": suricata})

    def _suricata_text(self) -> str | None:
        """The Suricata configuration this analysis renders (None: one was given)."""
        if self.opts.suricata_config is not None:
            return None
        return render.render_suricata_config(self._suricata_cfg, log_dir=self.run_dir,
                                             rule_files=self.opts.rule_files)  # fmt: skip

    def _suricata_config(self, text: str | None) -> Path:
        if text is None:
            assert self.opts.suricata_config is not None, "rendered unless given"
            return self.opts.suricata_config
        return render.write_rendered_config(self.run_dir / "suricata.yaml", self._suricata_cfg,
                                            text, log_dir=self.run_dir)  # fmt: skip

    # -- one capture: suricata -r --------------------------------------------------------

    def _single_argv(self, path: Path) -> list[str]:
        config = self.opts.suricata_config or self.run_dir / "suricata.yaml"
        argv = command.offline_argv(
            self.cfg.suricata.binary, config, path, self.run_dir / "0",
            extra_sets=self.opts.sets, runmode=self.opts.runmode,
        )  # fmt: skip
        return argv + self._engine_args()

    def _run_single(self, config: Path, path: Path, early: subprocess.Popen[bytes] | None,
                    text: str | None) -> CaptureResult:  # fmt: skip
        out_dir = output_dir(self.run_dir / "0")
        argv = self._single_argv(path)
        if early is not None:
            logger.info("Running Suricata on %s (started at once, as the earlier analysis "
                        "with this command line ran it).", path)  # fmt: skip
            proc, log = early, None
        else:
            logger.info("Running Suricata on %s.", path)
            log = open(out_dir / "suricata.stdout", "wb")  # noqa: SIM115 - closed below
            try:
                proc = spawn(argv, log)
            except FileNotFoundError as err:
                log.close()
                raise SuricataError(f"Suricata not found at {self.cfg.suricata.binary}") from err
            if text is not None:
                remember(text, argv, self.run_dir, self.cfg.data_dir)
        try:
            self._started()
            (info,) = self._inspect([path], proc)
        except BaseException:
            proc.kill()  # (the store or the helpers failed: Suricata must not run on alone)
            proc.wait()
            if log is not None:
                log.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        from sensors.overlap import PacketPass

        packets = PacketPass(self.cfg, [info.path])
        # The ingest learns at once that Suricata is done (no poll interval at the end).
        exited = threading.Event()
        threading.Thread(target=wait_then_set, args=(proc, exited, self._suricata_done),
                         name="suricata-wait", daemon=True).start()  # fmt: skip
        try:
            stats = self._ingest(out_dir, info, exited.is_set, proc.pid,
                                 lambda: packets.findings(0), exited)  # fmt: skip
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if log is not None:
                log.close()
        if proc.wait() != 0:
            self._discard(stats)
            raise SuricataError(failure_message(info.path, proc.returncode, out_dir))
        self._check_eve(out_dir, info, stats)
        if self.follower is not None:
            self.follower.read_rest()  # while the capture is summarized and correlated
        return self._result(info, stats)

    def _engine_args(self) -> list[str]:
        """Options common to both modes; a rule that does not load fails the analysis."""
        args = ["--init-errors-fatal"]
        if self.opts.checksum:
            args += ["-k", self.opts.checksum]
        if self.opts.simulate_ips:
            args.append("--simulate-ips")
        if self.opts.no_random:
            args.append("--no-random")
        return args + self._rule_args()

    def _rule_args(self) -> list[str]:
        """A given configuration keeps its own rule files unless --rules says otherwise."""
        if self.opts.suricata_config is None or not self.opts.rule_files:
            return []  # (ours lists them)
        if len(self.opts.rule_files) == 1:
            return ["-S", str(self.opts.rule_files[0])]
        return ["--include", str(rule_files_include(self.run_dir, self.opts.rule_files))]

    # -- several captures: unix-socket mode ---------------------------------------------

    def _run_socket(self, config: Path, paths: list[Path]) -> list[CaptureResult]:
        sock = Path("/tmp") / f"spanwatch-{id(self):x}-{int(time.time())}.sock"
        argv = command.unix_socket_argv(self.cfg.suricata.binary, config, sock, self.run_dir)
        argv += ["--runmode", self.opts.runmode, *self._engine_args()]
        argv += command.set_args(self.opts.sets)
        log = open(self.run_dir / "suricata.stdout", "wb")  # noqa: SIM115 - closed below
        proc = spawn(argv, log)
        results: dict[int, CaptureResult] = {}
        try:
            self._started()
            infos = self._inspect(paths, proc)
            from sensors.overlap import PacketPass

            queue = queue_order(infos)
            packets = PacketPass(self.cfg, [infos[i].path for i in queue])
            control = wait_for_socket(sock, proc, self.run_dir)
            with control:
                for position, index in enumerate(queue):
                    results[index] = self._socket_capture(
                        control, proc, index, infos[index],
                        functools.partial(packets.findings, position),
                        last=position == len(queue) - 1,
                    )  # fmt: skip
                control.shutdown()
            proc.wait(timeout=60)
        except BaseException:
            for result in results.values():
                self._discard(result.stats)
            raise
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            sock.unlink(missing_ok=True)
        return [results[i] for i in range(len(infos))]

    def _socket_capture(self, control: Any, proc: subprocess.Popen[bytes], index: int,
                        info: CaptureInfo, packet_findings: Callable[[], list[bytes]], *,
                        last: bool) -> CaptureResult:  # fmt: skip
        out_dir = output_dir(self.run_dir / str(index))
        control.pcap_file(str(info.path.absolute()), str(out_dir))
        logger.info("Queued %s in Suricata.", info.path)

        def done() -> bool:
            if proc.poll() is not None:
                raise SuricataError(failure_message(info.path, proc.returncode, self.run_dir))
            # The queue length first: the file leaves the queue as it becomes current.
            if control.pcap_file_number() != 0 or control.pcap_current() not in (None, "None"):
                return False
            if last:
                self._suricata_done()
            return True

        stats = self._ingest(out_dir, info, done, None, packet_findings)
        self._check_eve(out_dir, info, stats)
        return self._result(info, stats)

    # -- common ----------------------------------------------------------------------------

    @functools.cached_property
    def _eve_names(self) -> list[str]:
        """The EVE files to ingest: ours, or the eve-log files of a given config (the first
        is followed while Suricata runs, the others read after it; see sensors.evefiles)."""
        if self.opts.suricata_config is None:
            return [render.EVE_FILENAME]
        return eve_filenames(self.opts.suricata_config) or [render.EVE_FILENAME]

    def _ingest(self, out_dir: Path, info: CaptureInfo, finished: Callable[[], bool],
                pid: int | None, packet_findings: Callable[[], list[bytes]],
                wake: threading.Event | None = None) -> RunStats:  # fmt: skip
        from sensors.analyzers import load_analyzers
        from sensors.capture import analyze_capture_packets
        from sensors.runner import EveRunner
        from sensors.ship import close_quietly, store_writer

        progress = self.opts.progress
        on_batch = None
        if progress is not None:
            def on_batch(stats: RunStats) -> None:
                progress(str(info.path), read_share(pid, info), stats)
        eve = out_dir / self._eve_names[0]
        # Each analysis is its own source, even of a capture analysed before.
        namespace = str(out_dir.resolve()).encode()
        if self.follower is not None:
            # From the first batch on, as `spanwatch core` would; a failed analysis stops
            # it, though what it read before stays in the inventory (not in the store).
            self.follower.start()
        if self._analyzers is not None:
            analyzers = self._analyzers.analyzers_for(
                eve, max_line_bytes=self.cfg.ingest.max_line_bytes,
                batch_size=self.cfg.ingest.batch_size,
            )  # fmt: skip
        else:
            analyzers = load_analyzers(self.cfg)
        sink = store_writer(self.cfg.store_path, self.cfg.sensor.name)
        runner = EveRunner(
            eve, store=self.store, sink=sink, analyzers=analyzers,
            dead_letters=self.dead_letters, cfg=self.cfg.ingest, follow=True,
            poll_seconds=0.05, stop=threading.Event(), on_batch=on_batch,
            source_namespace=namespace, wake=wake,
        )  # fmt: skip
        try:
            stats = runner.run(until=finished)
            sink.close()
            if len(self._eve_names) > 1:
                from sensors.evefiles import ingest_other_eve_files

                ingest_other_eve_files(self.cfg, self.store, self.dead_letters, out_dir,
                                       self._eve_names, stats, namespace)  # fmt: skip
            # The packet analyzers' findings (ARP, DHCP, name poisoning) of the capture itself.
            analyze_capture_packets(self.cfg, self.store, info.path, namespace, stats,
                                    packet_findings())  # fmt: skip
        except BaseException:
            close_quietly(sink)
            self._discard(runner.stats)
            raise
        return stats

    def _check_eve(self, out_dir: Path, info: CaptureInfo, stats: RunStats) -> None:
        """After a successful Suricata run: no EVE file at all means a config problem."""
        eve = out_dir / self._eve_names[0]
        if not eve.exists():
            self._discard(stats)
            raise SuricataError(
                f"Suricata wrote no {eve.name} in {out_dir} for {info.path}; with "
                "--suricata-config, its first eve-log output must be a regular file."
            )

    def _result(self, info: CaptureInfo, stats: RunStats) -> CaptureResult:
        from appliance.summary import summarize_sources

        summary = summarize_sources(
            self.store, stats.source_ids, file=str(info.path), packets=info.packets
        )
        self.store.add_capture(str(info.path.resolve()), stats.source_ids,
                               packets=info.packets, summary=summary)  # fmt: skip
        return CaptureResult(info, stats.source_ids, stats, summary)

    def _discard(self, stats: RunStats) -> None:
        discard(self.store, stats.source_ids)
