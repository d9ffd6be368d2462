"""Sensor subcommands of ``spanwatch``: ``sensor``, ``analyze``, ``ingest``, ``demo-capture``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config import AppConfig
from appliance.errors import CaptureError, ConfigError

if TYPE_CHECKING:
    from sensors.runner import RunStats

# The store, summary, intel and runner modules are imported by the commands that use them:
# `spanwatch analyze` starts Suricata first and imports them while it loads its rules.

logger = logging.getLogger(__name__)

Subparsers = Any  # argparse's private _SubParsersAction


def register_analyze(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``spanwatch analyze CAPTURE...``."""
    p = sub.add_parser("analyze", parents=[common], help="analyse capture files offline")
    p.add_argument("captures", nargs="+", type=Path, metavar="CAPTURE", help="pcap or pcapng")
    p.add_argument("--rules", action="append", type=Path, default=[], metavar="FILE|DIR",
                   help="rule file or directory of *.rules (repeatable; default: active rules)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--suricata-config", type=Path, help="use this suricata.yaml as it is")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
                   help="override a Suricata setting (repeatable)")
    p.add_argument("--checksum", choices=["all", "none"], help="Suricata's -k option")
    p.add_argument("--simulate-ips", action="store_true", help="Suricata's --simulate-ips")
    p.add_argument("--no-random", action="store_true",
                   help="Suricata's --no-random: the same flow ids on every run of a capture")
    p.add_argument("--runmode", choices=["autofp", "single", "workers"], default="single",
                   help="Suricata's run mode (default single: one packet thread, the same "
                        "results every run; autofp: faster on big captures)")
    p.set_defaults(handler=run_analyze)


def register_ingest(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``spanwatch ingest [--follow] EVE_FILE...``."""
    p = sub.add_parser("ingest", parents=[common], help="import eve.json files")
    p.add_argument("files", nargs="+", type=Path, metavar="EVE_FILE")
    p.add_argument("--follow", action="store_true", help="keep reading as the file grows")
    p.add_argument("--center", metavar="URL",
                   help="ship to this center's ingest API (center.remote.url) instead of storing")
    p.add_argument("--center-ca", type=Path, metavar="PEM", help="the center's certificate")
    p.set_defaults(handler=run_ingest)


def register_sensor(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``spanwatch sensor --interface IF`` and ``spanwatch demo-capture OUT``."""
    p = sub.add_parser("sensor", parents=[common], help="run the sensor on a SPAN interface")
    p.add_argument("action", nargs="?", choices=["run", "enroll"], default="run",
                   help="enroll: ask the center (--center) to accept this sensor")
    p.add_argument("--interface", "-i", help="capture interface, e.g. eth1 (required to run)")
    p.add_argument("--attach", action="store_true",
                   help="read the EVE of the Suricata a systemd unit runs; do not start one")
    p.add_argument("--center", metavar="URL",
                   help="ship to this center's ingest API (center.remote.url) instead of storing")
    p.add_argument("--center-ca", type=Path, metavar="PEM", help="the center's certificate")
    p.set_defaults(handler=run_sensor)
    d = sub.add_parser("demo-capture", parents=[common], help="write the demo capture")
    d.add_argument("out", type=Path, metavar="OUT")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--minutes", type=int,
                   help="capture length (default: 30 for demo, 90 for campaign)")
    d.add_argument("--scenario", choices=["demo", "campaign", "hostile"], default="demo",
                   help="demo: a data center with attacks mixed in; campaign: one intrusion "
                   "from scan to exfiltration; hostile: HTML/JavaScript in host names, URIs, "
                   "user agents, DNS and TLS names, file names (tests the web UI's "
                   "escaping)")  # fmt: skip
    d.set_defaults(handler=run_demo_capture)
    x = sub.add_parser("dissect", parents=[common],
                       help="dissect the packets of an alert or finding (tshark)")
    x.add_argument("--event-id", type=int, required=True, help="the event's id in the store")
    x.add_argument("--json", action="store_true", help="print the view as one JSON object")
    x.add_argument("--limit", type=int, default=200, help="most packets shown")
    x.set_defaults(handler=run_dissect)


def register_suricata_config(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """``spanwatch suricata-config --interface IF [--test] [--exec]``."""
    p = sub.add_parser("suricata-config", parents=[common],
                       help="render suricata.yaml for an interface (used by systemd units)")
    p.add_argument("--interface", "-i", required=True, help="capture interface, e.g. eth1")
    p.add_argument("--test", action="store_true", help="check it with `suricata -T`")
    p.add_argument("--exec", action="store_true", dest="exec_",
                   help="then replace this process with Suricata on the interface")
    p.set_defaults(handler=run_suricata_config)


def run_suricata_config(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Render the live configuration; optionally test it or exec Suricata with it."""
    import os

    from sensors.live import prepare_suricata, suricata_live_argv

    iface = cfg.interface(args.interface).name
    config = prepare_suricata(cfg, iface, test=args.test)
    if not args.exec_:
        print(config)
        return 0
    cfg.suricata.run_dir.mkdir(parents=True, exist_ok=True)
    argv = suricata_live_argv(cfg, iface, config)
    sys.stdout.flush()
    os.execv(argv[0], argv)
    return 1  # not reached


# -- analyze ---------------------------------------------------------------------------


def default_rule_files(cfg: AppConfig) -> list[Path]:
    """The active ruleset and our local rules, as far as they exist."""
    from appliance.intel.cli import intel_rules

    # The active ruleset already holds our local rules (as the rules page left them);
    # the local files are loaded directly only while no ruleset is installed.
    active = cfg.rules_dir / "suricata.rules"
    local = [] if active.is_file() else list(cfg.rules.local)
    candidates = [active, *local, intel_rules(cfg)]
    found = [p for p in candidates if p.is_file()]
    if not [p for p in found if p != intel_rules(cfg)]:
        logger.warning("No rules found (%s); only protocol metadata will be produced.",
                       ", ".join(str(p) for p in candidates))  # fmt: skip
    return found


def run_analyze(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Analyse captures and print their summaries."""
    from sensors.analyze import Analysis, AnalyzeOptions
    from sensors.engine import rule_files_from

    rules = rule_files_from(args.rules) if args.rules else default_rule_files(cfg)
    opts = AnalyzeOptions(
        captures=args.captures, rule_files=rules, suricata_config=args.suricata_config,
        sets=args.sets, checksum=args.checksum, simulate_ips=args.simulate_ips,
        no_random=args.no_random, runmode=args.runmode,
        progress=_Progress() if sys.stderr.isatty() and not args.quiet else None,
    )  # fmt: skip
    analysis = Analysis(cfg, opts)
    with _sigterm_as_interrupt():
        results = analysis.run()
    from appliance.incidents.cli import correlate_captures, format_incidents
    from appliance.summary import format_summary, merge_summaries

    per_capture, _ = correlate_captures(cfg, [r.source_ids for r in results])
    analysis.finish()  # the asset inventory and risk scores (A2), followed meanwhile
    parts = [{**r.summary, "incidents": inc} for r, inc in zip(results, per_capture)]
    total = merge_summaries(parts)  # with each capture's incidents, each once
    if args.json:
        print(json.dumps({"captures": parts, "total": total}, ensure_ascii=False, indent=2))
        return 0
    for part in parts:
        print(format_summary(part, f"Capture {part['file']}"))
    if len(parts) > 1:
        print(format_summary(total, f"Total over {len(parts)} captures"))
    print(format_incidents(total["incidents"]))
    print(f"Stored in {cfg.store_path}.")
    return 0


class _Progress:
    """One status line on a terminal, at most a few times a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, name: str, share: float | None, stats: RunStats) -> None:
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        done = f"{share * 100:5.1f}%" if share is not None else "  ... "
        sys.stderr.write(f"\r{done} {Path(name).name}: {stats.lines} events\x1b[K")
        sys.stderr.flush()


# -- ingest ------------------------------------------------------------------------------


def run_ingest(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Import EVE files with bookmarks, so a re-run or a kill never duplicates.

    With ``--follow`` each file gets its own thread and store connection, a file that does
    not exist yet (or is between rotations) is waited for, and a failure in any thread
    stops the others and makes the command fail, so systemd restarts it.
    """
    from sensors.enrol import with_center

    cfg = with_center(cfg, args.center, args.center_ca)
    if not args.follow:
        for path in args.files:
            if not path.is_file():
                raise CaptureError(f"{path}: no such EVE file")
    stop = _stop_on_signals()
    if not args.follow:
        for path in args.files:
            _ingest_one(cfg, path, False, stop)
        return 0
    errors: list[BaseException] = []

    def follow(path: Path) -> None:
        try:
            _ingest_one(cfg, path, True, stop)
        except BaseException as err:  # re-raised in the main thread below
            errors.append(err)
            stop.set()

    threads = [threading.Thread(target=follow, args=(p,), name=f"ingest {p}") for p in args.files]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.5)
    if errors:
        raise errors[0]
    return 0


def _ingest_one(cfg: AppConfig, path: Path, follow: bool, stop: threading.Event) -> None:
    local = cfg.center.remote.url is None
    from appliance.store import open_store
    from appliance.traffic.settings import sync_settings
    from sensors.analyzer_pipe import close_analyzers, runner_analyzers
    from sensors.deadletter import DeadLetterFile
    from sensors.overlap import StoreFollower
    from sensors.remote import make_sink
    from sensors.runner import EveRunner
    from sensors.ship import close_quietly

    # In processes of their own where they can be forked (one file: no other thread runs):
    # the analyzers, and the traffic rollups of a local store (a center makes its own).
    follower = StoreFollower(cfg, inventory=False, nice=False) if local else None
    analyzers = runner_analyzers(cfg)
    store = open_store(cfg.store_path)
    sync_settings(store, cfg)
    dead_letters = DeadLetterFile(cfg.data_dir / "dead-letter.jsonl")
    sink = make_sink(cfg)  # the local store, or the center (center.remote.url)
    try:
        runner = EveRunner(
            path, store=store, sink=sink, analyzers=analyzers,
            dead_letters=dead_letters, cfg=cfg.ingest, follow=follow, stop=stop,
        )  # fmt: skip
        if follower is not None:
            follower.start()
        stats = runner.run()
        sink.close()
        stats.stored += sink.flush()  # a remote sink's batches acknowledged while closing
        if follower is not None:
            follower.finish()
    finally:
        if follower is not None:
            follower.cancel()  # nothing left to do after finish()
        close_quietly(sink)
        close_analyzers(analyzers)
        dead_letters.close()
        store.close()
    see = f" (see {dead_letters.path})" if stats.bad_total else ""
    print(f"{path}: {stats.lines} lines read, {stats.stored} new records stored (including "
          f"{stats.findings} findings), {stats.bad_total} bad lines{see}.")  # fmt: skip


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``timeout``, a service stopping) ends an analysis as Ctrl-C does: what it
    stored is removed, and its Suricata and helpers are stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        logger.info("Stopping on signal %d.", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return stop


# -- sensor ------------------------------------------------------------------------------


def run_sensor(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Run (or attach to) Suricata on an interface and ingest its EVE output."""
    from sensors.enrol import enrol, format_enrolment, with_center
    from sensors.live import LiveSensor

    cfg = with_center(cfg, args.center, args.center_ca)
    if args.action == "enroll":
        print(format_enrolment(enrol(cfg), str(cfg.center.remote.url)))
        return 0
    if not args.interface:
        raise ConfigError("spanwatch sensor needs --interface")
    stop = _stop_on_signals()
    return LiveSensor(cfg, args.interface, attach=args.attach, stop=stop).run()


def run_dissect(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Print the Wireshark dissection of an event's packets."""
    from appliance.store import open_store
    from sensors.dissect import dissect_event, format_dissection

    store = open_store(cfg.store_path, readonly=True)
    try:
        view = dissect_event(cfg, store, args.event_id, limit=max(1, args.limit))
    finally:
        store.close()
    if args.json:
        print(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_dissection(view))
    return 0


def run_demo_capture(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Write the project's generated demo capture, or the campaign capture."""
    from sensors.demo import write_demo_capture
    from sensors.demo.campaign import MIN_MINUTES, write_campaign_capture
    from sensors.demo.cli import format_summary

    if args.scenario == "hostile":
        from sensors.demo.hostile import write_hostile_capture

        summary = write_hostile_capture(args.out, seed=args.seed, minutes=args.minutes or 5)
        print(format_summary(summary))
        return 0
    if args.scenario == "campaign":
        minutes = 90 if args.minutes is None else args.minutes
        if minutes < MIN_MINUTES:
            raise ConfigError(f"--minutes must be at least {MIN_MINUTES} for the campaign")
        summary = write_campaign_capture(args.out, seed=args.seed, minutes=minutes)
    else:
        minutes = 30 if args.minutes is None else args.minutes
        if minutes < 1:
            raise ConfigError("--minutes must be at least 1")
        summary = write_demo_capture(args.out, seed=args.seed, minutes=minutes)
    print(format_summary(summary))
    return 0
