"""``spanwatch sensors list|approve|revoke`` and ``spanwatch center`` (the ingest API alone)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import threading
from typing import Any

from appliance.config import AppConfig

logger = logging.getLogger(__name__)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``sensors`` and ``center``."""
    p = sub.add_parser("sensors", parents=[common],
                       help="sensors of this center: list, approve or revoke enrolments")
    p.add_argument("action", nargs="?", choices=["list", "approve", "revoke"], default="list")
    p.add_argument("name", nargs="?", help="approve/revoke: the sensor's name")
    p.add_argument("--fingerprint", help="approve: only if the request has this fingerprint")
    p.add_argument("--json", action="store_true", help="list: one JSON object")
    p.add_argument("--actor", default=None, help="who decides (default: login name)")
    p.set_defaults(handler=run_sensors)
    c = sub.add_parser("center", parents=[common],
                       help="serve the ingest API for remote sensors (spanwatch core does too)")
    c.add_argument("--bind", help="HOST:PORT (default: center.bind)")
    c.set_defaults(handler=run_center)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run_sensors(args: argparse.Namespace, cfg: AppConfig) -> int:
    """List sensors, or approve/revoke one."""
    from appliance.errors import ConfigError
    from appliance.service import Service

    service = Service(cfg)
    try:
        if args.action == "list":
            return _list(service, as_json=args.json)
        if not args.name:
            raise ConfigError(f"`spanwatch sensors {args.action}` needs the sensor's name")
        if args.action == "approve":
            done = service.sensors.approve(args.name, actor=_actor(args),
                                           fingerprint=args.fingerprint)  # fmt: skip
        else:
            done = service.sensors.revoke(args.name, actor=_actor(args))
        print(f"Sensor {done.name} ({done.fingerprint}) is now {done.status}.")
        return 0
    finally:
        service.close()


def _list(service: Any, *, as_json: bool) -> int:
    rows = service.sensors.list()
    if as_json:
        print(json.dumps({"sensors": [r.as_json() for r in rows]}, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("No sensors yet.")
        return 0
    print(f"{'NAME':<20} {'KIND':<7} {'STATUS':<9} {'ENROLMENT':<9} {'LAST CONTACT':<20} "
          f"{'LAG':>8} {'EVENTS':>10}  FINGERPRINT")  # fmt: skip
    for r in rows:
        lag = "-" if r.lag_seconds is None else f"{r.lag_seconds:.0f}s"
        print(f"{r.name:<20} {r.kind:<7} {r.status:<9} {r.enrolment or '-':<9} "
              f"{r.last_contact_text:<20} {lag:>8} {r.events:>10}  {r.fingerprint or ''}")
        for note in r.notes:
            print(f"    ! {note}")
    return 0


def run_center(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Serve only the ingest API until SIGTERM or SIGINT."""
    from appliance.center import IngestServer
    from appliance.service import Service

    if args.bind:
        center = type(cfg.center).model_validate({**cfg.center.model_dump(), "bind": args.bind})
        cfg = cfg.model_copy(update={"center": center})
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        logger.info("Stopping on signal %s.", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service = Service(cfg)
    server = IngestServer(service)
    try:
        server.start()
        print(f"Ingest API on port {server.port}.", flush=True)
        stop.wait()
    finally:
        server.stop()
        service.close()
    return 0
