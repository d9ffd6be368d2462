"""Summaries of what the store holds: per analysed capture and for the whole store."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import AppConfig
from appliance.store import EventQuery, EventStore, Signature, StoreStats

SEVERITY_NAMES = {1: "high", 2: "medium", 3: "low", 4: "info"}
TOP_N = 10


def summarize_sources(
    store: EventStore, source_ids: Sequence[int], *, file: str, packets: int | None
) -> dict[str, Any]:
    """The summary of one capture (the events of ``source_ids``) in the documented shape."""
    by_sid = store.alert_counts(source_ids)
    sigs = store.signatures(sorted(by_sid))
    alerts = [_alert_entry(sid, count, sigs.get(sid)) for sid, count in by_sid.items()]
    alerts.sort(key=lambda a: (a["severity"] or 9, -a["count"], a["sid"]))
    findings = [
        _finding_entry(rec)
        for rec in store.events(EventQuery(event_type="finding", source_ids=source_ids))
    ]
    talkers = _top_talkers(store, source_ids)
    return {
        "file": file,
        "packets": packets,
        "events_by_type": dict(sorted(store.type_counts(source_ids).items())),
        "alerts_by_sid": {str(sid): n for sid, n in sorted(by_sid.items())},
        "alerts_by_severity": _by_severity(alerts),
        "alerts": alerts,
        "findings": findings,
        "top_talkers": talkers,
    }


def merge_summaries(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``total`` over several capture summaries."""
    types: Counter[str] = Counter()
    sids: Counter[str] = Counter()
    alerts: dict[int, dict[str, Any]] = {}
    talkers: Counter[str] = Counter()
    findings: list[dict[str, Any]] = []
    for part in parts:
        types.update(part["events_by_type"])
        sids.update(part["alerts_by_sid"])
        for alert in part["alerts"]:
            merged = alerts.setdefault(alert["sid"], {**alert, "count": 0})
            merged["count"] += alert["count"]
        for talker in part["top_talkers"]:
            talkers[talker["ip"]] += talker["bytes"]
        findings.extend(part["findings"])
    alert_list = sorted(alerts.values(), key=lambda a: (a["severity"] or 9, -a["count"], a["sid"]))
    return {
        "packets": sum(p["packets"] or 0 for p in parts),
        "events_by_type": dict(sorted(types.items())),
        "alerts_by_sid": dict(sorted(sids.items(), key=lambda kv: int(kv[0]))),
        "alerts_by_severity": _by_severity(alert_list),
        "alerts": alert_list,
        "findings": findings,
        "top_talkers": [{"ip": ip, "bytes": b} for ip, b in talkers.most_common(TOP_N)],
        **_merged_incidents(parts),
    }


def _merged_incidents(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``incidents`` of the total: each incident once, by id (captures may share one)."""
    if not any("incidents" in p for p in parts):
        return {}
    seen: dict[int, dict[str, Any]] = {}
    for part in parts:
        for incident in part.get("incidents", []):
            seen.setdefault(int(incident["id"]), incident)
    return {"incidents": [seen[k] for k in sorted(seen)]}


def _alert_entry(sid: int, count: int, sig: Signature | None) -> dict[str, Any]:
    return {
        "sid": sid,
        "signature": sig.msg if sig else None,
        "category": sig.category if sig else None,
        "severity": sig.severity if sig else None,
        "count": count,
    }


def _finding_entry(record: dict[str, Any]) -> dict[str, Any]:
    finding = record.get("finding") or {}
    return {
        "type": finding.get("type"),
        "category": finding.get("category"),
        "severity": finding.get("severity"),
        "src_ip": record.get("src_ip"),
        "dest_ip": record.get("dest_ip"),
    }


def _by_severity(alerts: Sequence[dict[str, Any]]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for alert in alerts:
        out[SEVERITY_NAMES.get(alert["severity"], "unknown")] += alert["count"]
    return dict(out)


def _top_talkers(store: EventStore, source_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Hosts by bytes in flow records (both directions counted for each end)."""
    return [{"ip": ip, "bytes": n} for ip, n in store.top_talkers(source_ids, TOP_N)]


# -- text rendering ----------------------------------------------------------------------


def format_summary(summary: dict[str, Any], title: str) -> str:
    """A capture summary for a terminal."""
    lines = [title, f"  packets: {summary['packets'] if summary['packets'] is not None else '?'}"]
    types = summary["events_by_type"]
    lines.append("  events by type: " + (", ".join(f"{t} {n}" for t, n in types.items()) or "none"))
    sev = summary["alerts_by_severity"]
    by_sev = ", ".join(f"{s} {n}" for s, n in sev.items()) or "none"
    lines.append("  alerts by severity: " + by_sev)
    for alert in summary["alerts"][:TOP_N]:
        lines.append(f"    {alert['count']:>7}  [{alert['sid']}] {alert['signature'] or '?'}"
                     f" ({SEVERITY_NAMES.get(alert['severity'], '?')})")  # fmt: skip
    if len(summary["alerts"]) > TOP_N:
        lines.append(f"    ... and {len(summary['alerts']) - TOP_N} more signatures")
    if summary["findings"]:
        lines.append(f"  findings: {len(summary['findings'])}")
        for f in summary["findings"][:TOP_N]:
            lines.append(f"    {f['type']} ({f['category']}): {f['src_ip']} -> {f['dest_ip']}")
    if summary["top_talkers"]:
        lines.append("  top talkers (bytes):")
        for t in summary["top_talkers"][:5]:
            lines.append(f"    {t['bytes']:>12}  {t['ip']}")
    return "\n".join(lines)


def stats_as_dict(stats: StoreStats, sigs: dict[int, Signature], cfg: AppConfig) -> dict[str, Any]:
    """``spanwatch stats --json``."""
    return {
        "store": str(cfg.store_path),
        "total_events": stats.total_events,
        "size_bytes": stats.size_bytes,
        "oldest": _iso(stats.oldest_us, cfg.timezone),
        "newest": _iso(stats.newest_us, cfg.timezone),
        "events_by_type": dict(sorted(stats.events_by_type.items())),
        "alerts_by_sid": {str(s): n for s, n in sorted(stats.alerts_by_sid.items())},
        "signatures": {str(s): sig.msg for s, sig in sorted(sigs.items())},
        "counters": stats.counters,
    }


def format_stats(stats: StoreStats, sigs: dict[int, Signature], cfg: AppConfig) -> str:
    """``spanwatch stats`` for a terminal."""
    d = stats_as_dict(stats, sigs, cfg)
    lines = [
        f"Store {d['store']}: {d['total_events']} events, {d['size_bytes'] / 1048576:.1f} MiB",
        f"  oldest: {d['oldest'] or '-'}   newest: {d['newest'] or '-'}",
        "  events by type:",
    ]
    lines += [f"    {n:>10}  {t}" for t, n in d["events_by_type"].items()]
    top = sorted(stats.alerts_by_sid.items(), key=lambda kv: -kv[1])[:20]
    if top:
        lines.append("  alerts by signature:")
        lines += [f"    {n:>10}  [{s}] {sigs[s].msg if s in sigs else '?'}" for s, n in top]
    bad = {k: v for k, v in stats.counters.items() if k.startswith("dead_letter.")}
    if bad:
        lines.append("  dead letters: " + ", ".join(f"{k[12:]} {v}" for k, v in bad.items()))
    return "\n".join(lines)


def _iso(micros: int | None, tz: str) -> str | None:
    if micros is None:
        return None
    return dt.datetime.fromtimestamp(micros / 1e6, ZoneInfo(tz)).isoformat(timespec="seconds")
