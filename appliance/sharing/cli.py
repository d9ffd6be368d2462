"""``spanwatch share stix``: an incident or a day's incidents as a STIX 2.1 bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ApplianceError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """``spanwatch share stix (--incident ID | --date YYYY-MM-DD) [--out FILE]``."""
    share = sub.add_parser("share", parents=[common], help="export incidents for sharing")
    share.add_argument("format", choices=["stix"], help="STIX 2.1 bundle (JSON)")
    which = share.add_mutually_exclusive_group(required=True)
    which.add_argument("--incident", type=int, metavar="ID", help="one incident")
    which.add_argument("--date", help="every incident of this day (appliance time)")
    share.add_argument("--out", type=Path, metavar="FILE", help="write here (default stdout)")
    share.set_defaults(handler=run_share)


def run_share(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Write the bundle."""
    from appliance.reports.cli import parse_day
    from appliance.service import Service
    from appliance.sharing import day_bundle, incident_bundle

    service = Service(cfg)
    try:
        if args.incident is not None:
            try:
                out = incident_bundle(service, args.incident)
            except KeyError:
                raise ApplianceError(f"No incident {args.incident}.") from None
        else:
            out = day_bundle(service, parse_day(args.date, cfg.timezone))
    finally:
        service.close()
    text = out.serialize(pretty=True)
    if args.out is None:
        sys.stdout.write(text + "\n")
    else:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
        print(f"Wrote a STIX 2.1 bundle of {len(out.objects)} objects to {args.out}.")
    return 0
