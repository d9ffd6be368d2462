"""The live sensor: Suricata on a SPAN interface and the one reader of its EVE output."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from pathlib import Path

from appliance.config import AppConfig
from appliance.errors import SuricataError
from appliance.intel.cli import intel_rules
from appliance.store import open_store
from appliance.suricata import command, render
from appliance.traffic.settings import sync_settings
from sensors.analyzer_pipe import close_analyzers, runner_analyzers
from sensors.analyzers import AnalyzerSet
from sensors.capture import LivePacketCapture
from sensors.deadletter import DeadLetterFile
from sensors.quickstart import spawn
from sensors.remote import make_sink
from sensors.runner import EveRunner
from sensors.ship import close_quietly

logger = logging.getLogger(__name__)

RETENTION_EVERY_S = 900.0
# Suricata flushes its flows on SIGTERM; a large flow table takes a while.
STOP_TIMEOUT_S = 30.0


def live_rule_files(cfg: AppConfig) -> list[Path]:
    """The active ruleset, our local rules and the exported intelligence, as far as they
    exist."""
    # The active ruleset already holds our local rules (as the rules page left them);
    # the local files are loaded directly only while no ruleset is installed.
    active = cfg.rules_dir / "suricata.rules"
    local = [] if active.is_file() else list(cfg.rules.local)
    candidates = [active, *local, intel_rules(cfg)]
    files = [p for p in candidates if p.is_file()]
    if not files:
        logger.warning("No rules installed; run `spanwatch rules update`. Metadata only.")
    return files


def prepare_suricata(cfg: AppConfig, interface: str, *, test: bool = True) -> Path:
    """Render (and test) the Suricata configuration for ``interface``; return its path."""
    out_dir = cfg.sensor_dir(interface)
    for sub in (render.PCAP_DIR, render.FILES_DIR):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    path = out_dir / "suricata.yaml"
    render.write_suricata_config(
        path, cfg, log_dir=out_dir, rule_files=live_rule_files(cfg), interface=interface,
        socket_path=cfg.suricata.run_dir / f"suricata-{interface}.sock",
    )  # fmt: skip
    if test:
        render.test_suricata_config(cfg.suricata.binary, path)
    return path


def suricata_live_argv(cfg: AppConfig, interface: str, config: Path) -> list[str]:
    """How the sensor (or its systemd unit) runs Suricata on ``interface``."""
    pidfile = cfg.suricata.run_dir / f"suricata-{interface}.pid"
    return command.live_argv(
        cfg.suricata.binary, config, interface, cfg.sensor_dir(interface), pidfile
    )


class LiveSensor:
    """Starts Suricata on the interface (unless attached to a systemd-run one) and ingests."""

    def __init__(self, cfg: AppConfig, interface: str, *, attach: bool, stop: threading.Event):
        self.cfg = cfg
        self.iface = cfg.interface(interface).name
        self.attach = attach
        self.stop = stop
        self.proc: subprocess.Popen[bytes] | None = None
        self._terminated_at: float | None = None

    def run(self) -> int:
        """Run until stopped; returns an exit code."""
        out_dir = self.cfg.sensor_dir(self.iface)
        # Forked first: before any thread starts or database opens.
        analyzers = runner_analyzers(self.cfg)
        try:
            return self._run(out_dir, analyzers)
        finally:
            close_analyzers(analyzers)

    def _run(self, out_dir: Path, analyzers: AnalyzerSet) -> int:
        if not self.attach:
            self._start_suricata()
        store = open_store(self.cfg.store_path)
        sync_settings(store, self.cfg)
        sink = make_sink(self.cfg)  # the local store, or the center (center.remote.url)
        runner = EveRunner(
            out_dir / render.EVE_FILENAME, store=store, sink=sink,
            analyzers=analyzers,
            dead_letters=DeadLetterFile(self.cfg.data_dir / "dead-letter.jsonl"),
            # Spawned: its own stop event, so on self.stop run() returns through `until`
            # only once our Suricata has exited and its last records are read. Attached:
            # the Suricata of another unit keeps writing, so a stop is just a stop (the
            # bookmark resumes exactly there; a half-written line is read next time).
            cfg=self.cfg.ingest, follow=True,
            stop=self.stop if self.attach else threading.Event(),
        )  # fmt: skip
        watcher = threading.Thread(target=self._watch_suricata, daemon=True)
        watcher.start()
        threading.Thread(target=self._retention_loop, daemon=True).start()
        packets = LivePacketCapture(self.cfg, self.iface, self.stop).start()
        try:
            stats = runner.run(until=None if self.attach else self._is_finished)
            sink.close()
            if packets is not None:  # stopped with the sensor; stores its last findings
                packets.join(timeout=STOP_TIMEOUT_S)
        finally:
            close_quietly(sink)
            store.close()
            self._stop_suricata()
        logger.info("Sensor stopped: lines=%d stored=%d.", stats.lines, stats.stored)
        if self.proc is not None and self.proc.returncode not in (0, -15, None) and not self.attach:
            return 1
        return 0

    def _retention_loop(self) -> None:
        """Enforce the retention budgets now and every ``RETENTION_EVERY_S`` seconds."""
        from appliance.cli import evidence_dirs

        while not self.stop.is_set():
            try:
                store = open_store(self.cfg.store_path)
                try:
                    store.apply_retention(self.cfg.retention, evidence_dirs(self.cfg))
                finally:
                    store.close()
            except Exception:
                logger.exception("Retention pass failed; retrying later.")
            self.stop.wait(RETENTION_EVERY_S)

    def _start_suricata(self) -> None:
        config = prepare_suricata(self.cfg, self.iface)
        out_dir = self.cfg.sensor_dir(self.iface)
        self.cfg.suricata.run_dir.mkdir(parents=True, exist_ok=True)
        argv = command.live_argv(
            self.cfg.suricata.binary, config, self.iface, out_dir, out_dir / "suricata.pid"
        )
        (out_dir / "suricata.pid").unlink(missing_ok=True)
        logger.info("Starting Suricata on interface=%s.", self.iface)
        try:
            # Killed if the sensor dies (a second Suricata on the interface would split its
            # packets with an orphan); a stop still ends it with SIGTERM (_stop_suricata).
            self.proc = spawn(argv, subprocess.DEVNULL)
        except FileNotFoundError as err:
            raise SuricataError(f"Suricata not found at {self.cfg.suricata.binary}") from err

    def _watch_suricata(self) -> None:
        """If our Suricata dies, stop the sensor so systemd restarts both."""
        if self.proc is None:
            return
        code = self.proc.wait()
        if not self.stop.is_set():
            logger.error("Suricata exited unexpectedly: status=%d.", code)
            self.stop.set()

    def _is_finished(self) -> bool:
        """Polled by the runner: after a stop, true once no more EVE records can come."""
        if not self.stop.is_set():
            return False
        if self.proc is None or self.proc.poll() is not None:
            return True
        if self._terminated_at is None:
            self._terminated_at = time.monotonic()
            self.proc.terminate()
        elif time.monotonic() - self._terminated_at > STOP_TIMEOUT_S:
            logger.error("Suricata did not stop within %.0f s; killing it.", STOP_TIMEOUT_S)
            self.proc.kill()
            self._terminated_at = time.monotonic()  # log and kill at most once per period
        return False

    def _stop_suricata(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
