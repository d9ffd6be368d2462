"""``spanwatch report``: one day's risk report on demand."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import AppConfig
from appliance.errors import ConfigError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """``spanwatch report [--date D] [--lang vi|en] [--format pdf|html] --out FILE``."""
    rep = sub.add_parser("report", parents=[common], help="make the daily risk report")
    rep.add_argument("--date", help="the day, YYYY-MM-DD (default: yesterday, local time)")
    rep.add_argument("--lang", choices=["vi", "en"], help="language (default: configured)")
    rep.add_argument("--format", choices=["pdf", "html"], default="pdf")
    rep.add_argument("--out", type=Path, required=True, metavar="FILE", help="write it here")
    rep.set_defaults(handler=run_report)


def parse_day(value: str | None, timezone: str) -> dt.date:
    """``--date``, or yesterday in the appliance's time zone."""
    if value is None:
        return dt.datetime.now(ZoneInfo(timezone)).date() - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--date {value!r}: expected YYYY-MM-DD, e.g. 2026-11-23") from None


def run_report(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Write the report to ``--out``."""
    from appliance.reports import render
    from appliance.reports.data import collect
    from appliance.service import Service

    day = parse_day(args.date, cfg.timezone)
    service = Service(cfg)
    try:
        body = render(collect(service, day), args.lang or cfg.core.report.lang, args.format)
    finally:
        service.close()
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(body)
    tmp.replace(args.out)
    print(f"Wrote the {args.format.upper()} report for {day} to {args.out}.")
    return 0
