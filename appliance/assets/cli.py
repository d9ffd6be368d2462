"""``spanwatch assets``: the inventory and risk scores on the command line."""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import AppConfig
from appliance.errors import ApplianceError

ACTIONS = ("list", "show", "update", "delete", "import", "export", "risk")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``spanwatch assets``."""
    p = sub.add_parser(
        "assets", parents=[common], help="the asset inventory and risk scores",
        description="list | show IP | update IP --owner ... | delete IP | import FILE | "
        "export FILE | risk [IP]. The inventory is brought up to date with the store first.")
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS)
    p.add_argument("target", nargs="?", help="an address (show, update, risk) or a CSV file "
                   "(import, export; - for standard input/output)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--search", help="only assets whose address, name, MAC, vendor, OS, owner, "
                   "agency, tag or banner contains this")
    p.add_argument("--sort", default="risk", choices=["risk", "ip", "last_seen", "first_seen",
                                                       "criticality"])
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument("--owner", help="update: the owner (empty clears)")
    p.add_argument("--agency", help="update: the agency/department (empty clears)")
    p.add_argument("--criticality", choices=["low", "normal", "high", "critical"])
    p.add_argument("--tags", help="update: tags separated by ';' (empty clears)")
    p.add_argument("--actor", default=None, help="who makes the change (default: login name)")
    p.set_defaults(handler=run_assets)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _when(us: int | None, tz: ZoneInfo) -> str:
    if us is None:
        return "-"
    return datetime.datetime.fromtimestamp(us / 1e6, tz).strftime("%Y-%m-%d %H:%M")


def run_assets(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Run one ``spanwatch assets`` action."""
    from appliance.assets.inventory import run_inventory
    from appliance.service import Service

    if args.action in ("show", "update", "delete") and not args.target:
        raise ApplianceError(f"`spanwatch assets {args.action}` needs an address.")
    if args.action in ("import", "export") and not args.target:
        raise ApplianceError(f"`spanwatch assets {args.action}` needs a file (or -).")
    service = Service(cfg)
    try:
        if args.action != "import" and run_inventory(service).get("network_risk") is None:
            service.risk.recompute()  # nothing new read: scores as of now all the same
        handler = {"list": _list, "show": _show, "update": _update, "delete": _delete,
                   "import": _import, "export": _export, "risk": _risk}[args.action]  # fmt: skip
        return handler(service, args)
    finally:
        service.close()


def _list(service: Any, args: argparse.Namespace) -> int:
    page = service.assets.list(q=args.search, limit=args.limit, sort=args.sort)
    if args.json:
        print(json.dumps({"total": page.total, "assets": [a.as_json() for a in page.items]},
                         ensure_ascii=False, indent=2))  # fmt: skip
        return 0
    tz = ZoneInfo(service.cfg.timezone)
    print(f"{'ADDRESS':<16} {'RISK':>4} {'NAME':<28} {'MAC':<17} {'VENDOR':<22} {'OS':<18} "
          f"{'SERVICES':<24} LAST SEEN")  # fmt: skip
    for a in page.items:
        services = ",".join(f"{s['port']}/{s['proto'].lower()}" for s in a.services[:5])
        print(f"{a.ip:<16} {'' if a.risk is None else a.risk:>4} {(a.name or '-')[:28]:<28} "
              f"{(a.macs[0] if a.macs else '-'):<17} {(a.vendor or '-')[:22]:<22} "
              f"{(a.os_guess or '-')[:18]:<18} {services[:24]:<24} {_when(a.last_seen, tz)}")
    print(f"{len(page.items)} of {page.total} assets.")
    return 0


def _show(service: Any, args: argparse.Namespace) -> int:
    detail = service.assets.get(args.target)
    if detail is None:
        raise ApplianceError(f"No asset {args.target} in the inventory.")
    if args.json:
        print(json.dumps(detail.as_json(), ensure_ascii=False, indent=2))
        return 0
    a, tz = detail.asset, ZoneInfo(service.cfg.timezone)
    print(f"{a.ip}  risk {a.risk if a.risk is not None else '-'}  criticality {a.criticality}")
    print(f"  seen {_when(a.first_seen, tz)} .. {_when(a.last_seen, tz)} by "
          f"{', '.join(a.sensors) or '-'}")
    print(f"  MAC {', '.join(a.macs) or '-'}  vendor {a.vendor or '-'}")
    print(f"  OS {a.os_guess or '-'}" + (f"  ({a.os_basis})" if a.os_basis else ""))
    print(f"  owner {a.owner or '-'}  agency {a.agency or '-'}  tags {', '.join(a.tags) or '-'}")
    for n in detail.names:
        print(f"  name {n['name']} ({n['source']})")
    for other in detail.same_mac:
        print(f"  same MAC {other['mac']} also at {other['ip']} ({_when(other['last_seen'], tz)})")
    for s in detail.services:
        extra = " ".join(x for x in (s["app_proto"], s["banner"], s["tls_version"]) if x)
        outside = f"  from outside: {s['external_flows']} flows" if s["external_flows"] else ""
        print(f"  service {s['port']}/{s['proto'].lower()} {extra}{outside}")
    if detail.risk is not None:
        _print_factors(detail.risk)
    return 0


def _print_factors(score: Any) -> None:
    print(f"  risk {score.score}:")
    for f in score.factors:
        print(f"    {f.points:+4d}  {f.detail_en}")
        print(f"          {f.detail_vi}")


def _update(service: Any, args: argparse.Namespace) -> int:
    tags = None if args.tags is None else [t for t in args.tags.split(";")]
    asset = service.assets.update(args.target, owner=args.owner, agency=args.agency,
                                  criticality=args.criticality, tags=tags, actor=_actor(args))
    service.risk.recompute()
    print(json.dumps(asset.as_json(), ensure_ascii=False, indent=2) if args.json
          else f"Updated {asset.ip}.")  # fmt: skip
    return 0


def _delete(service: Any, args: argparse.Namespace) -> int:
    service.assets.delete(args.target, actor=_actor(args))
    service.risk.recompute()
    print(f"Deleted {args.target} from the inventory.")
    return 0


def _import(service: Any, args: argparse.Namespace) -> int:
    try:
        data = sys.stdin.buffer.read() if args.target == "-" else Path(args.target).read_bytes()
        text = data.decode("utf-8")
    except OSError as err:
        raise ApplianceError(f"Cannot read {args.target}: {err.strerror}.") from err
    except UnicodeDecodeError as err:
        raise ApplianceError(f"{args.target} is not UTF-8 text (byte {err.start}).") from err
    created, updated, errors = service.assets.import_csv(text, actor=_actor(args))
    if errors:
        for error in errors:
            print(f"{args.target}: {error}", file=sys.stderr)
        raise ApplianceError(f"{len(errors)} bad line(s) in {args.target}; nothing imported.")
    service.risk.recompute()
    print(f"Imported {args.target}: {created} new, {updated} updated.")
    return 0


def _export(service: Any, args: argparse.Namespace) -> int:
    text = service.assets.export_csv()
    if args.target == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.target).write_text(text, encoding="utf-8")
    except OSError as err:
        raise ApplianceError(f"Cannot write {args.target}: {err.strerror}.") from err
    print(f"Exported {text.count(chr(10)) - 1} assets to {args.target}.")
    return 0


def _risk(service: Any, args: argparse.Namespace) -> int:
    score = service.risk.host(args.target) if args.target else service.risk.network()
    if args.json:
        out = score.as_json()
        if not args.target:
            out["top"] = [{"ip": ip, **s.as_json()} for ip, s in service.risk.top(10)]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"{'Host ' + args.target if args.target else 'Network'} risk: {score.score}/100")
    _print_factors(score)
    if not args.target:
        for ip, s in service.risk.top(10):
            print(f"  {ip:<16} {s.score:>3}")
    return 0
