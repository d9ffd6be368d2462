"""``spanwatch traffic``: volume, peak and the top lists from the rollups."""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import AppConfig
from appliance.errors import ApplianceError

_RELATIVE = re.compile(r"^(\d+)([mhd])$")
_UNITS = {"m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_TITLES = {"app": "Applications", "service": "Services", "talker": "Top talkers (inside)",
           "conversation": "Conversations", "country": "Remote countries",
           "asn": "Remote autonomous systems"}  # fmt: skip


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``spanwatch traffic``."""
    p = sub.add_parser(
        "traffic", parents=[common], help="traffic volume, peaks and top lists",
        description="Volume, peak, capture health and the top applications, services, "
        "talkers, conversations, countries and autonomous systems, from the rollups "
        "(spanwatch core keeps them up to date with the store). Relative times count back "
        "from the newest traffic in the store.")  # fmt: skip
    p.add_argument("--since", default="24h",
                   help="start: 30m, 24h, 7d (before the newest traffic), an ISO time, or all")
    p.add_argument("--until", default=None, help="end: an ISO time (default: the newest traffic)")
    p.add_argument("-n", "--top", type=int, default=10, help="items per list (default 10)")
    p.add_argument("--host", help="one inside host's traffic instead of the tops")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_traffic)


def parse_time(value: str, newest: int, tz: ZoneInfo) -> int:
    """``30m``/``24h``/``7d`` before ``newest``, or an ISO time (local if no offset), in µs."""
    match = _RELATIVE.match(value.strip())
    if match:
        return newest - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        when = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApplianceError(f"bad time {value!r}: use 30m, 24h, 7d, all or an ISO time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return int(when.timestamp() * 1_000_000)


def _range(args: argparse.Namespace, conn: Any, tz: ZoneInfo) -> tuple[int, int]:
    from appliance.traffic.fold import newest_minute

    row = conn.execute("SELECT min(bucket) FROM traffic_iface").fetchone()
    oldest = row[0] if row and row[0] is not None else 0
    newest = newest_minute(conn)
    newest = (newest + 60_000_000) if newest is not None else int(
        datetime.datetime.now(datetime.timezone.utc).timestamp() * 1e6)  # fmt: skip
    until = parse_time(args.until, newest, tz) if args.until else newest
    since = oldest if args.since == "all" else parse_time(args.since, newest, tz)
    if since >= until:
        raise ApplianceError("--since must be before --until")
    return since, until


def _note_lag(conn: Any, cfg: AppConfig) -> None:
    """Say so (on stderr) when stored events are not in the rollups yet."""
    from appliance.traffic.follow import read_cursor

    behind = conn.execute("SELECT count(*) FROM chunks WHERE id > ?",
                          (read_cursor(conn),)).fetchone()[0]  # fmt: skip
    if behind:
        print(f"spanwatch: note: {behind:,} stored chunks of events are not in the traffic "
              f"rollups yet; spanwatch core adds them every {cfg.core.rollup_seconds:g} s "
              "(is it running?).", file=sys.stderr)  # fmt: skip


def _when(us: int, tz: ZoneInfo) -> str:
    return datetime.datetime.fromtimestamp(us / 1e6, tz).strftime("%Y-%m-%d %H:%M")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _rate(bits: float) -> str:
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if bits < 1000 or unit == "Gbit/s":
            return f"{bits:.1f} {unit}"
        bits /= 1000
    return f"{bits:.1f} Gbit/s"


def run_traffic(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Print the traffic summary."""
    from appliance.service import Service

    tz = ZoneInfo(cfg.timezone)
    service = Service(cfg, readonly=True)
    try:
        traffic = service.traffic
        _note_lag(traffic.conn, cfg)
        since, until = _range(args, traffic.conn, tz)
        if args.host:
            return _print_host(traffic, args, since, until, tz)
        report = summary(traffic, since, until, args.top)
    finally:
        service.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    _print_summary(report, tz)
    return 0


def summary(traffic: Any, since: int, until: int, n: int) -> dict[str, Any]:
    """The JSON object ``spanwatch traffic --json`` prints."""
    points = traffic.throughput(since, until)
    peak = max(points, key=lambda p: p.bits_per_s, default=None)
    return {
        "since": since, "until": until,
        "totals": traffic.totals(since, until),
        "peak": None if peak is None else {"ts": peak.ts, "bits_per_s": peak.bits_per_s,
                                           "packets_per_s": peak.packets_per_s},
        "capture": traffic.capture_health(since, until),
        "top": {d: [t.as_json() for t in items] for d, items in traffic.tops(since, until,
                                                                            n).items()},
    }  # fmt: skip


def _print_summary(report: dict[str, Any], tz: ZoneInfo) -> None:
    out = sys.stdout
    totals = report["totals"]
    out.write(f"Traffic {_when(report['since'], tz)} - {_when(report['until'], tz)} "
              f"({tz.key}): {_size(totals['bytes'])}, {totals['packets']:,} packets, "
              f"{totals['flows']:,} flows\n")  # fmt: skip
    if report["peak"]:
        out.write(f"Peak: {_rate(report['peak']['bits_per_s'])} at "
                  f"{_when(report['peak']['ts'], tz)}\n")  # fmt: skip
    for cap in report["capture"]:
        out.write(f"Capture {cap['sensor']}/{cap['iface'] or '-'}: {cap['packets']:,} packets, "
                  f"{cap['drops']:,} dropped ({cap['drop_ratio']:.2%})\n")  # fmt: skip
    for dim, items in report["top"].items():
        out.write(f"\n{_TITLES[dim]}\n")
        if not items:
            out.write("  (none)\n")
        for item in items:
            out.write(f"  {item['label'][:60]:60s} {_size(item['bytes']):>11s} "
                      f"{item['flows']:>9,} flows\n")  # fmt: skip


def _print_host(traffic: Any, args: argparse.Namespace, since: int, until: int, tz: ZoneInfo
                ) -> int:  # fmt: skip
    from dataclasses import asdict

    host = traffic.host(args.host, since, until, args.top)
    if args.json:
        print(json.dumps(asdict(host), ensure_ascii=False, indent=2))
        return 0
    t = host.totals
    print(f"{host.ip} {_when(since, tz)} - {_when(until, tz)}: out {_size(t['bytes_out'])}, "
          f"in {_size(t['bytes_in'])}, {t['flows_out']:,} flows started, "
          f"{t['flows_in']:,} answered")  # fmt: skip
    for peer in host.peers:
        print(f"  peer {peer.label:40s} {_size(peer.bytes):>11s} {peer.flows:>7,} flows")
    for contact in host.services_offered:
        print(f"  serves {contact.key} since {_when(contact.first_seen, tz)}")
    for item in host.services_used:
        print(f"  uses {item.label:20s} {_size(item.bytes):>11s} {item.flows:>7,} flows")
    return 0
