"""Triage forms: what an analyst's click asks of ``Service.alerts``, checked and audited."""

from __future__ import annotations

import time
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from appliance.errors import ApplianceError
from appliance.service import Service
from webui.alerts.filters import parse_filter
from webui.audit import audit
from webui.auth.guard import current_user

ACTIONS = ("archive", "restore", "escalate", "false-positive", "archive-group")
#: Suppression lifetimes offered (days; 0 = until removed).
EXPIRY_DAYS = (1, 7, 30, 90, 0)
SCOPES = ("signature", "source", "pair")
MAX_IDS = 1_000


def actor() -> str:
    user = current_user()
    return user.username if user is not None else "anonymous"


def selected_ids(form: MultiDict[str, str]) -> list[int]:
    """The event ids ticked in the form (at most MAX_IDS)."""
    ids = []
    for value in form.getlist("ids")[:MAX_IDS]:
        if not value.isdigit() or len(value) > 20:
            raise ApplianceError(_("Bad alert id in the form."))
        ids.append(int(value))
    if not ids:
        raise ApplianceError(_("Select at least one alert."))
    return ids


def apply_triage(form: MultiDict[str, str], service: Service, tz: str) -> str:
    """Carry out the form's action; the message to show."""
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ApplianceError(_("Unknown action."))
    alerts, who = service.alerts, actor()
    if action == "archive-group":
        parsed = parse_filter(form, tz)
        if not form.get("gkey"):
            raise ApplianceError(_("No group selected."))
        n = alerts.archive_matching(parsed.flt, actor=who)
        audit("alerts.archive", f"group {form.get('gkey')}", count=n)
        return _("%(n)d alerts archived.", n=n)
    ids = selected_ids(form)
    if action == "archive":
        n = alerts.archive(ids, actor=who)
        audit("alerts.archive", _target(ids), count=n)
        return _("%(n)d alerts archived.", n=n)
    if action == "restore":
        n = alerts.restore(ids, actor=who)
        audit("alerts.restore", _target(ids), count=n)
        return _("%(n)d alerts back in the inbox.", n=n)
    if action == "false-positive":
        reason = (form.get("reason") or "").strip()[:500]
        if not reason:
            raise ApplianceError(_("Say why these alerts are false positives."))
        n = alerts.mark_false_positive(ids, actor=who, reason=reason)
        audit("alerts.false-positive", _target(ids), count=n, reason=reason)
        return _("%(n)d alerts marked as false positives.", n=n)
    return _escalate(service, ids, (form.get("title") or "").strip()[:200] or None)


def _escalate(service: Service, ids: list[int], title: str | None) -> str:
    if "incidents" not in dir(service):
        raise ApplianceError(_("Incidents are not available on this appliance yet."))
    incident_id = service.alerts.escalate(ids, actor=actor(), title=title)
    audit("alerts.escalate", _target(ids), incident=incident_id, title=title or "")
    return _("Escalated to incident %(id)s.", id=incident_id)


def suppress_from_form(event_id: int, form: MultiDict[str, str], service: Service) -> int:
    """Create the suppression the form describes; its id."""
    if "incidents" not in dir(service):
        raise ApplianceError(_("Suppressions are not available on this appliance yet."))
    scope = form.get("scope", "signature")
    if scope not in SCOPES:
        raise ApplianceError(_("Unknown suppression scope."))
    reason = (form.get("reason") or "").strip()[:500]
    if not reason:
        raise ApplianceError(_("A suppression needs a reason."))
    try:
        days = int(form.get("days", "30"))
    except ValueError:
        days = -1
    if days not in EXPIRY_DAYS:
        raise ApplianceError(_("Choose how long the suppression lasts."))
    expires = time.time_ns() // 1000 + days * 86_400_000_000 if days else None
    sup_id = service.alerts.suppress(event_id, actor=actor(), reason=reason,
                                     expires_at=expires, by=scope)  # fmt: skip
    audit("alerts.suppress", f"alert {event_id}", suppression=sup_id, scope=scope,
          reason=reason, days=days)  # fmt: skip
    return sup_id


def _target(ids: list[int]) -> str:
    return f"alert {ids[0]}" if len(ids) == 1 else f"{len(ids)} alerts"


def form_choices() -> dict[str, Any]:
    """Values the triage forms offer."""
    return {"expiry_days": EXPIRY_DAYS, "scopes": SCOPES}
