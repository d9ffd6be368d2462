"""Settings page (admins): networks, interfaces, retention, time zone, language, certificate.

Every change goes through :func:`webui.settings.configfile.update_config_file`: the same
pydantic models as ``spanwatch check-config``, written atomically to appliance.yaml, and
audited with the values before and after.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from zoneinfo import available_timezones

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from appliance.config import load_config
from appliance.errors import ApplianceError, ConfigError
from webui.audit import audit
from webui.auth.guard import require_role
from webui.extensions import current_config, current_service, web_state
from webui.i18n import LANGUAGES
from webui.settings.configfile import get_dotted, read_document, update_config_file

logger = logging.getLogger(__name__)

bp = Blueprint("settings", __name__, url_prefix="/settings")
KINDS = ("alerts", "metadata", "pcap")
SEVERITIES = ("critical", "high", "medium", "low")


@bp.before_app_request
def reload_if_changed() -> None:
    """Pick up a saved appliance.yaml (another worker, or an admin's editor) at once."""
    state = web_state()
    path = state.config_path
    if path is None:
        return
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return
    seen = state.config_mtime
    state.config_mtime = mtime
    if seen is not None and mtime != seen:
        try:
            _install(load_config(path))
        except ConfigError as err:
            logger.error("Configuration changed on disk but is invalid; keeping the old one: %s",
                         err)  # fmt: skip


def _install(cfg: Any) -> None:
    state = web_state()
    state.cfg = cfg
    state.service.cfg = cfg


@bp.route("/")
@require_role("admin")
def index() -> Any:
    """The appliance configuration, editable where the web may change it."""
    from webui.tls import current_info

    cfg = current_config()
    path = web_state().config_path
    return render_template(
        "settings/index.html", cfg=cfg, config_path=path, editable=path is not None,
        forecast=_forecast(), kinds=KINDS, languages=LANGUAGES, severities=SEVERITIES,
        timezones=sorted(available_timezones()), cert=current_info(cfg),
    )  # fmt: skip


def _forecast() -> dict[str, Any]:
    try:
        from appliance.jobs.tasks import retention_forecast
    except ImportError:
        return {}
    try:
        return retention_forecast(current_service())
    except ApplianceError as err:
        logger.warning("No retention forecast: %s.", err)
        return {}


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def _number(name: str) -> Any:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() else raw


def _changes(section: str) -> dict[str, Any]:
    """Dotted-key changes of one form section, values as the YAML should hold them."""
    if section == "networks":
        external = _lines("external")
        return {"networks.home": _lines("home"), "networks.external": external or None}
    if section == "interfaces":
        current = {str(i.get("name")): dict(i) for i in (read_document(_path()).get("interfaces")
                                                          or []) if isinstance(i, dict)}
        return {"interfaces": [current.get(n, {"name": n}) for n in _lines("interfaces")]}
    if section == "retention":
        return {f"retention.{k}.{f}": _number(f"{k}_{f}") for k in KINDS
                for f in ("max_days", "max_mb")}  # fmt: skip
    if section == "notifications":
        return _notification_changes()
    if section == "display":
        return {"timezone": request.form.get("timezone", "").strip(),
                "web.language": request.form.get("language", "")}  # fmt: skip
    raise ConfigError(f"unknown settings section {section!r}")


def _flag(name: str) -> bool:
    return request.form.get(name) == "on"


def _notification_changes() -> dict[str, Any]:
    """E-mail, syslog and webhooks of spanwatch core; SMTP passwords stay in their file."""
    existing = get_dotted(read_document(_path()), "core.notify.webhooks") or []
    known = {str(w.get("url")): dict(w) for w in existing if isinstance(w, dict)}
    webhooks = []
    for line in _lines("webhooks"):
        parts = line.split()
        telegram = parts[0].lower() == "telegram" and len(parts) == 3
        url = parts[1] if telegram else parts[0]
        hook = {**known.get(url, {}), "url": url, "kind": "telegram" if telegram else "json"}
        hook.pop("chat_id", None)
        if telegram:
            hook["chat_id"] = parts[2]
        webhooks.append(hook)
    prefix = "core.notify."
    return {
        prefix + "min_severity": request.form.get("min_severity", ""),
        prefix + "email.enabled": _flag("email_enabled"),
        prefix + "email.host": request.form.get("email_host", "").strip(),
        prefix + "email.port": _number("email_port"),
        prefix + "email.starttls": _flag("email_starttls"),
        prefix + "email.username": request.form.get("email_username", "").strip() or None,
        prefix + "email.sender": request.form.get("email_sender", "").strip(),
        prefix + "email.recipients": _lines("email_recipients"),
        prefix + "syslog.enabled": _flag("syslog_enabled"),
        prefix + "syslog.host": request.form.get("syslog_host", "").strip(),
        prefix + "syslog.port": _number("syslog_port"),
        prefix + "syslog.protocol": request.form.get("syslog_protocol", ""),
        prefix + "syslog.format": request.form.get("syslog_format", ""),
        prefix + "webhooks": webhooks,
        "core.report.recipients": _lines("report_recipients"),
    }


def _path() -> Any:
    path = web_state().config_path
    if path is None:
        raise ConfigError("this web UI runs on defaults only (no --config file): nothing to edit")
    return path


@bp.route("/", methods=["POST"])
@require_role("admin")
def update() -> Any:
    section = request.form.get("section", "")
    try:
        path = _path()
        cfg, changed = update_config_file(path, _changes(section))
    except ConfigError as err:
        for line in str(err).splitlines():
            flash(_("Not saved: %(problem)s", problem=line), "danger")
        return redirect(url_for("settings.index", _anchor=section))
    _install(cfg)
    web_state().config_mtime = os.stat(path).st_mtime_ns
    if changed:
        audit("settings.update", section, file=str(path), changes=changed)
        flash(_("Saved to %(path)s.", path=str(path)), "success")
        if section in ("networks", "interfaces"):
            flash(_("Sensors and Suricata use this after a restart of spanwatch.target."),
                  "info")  # fmt: skip
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("settings.index", _anchor=section))


@bp.route("/certificate", methods=["POST"])
@require_role("admin")
def certificate() -> Any:
    """Replace the HTTPS certificate (PEM certificate and unencrypted key)."""
    from webui.tls import cert_paths, check_pair, write_pair

    cert_file, key_file = request.files.get("cert"), request.files.get("key")
    try:
        if not cert_file or not key_file:
            raise ConfigError(_("Choose both the certificate and its private key."))
        cert_pem, key_pem = cert_file.read(1 << 20), key_file.read(1 << 20)
        info = check_pair(cert_pem, key_pem)
    except ConfigError as err:
        flash(_("Not saved: %(problem)s", problem=str(err)), "danger")
        return redirect(url_for("settings.index", _anchor="certificate"))
    cert_path, key_path = cert_paths(current_config())
    write_pair(cert_path, key_path, cert_pem, key_pem)
    audit("settings.certificate", info.subject, fingerprint=info.fingerprint_sha256,
          not_after=info.not_after.isoformat())  # fmt: skip
    flash(_("Certificate saved; it is used after a restart of spanwatch-web."), "success")
    return redirect(url_for("settings.index", _anchor="certificate"))
