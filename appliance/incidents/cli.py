"""``spanwatch incidents``: incidents on the command line, and the ``analyze`` hook."""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import AppConfig
from appliance.errors import ApplianceError
from appliance.incidents.model import SEVERITIES, STATUSES, Incident

ACTIONS = ("list", "show", "correlate", "status", "assign", "comment", "suppress",
           "suppressions", "unsuppress")  # fmt: skip


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``spanwatch incidents``."""
    p = sub.add_parser(
        "incidents", parents=[common], help="incidents correlated from alerts and findings",
        description="list | show ID | correlate | status ID STATUS | assign ID WHO | "
        "comment ID TEXT | suppress --sid/--finding-type/--src/--dest --reason ... | "
        "suppressions | unsuppress ID. The store's new alerts and findings are correlated "
        "first.")  # fmt: skip
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS)
    p.add_argument("target", nargs="?", help="an incident or suppression id")
    p.add_argument("value", nargs="?", help="status: the new status; assign: who; comment: text")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--status", action="append", choices=[*STATUSES, "open"],
                   help="only incidents in this status (repeatable; open = not closed)")
    p.add_argument("--severity", choices=SEVERITIES, help="only incidents of this severity")
    p.add_argument("--host", help="only incidents naming this address")
    p.add_argument("--search", help="only incidents whose title or hosts contain this")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument("--note", help="status: a note for the history (false-positive: the reason)")
    p.add_argument("--sid", type=int, help="suppress: signature id")
    p.add_argument("--finding-type", help="suppress: finding type (e.g. port-scan)")
    p.add_argument("--src", help="suppress: source address or CIDR")
    p.add_argument("--dest", help="suppress: destination address or CIDR")
    p.add_argument("--reason", help="suppress: why (required)")
    p.add_argument("--hours", type=float, help="suppress: expires after this many hours")
    p.add_argument("--actor", default=None, help="who makes the change (default: login name)")
    p.set_defaults(handler=run_incidents)


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
    return datetime.datetime.fromtimestamp(us / 1e6, tz).strftime("%Y-%m-%d %H:%M:%S")


def _target(args: argparse.Namespace) -> int:
    try:
        return int(str(args.target).lstrip("#"))
    except ValueError:
        raise ApplianceError(f"`spanwatch incidents {args.action}` needs an id, "
                             f"not {args.target!r}.") from None  # fmt: skip


def run_incidents(args: argparse.Namespace, cfg: AppConfig) -> int:
    """Run one ``spanwatch incidents`` action."""
    from appliance.incidents.correlate import Correlator
    from appliance.service import Service

    service = Service(cfg)
    try:
        result = Correlator(service).run_once()
        if args.action == "correlate":
            out = {"new": result.new, "reopened": result.reopened, "updated": result.updated,
                   "records": result.records, "noise": result.noise,
                   "suppressed": result.suppressed}  # fmt: skip
            print(json.dumps(out) if args.json else
                  f"{result.records} alerts and findings read ({result.noise} engine noise, "
                  f"{result.suppressed} suppressed): {len(result.new)} new incidents, "
                  f"{len(result.reopened)} reopened, {len(result.updated)} updated.")  # fmt: skip
            return 0
        try:
            return _ACTIONS[args.action](service, args, ZoneInfo(cfg.timezone))
        except (KeyError, ValueError) as err:
            raise ApplianceError(str(err).strip("'\"")) from None
    finally:
        service.close()


def _list(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    page = service.incidents.list(status=args.status, severity=args.severity, host=args.host,
                                  q=args.search, limit=args.limit)  # fmt: skip
    if args.json:
        print(json.dumps({"incidents": [i.as_json() for i in page.items], "total": page.total},
                         ensure_ascii=False, indent=2))  # fmt: skip
        return 0
    if not page.items:
        print("No incidents.")
        return 0
    for inc in page.items:
        print(_line(inc, tz))
    if page.total > len(page.items):
        print(f"... {page.total - len(page.items)} more (--limit).")
    return 0


def _line(inc: Incident, tz: ZoneInfo) -> str:
    counts = f"{inc.alert_count} alerts, {inc.finding_count} findings"
    return (f"#{inc.id:<5} {inc.severity:<8} {inc.status:<14} {_when(inc.last_seen, tz)}  "
            f"{inc.title}  ({counts})")  # fmt: skip


def _show(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    detail = service.incidents.get(_target(args))
    if detail is None:
        raise ApplianceError(f"No incident #{args.target}.")
    story = service.incidents.story(detail.incident.id)
    if args.json:
        print(json.dumps({**detail.as_json(), "story": [line.as_json() for line in story]},
                         ensure_ascii=False, indent=2))  # fmt: skip
        return 0
    inc = detail.incident
    print(_line(inc, tz))
    print(f"  {inc.title_vi}")
    print(f"  attackers: {', '.join(inc.attackers) or '-'}   "
          f"victims: {', '.join(inc.victims) or '-'}")
    print(f"  seen {_when(inc.first_seen, tz)} .. {_when(inc.last_seen, tz)}   "
          f"assignee: {inc.assignee or '-'}   sensors: {', '.join(inc.sensors) or '-'}")
    print("  story:")
    for line in story:
        print(f"    {_when(line.ts, tz)} {line.en}")
    print("  evidence:")
    for ev in detail.evidence:
        print(f"    {ev.stage:<20} {ev.kind} {ev.key:<10} {ev.src_ip or '-'} -> "
              f"{ev.dest_ip or '-'}  x{ev.count}  {ev.label}")  # fmt: skip
    print("  history:")
    for h in detail.history:
        print(f"    {_when(h.ts, tz)} {h.actor}: {h.action} {h.detail}")
    for c in detail.comments:
        print(f"  comment {_when(c.ts, tz)} {c.author}: {c.text}")
    return 0


def _status(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    if not args.value:
        raise ApplianceError(f"Give the new status: one of {', '.join(STATUSES)}.")
    service.incidents.set_status(_target(args), args.value, actor=_actor(args), note=args.note)
    return 0


def _assign(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    service.incidents.assign(_target(args), args.value, actor=_actor(args))
    return 0


def _comment(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    service.incidents.comment(_target(args), args.value or "", actor=_actor(args))
    return 0


def _suppress(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    expires = None
    if args.hours is not None:
        if args.hours <= 0:
            raise ApplianceError("--hours must be positive.")
        expires = service.incidents.clock() + int(args.hours * 3_600_000_000)
    new_id = service.incidents.suppress(
        sid=args.sid, finding_type=args.finding_type, src=args.src, dest=args.dest,
        reason=args.reason or "", expires_at=expires, actor=_actor(args))  # fmt: skip
    print(json.dumps({"id": new_id}) if args.json else f"Suppression #{new_id} added.")
    return 0


def _suppressions(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    items = service.incidents.suppressions()
    if args.json:
        print(json.dumps([{"id": s.id, "sid": s.sid, "finding_type": s.finding_type,
                           "src": s.src, "dest": s.dest, "reason": s.reason,
                           "expires_at": s.expires_at, "created_by": s.created_by,
                           "hits": s.hits} for s in items], ensure_ascii=False, indent=2))
        return 0  # fmt: skip
    for s in items:
        what = " ".join(x for x in (f"sid {s.sid}" if s.sid else "", s.finding_type or "",
                                    f"src {s.src}" if s.src else "",
                                    f"dest {s.dest}" if s.dest else "") if x)  # fmt: skip
        print(f"#{s.id:<4} {what}  until {_when(s.expires_at, tz) if s.expires_at else 'removed'}"
              f"  hits {s.hits}  {s.reason} ({s.created_by})")  # fmt: skip
    if not items:
        print("No suppressions in force.")
    return 0


def _unsuppress(service: Any, args: argparse.Namespace, tz: ZoneInfo) -> int:
    service.incidents.remove_suppression(_target(args), actor=_actor(args))
    return 0


_ACTIONS = {"list": _list, "show": _show, "status": _status, "assign": _assign,
            "comment": _comment, "suppress": _suppress, "suppressions": _suppressions,
            "unsuppress": _unsuppress}  # fmt: skip


def correlate_captures(cfg: AppConfig, source_ids: Sequence[Sequence[int]]) -> tuple[
        list[list[dict[str, Any]]], list[dict[str, Any]]]:  # fmt: skip
    """For ``spanwatch analyze``: correlate, then the incidents of each capture and in all."""
    from appliance.incidents.correlate import Correlator
    from appliance.service import Service

    service = Service(cfg)
    try:
        Correlator(service).run_once()
        per = [[i.as_json() for i in service.incidents.for_sources(list(ids))]
               for ids in source_ids]  # fmt: skip
    finally:
        service.close()
    seen: dict[int, dict[str, Any]] = {}
    for part in per:
        for item in part:
            seen.setdefault(item["id"], item)
    return per, [seen[k] for k in sorted(seen)]


def format_incidents(items: Sequence[dict[str, Any]]) -> str:
    """The incidents of an analysis, one line each, for the text summary."""
    if not items:
        return "Incidents: none."
    lines = [f"Incidents ({len(items)}):"]
    for item in items:
        lines.append(f"  #{item['id']} {item['severity']}: {item['title']}")
    return "\n".join(lines)
