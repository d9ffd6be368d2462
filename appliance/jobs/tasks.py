"""The jobs themselves: plain, idempotent functions of the service and a fire time.

Each returns a one-line summary for the run history and raises on failure (the
scheduler retries and logs). The request handlers the web UI may trigger live here too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)


def local_day_before(service: Service, when_us: int) -> dt.date:
    """The appliance-local calendar day before the one ``when_us`` falls on."""
    tz = ZoneInfo(service.cfg.timezone)
    return dt.datetime.fromtimestamp(when_us / 1e6, tz=tz).date() - dt.timedelta(days=1)


def daily_report(service: Service, fired_us: int) -> str:
    """Yesterday's risk report (HTML + PDF), stored, then e-mailed to the recipients."""
    from appliance.notify.email import send_report

    cfg = service.cfg.core.report
    day = local_day_before(service, fired_us)
    stored = service.reports.generate(day, lang=cfg.lang, formats=("html", "pdf"))
    pdf = next(r for r in stored if r.format == "pdf")
    pruned = service.reports.prune(cfg.keep_days, day)
    sent = send_report(service.cfg.core.notify.email, cfg.recipients, Path(pdf.path), day, cfg.lang)
    return (f"Report for {day} stored ({len(stored)} files, {pruned} old ones removed), "
            f"e-mailed to {sent} recipient(s).")  # fmt: skip


def update_rules(service: Service, _fired_us: int, offline: list[Path] | None = None) -> str:
    """Update, test (suricata -T), swap and reload; a failure keeps the last good rules."""
    return str(_apply_rules(service, offline or [])["message"])


def _apply_rules(service: Service, offline: list[Path]) -> dict[str, Any]:
    """The rules area's transactional apply (sources + the UI's policy); a failure becomes
    a sensor-health finding and a notification before it is raised."""
    from appliance.errors import RulesError
    from appliance.jobs.health import HealthIssue, write_findings
    from appliance.suricata.rule_policy import apply_rule_changes

    cfg = service.cfg
    try:
        return apply_rule_changes(service, {"offline_files": [str(p) for p in offline]})
    except RulesError as err:
        issue = HealthIssue(
            "rule-update", cfg.sensor.name, 2,
            f"Rule update failed; the last good rules stay active: {err}",
            f"Cập nhật bộ luật thất bại; bộ luật tốt gần nhất vẫn được dùng: {err}",
            {"error": str(err)[:500]},
        )  # fmt: skip
        write_findings(service, [issue], int(time.time() * 1e6))
        _notify_health(service, [issue])
        raise


def reload_running(service: Service, manager: Any) -> int:
    """Ask every running Suricata (a socket in the run directory) to reload its rules."""
    from appliance.errors import SuricataError
    from appliance.suricata.control import SuricataControl

    done = 0
    for sock in sorted(service.cfg.suricata.run_dir.glob("suricata-*.sock")):
        try:
            with SuricataControl(sock, timeout=10.0) as control:
                manager.reload(control)
            done += 1
        except SuricataError as err:
            logger.warning("Could not reload rules through %s: %s.", sock, err)
    return done


def enforce_retention(service: Service, _fired_us: int) -> str:
    """Apply the retention budgets; log what was removed; keep the forecast current."""
    from appliance.cli import evidence_dirs
    from appliance.runs import roll_back_unfinished

    roll_back_unfinished(service.store, service.cfg.data_dir / "runs")  # (killed analyses)
    report = service.store.apply_retention(service.cfg.retention, evidence_dirs(service.cfg))
    summary = report.describe()
    logger.info("Retention: %s.", summary)
    forecast = {kind: asdict(usage) for kind, usage in report.kinds.items()}
    now = int(time.time() * 1e6)
    with service.state.transaction() as conn:
        conn.execute(
            "INSERT INTO kv VALUES ('retention.last', ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at",
            (json.dumps(forecast), now),
        )
    return summary


def retention_forecast(service: Service) -> dict[str, Any]:
    """The last retention pass per kind: bytes, removed, days left (for UI and report)."""
    rows = service.state.query("SELECT value FROM kv WHERE key = 'retention.last'")
    return json.loads(rows[0]["value"]) if rows else {}


def check_health(service: Service, fired_us: int) -> str:
    """Sensor health checks; new issues become findings and notifications."""
    from appliance.jobs.health import check_health as run_checks

    issues, new = run_checks(service, int(time.time() * 1e6))
    if new:
        _notify_health(service, new)
    return f"{len(issues)} health issue(s), {len(new)} new."


def _notify_health(service: Service, issues: list[Any]) -> None:
    from appliance.notify import Notifier

    Notifier(service).health(issues)


def export_stix(service: Service, fired_us: int) -> str:
    """Yesterday's incidents as a STIX 2.1 bundle in <data_dir>/sharing/."""
    from appliance.sharing import day_bundle

    day = local_day_before(service, fired_us)
    bundle = day_bundle(service, day)
    folder = service.cfg.data_dir / "sharing"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"incidents-{day.isoformat()}.stix.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(bundle.serialize(pretty=True), encoding="utf-8")
    tmp.replace(path)
    return f"STIX bundle of {day} written to {path}."


def apply_rules(service: Service, params: dict[str, Any]) -> dict[str, Any]:
    """Request "rules.apply" from the web UI: the same transactional rule update."""
    return _apply_rules(service, [Path(p) for p in params.get("offline_files", [])])


def generate_report(service: Service, params: dict[str, Any]) -> dict[str, Any]:
    """Request "report.generate": one day's report on demand."""
    day = dt.date.fromisoformat(str(params["day"]))
    lang = str(params.get("lang", service.cfg.core.report.lang))
    stored = service.reports.generate(day, lang=lang, formats=("html", "pdf"))
    return {"reports": [r.id for r in stored]}
