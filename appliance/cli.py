"""The ``spanwatch`` command: argument parsing, logging set-up and exit codes.

Subcommands of packages built on the appliance (``sensors``, ``webui``) are discovered
through the ``spanwatch.commands`` entry points, so ``appliance`` never imports them.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.config import AppConfig, load_config
from appliance.errors import ApplianceError, ConfigError

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, AppConfig], int]

#: Subcommands of the appliance's own areas, each ``"name,...=module:register"`` where
#: ``register(sub, common)`` adds the parsers of the named commands (as the entry-point
#: plugins do). One line per area keeps this module small and lets each area own its
#: command. Running one command imports only its module (start-up time is part of every
#: command's time); an entry without names is always imported.
BUILTIN_COMMANDS: tuple[str, ...] = (
    "intel=appliance.intel.cli:register",
    "core=appliance.core:register",
    "report=appliance.reports.cli:register",
    "share=appliance.sharing.cli:register",
    "assets=appliance.assets.cli:register",
    "incidents=appliance.incidents.cli:register",
    "traffic=appliance.traffic.cli:register",
    "sensors,center=appliance.center.cli:register",
)

#: Garbage-collector thresholds of every command. The ingest, the rollups and the analyzers
#: build thousands of container objects per batch that live until the batch is done; with
#: CPython's default (a collection every 700 allocations) the collector traversed them
#: again and again: about a sixth of the rollups' CPU and a tenth or more of the ingest's
#: and the analyzers' (``bench/traffic.py``, ``bench/ingest.py``). Nothing relies on
#: prompt collection of reference cycles; child processes inherit the setting.
GC_THRESHOLDS = (50_000, 20, 100)
#: How long a thread may hold the interpreter lock while another waits for it (CPython's
#: default: 5 ms). The ingest's store writer gives the lock up for every INSERT it runs in
#: SQLite and then waits for it, and the reader's thread, busy decoding, gave it back only
#: after the full interval: the writer spent as much time waiting as working, and the
#: reader waited for the writer (``bench/ingest.py``: 54,000 -> 70,000 events/s).
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """The collector thresholds and the lock's switch interval of every command; and at
    exit, no last collection: it walked every object still alive, about 60 ms of each
    ``spanwatch analyze`` (what is alive then is freed as the process ends; Python never
    promised ``__del__`` of objects alive at exit)."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    atexit.unregister(gc.freeze)  # once, however often a process runs commands
    atexit.register(gc.freeze)


#: Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration, 130 interrupted.
EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes (``spanwatch CMD --config F --data-dir D``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path, help="appliance.yaml (default: /etc/spanwatch/)")
    parent.add_argument("--data-dir", type=Path, help="store and logs here (overrides config)")
    parent.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parent.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parent


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with plugin subcommands: all of them, or only ``command``'s when it is
    one a plugin names (the others' modules are not imported)."""
    parser = argparse.ArgumentParser(
        prog="spanwatch", description="Network security monitoring for a SPAN port."
    )
    parser.add_argument("--version", action="version", version=f"spanwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = common_options()
    check = sub.add_parser("check-config", parents=[common], help="validate the configuration")
    check.add_argument("--write-example", type=Path, metavar="FILE",
                       help="write the example configuration, generated from the code")
    check.set_defaults(handler=run_check_config)
    stats = sub.add_parser("stats", parents=[common], help="what the store holds")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=run_stats)
    rules = sub.add_parser("rules", parents=[common], help="update or show the active ruleset")
    rules.add_argument("action", choices=["update", "status"])
    rules.add_argument("--offline", action="append", type=Path, default=[], metavar="FILE",
                       help="use this .rules file or tar bundle instead of downloading")
    rules.add_argument("--no-reload", action="store_true",
                       help="do not ask running Suricatas to reload the new rules")
    rules.set_defaults(handler=run_rules)
    keep = sub.add_parser("retention", parents=[common], help="enforce the retention budgets now")
    keep.set_defaults(handler=run_retention)
    plugins: list[tuple[list[str], Any]] = [
        (names.split(",") if names else [], spec)
        for names, _, spec in (item.rpartition("=") for item in BUILTIN_COMMANDS)
    ]
    plugins += [([ep.name], ep) for ep in sorted(entry_points(group="spanwatch.commands"),
                                                  key=lambda e: e.name)]  # fmt: skip
    own = {"check-config", "stats", "rules", "retention"}
    known = command in own or any(command in names for names, _ in plugins)
    for names, spec in plugins:
        if known and names and command not in names:
            continue
        if isinstance(spec, str):
            module, _, func = spec.partition(":")
            getattr(importlib.import_module(module), func)(sub, common)
        else:
            spec.load()(sub, common)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr (journald picks it up); our loggers only, never the root's level."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("appliance", "sensors", "webui"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level)
        log.propagate = False
    logging.getLogger("scapy").setLevel(logging.ERROR)


def config_from_args(args: argparse.Namespace) -> AppConfig:
    """Load the configuration with the CLI overrides applied."""
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = str(args.data_dir)
    return load_config(getattr(args, "config", None), overrides=overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spanwatch`` console script."""
    tune_interpreter()
    args_in = sys.argv[1:] if argv is None else argv
    parser = build_parser(next((a for a in args_in if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        cfg = config_from_args(args)
        return int(args.handler(args, cfg))
    except ConfigError as err:
        print(f"spanwatch: configuration error:\n{err}", file=sys.stderr)
        return EXIT_USAGE
    except ApplianceError as err:
        print(f"spanwatch: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("spanwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`spanwatch stats | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run_check_config(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``spanwatch check-config``: the same loader every command uses."""
    if args.write_example is not None:
        from appliance.config_example import write_example

        write_example(args.write_example)
        print(f"Wrote {args.write_example}.")
        return 0
    where = args.config or "defaults and environment"
    print(f"Configuration OK ({where}): sensor {cfg.sensor.name}, "
          f"{len(cfg.networks.home)} monitored network(s), "
          f"{len(cfg.interfaces)} interface(s), data in {cfg.data_dir}.")  # fmt: skip
    return 0


def run_stats(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``spanwatch stats``: events by type, alerts by signature, size, time range."""
    from appliance.store import open_store
    from appliance.summary import format_stats, stats_as_dict

    store = open_store(cfg.store_path, readonly=True)
    try:
        stats = store.stats()
        sigs = store.signatures(sorted(stats.alerts_by_sid))
    finally:
        store.close()
    if args.json:
        print(json.dumps(stats_as_dict(stats, sigs, cfg), ensure_ascii=False, indent=2))
    else:
        print(format_stats(stats, sigs, cfg))
    return 0


def evidence_dirs(cfg: AppConfig) -> list[Path]:
    """Folders of files on disk under the retention's ``pcap`` budget: the sensors' pcap
    ring and extracted files, and the run folders of offline analyses (Suricata's own
    output: its EVE files, a copy of what the store holds, would otherwise pile up)."""
    out: list[Path] = []
    sensors, runs = cfg.data_dir / "sensors", cfg.data_dir / "runs"
    if sensors.is_dir():
        out.extend(p for p in sensors.rglob("*") if p.is_dir() and p.name in ("pcap", "files"))
    if runs.is_dir():
        out.extend(p for p in runs.iterdir() if p.is_dir())
    return out


def run_retention(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``spanwatch retention``: apply the budgets and print usage and days left."""
    from appliance.runs import roll_back_unfinished
    from appliance.store import open_store

    store = open_store(cfg.store_path)
    try:
        roll_back_unfinished(store, cfg.data_dir / "runs")  # (analyses that were killed)
        report = store.apply_retention(cfg.retention, evidence_dirs(cfg))
    finally:
        store.close()
    print(report.describe())
    return 0


def run_rules(args: argparse.Namespace, cfg: AppConfig) -> int:
    """``spanwatch rules update|status``: a failed update keeps the last good rules."""
    from appliance.suricata.rule_policy import rule_manager_for
    from appliance.suricata.rules import RuleManager, rule_count

    # An update applies the rules page's policy too (disabled rules, thresholds, sources).
    manager = RuleManager(cfg, cfg.rules_dir) if args.action == "status" else rule_manager_for(cfg)
    if args.action == "status":
        path = manager.active_rules_path
        if not path.exists():
            print(f"No active ruleset at {path}; run `spanwatch rules update`.")
            return 0
        age_days = (time.time() - path.stat().st_mtime) / 86400
        print(f"Active ruleset {path}: {rule_count(path)} enabled rules, "
              f"updated {age_days:.1f} days ago.")  # fmt: skip
        return 0
    result = manager.update(offline_files=args.offline)
    before = "none" if result.previous_rule_count is None else result.previous_rule_count
    print(f"Installed {result.rule_count} rules from {', '.join(result.sources) or 'local files'}"
          f" (before: {before}).")  # fmt: skip
    if result.changed and not args.no_reload:
        _reload_running(cfg, manager)
    return 0


def _reload_running(cfg: AppConfig, manager: Any) -> None:
    """Ask every Suricata with a socket in the run directory to reload its rules."""
    from appliance.errors import SuricataError
    from appliance.suricata.control import SuricataControl

    for sock in sorted(cfg.suricata.run_dir.glob("suricata-*.sock")):
        try:
            with SuricataControl(sock, timeout=10.0) as control:
                manager.reload(control)
            print(f"Reloaded rules in the Suricata at {sock}.")
        except SuricataError as err:
            logger.warning("Could not reload rules through %s: %s.", sock, err)
