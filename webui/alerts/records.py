"""What the detail page shows of EVE records: a few telling fields per event type.

Values are returned as they are (strings, numbers); the templates escape them. Nothing
here builds HTML.
"""

from __future__ import annotations

from typing import Any

#: Per event type, the fields that tell the story (dotted paths into the record).
FIELDS: dict[str, tuple[str, ...]] = {
    "alert": ("alert.signature_id", "alert.signature", "alert.category", "alert.action"),
    "finding": ("finding.type", "finding.category", "finding.severity", "finding.confidence"),
    "http": ("http.http_method", "http.hostname", "http.url", "http.status",
             "http.http_user_agent", "http.http_content_type", "http.length"),
    "dns": ("dns.type", "dns.rrname", "dns.rrtype", "dns.rcode", "dns.answers"),
    "tls": ("tls.sni", "tls.version", "tls.subject", "tls.issuerdn", "tls.notafter",
            "tls.ja3.hash", "tls.ja4"),
    "fileinfo": ("fileinfo.filename", "fileinfo.size", "fileinfo.magic", "fileinfo.sha256",
                 "fileinfo.stored"),
    "flow": ("flow.start", "flow.end", "flow.pkts_toserver", "flow.pkts_toclient",
             "flow.bytes_toserver", "flow.bytes_toclient", "flow.state", "flow.reason"),
    "ftp": ("ftp.command", "ftp.command_data", "ftp.completion_code", "ftp.reply"),
    "ssh": ("ssh.client.software_version", "ssh.server.software_version"),
    "smb": ("smb.command", "smb.dialect", "smb.filename", "smb.share", "smb.status"),
    "smtp": ("smtp.helo", "smtp.mail_from", "smtp.rcpt_to", "email.subject"),
}  # fmt: skip
MAX_VALUE = 400


def pick(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def shown(value: Any) -> str:
    """A value as text for a table cell (lists joined, long text cut)."""
    if isinstance(value, list):
        parts = [shown(v.get("rdata", v) if isinstance(v, dict) else v) for v in value[:10]]
        text = ", ".join(parts)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={shown(v)}" for k, v in list(value.items())[:8])
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def fields_of(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, text) pairs worth showing for one record of any event type."""
    etype = str(record.get("event_type") or "")
    paths = FIELDS.get(etype)
    if paths is None:
        body = record.get(etype)
        paths = tuple(f"{etype}.{k}" for k in list(body)[:8]) if isinstance(body, dict) else ()
    return [(path, shown(value)) for path in paths
            if (value := pick(record, path)) not in (None, "", [])]  # fmt: skip


def summary_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The protocol fields an alert record itself carries (Suricata adds http, tls, ...)."""
    out: list[tuple[str, str]] = []
    for etype in ("http", "dns", "tls", "fileinfo", "ftp", "ssh", "smb", "smtp"):
        if isinstance(record.get(etype), dict):
            out += fields_of({**record, "event_type": etype})
    return out


def related_rows(related: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The related records as the page lists them: type, id, time, fields; flows last."""
    order = {"alert": 0, "finding": 1, "http": 2, "dns": 3, "tls": 4, "fileinfo": 5}
    out = []
    for etype in sorted(related, key=lambda t: (order.get(t, 50), t == "flow", t)):
        for record in related[etype]:
            out.append({"type": etype, "id": record.get("_id"),
                        "timestamp": record.get("timestamp"),
                        "fields": fields_of(record)})  # fmt: skip
    return out
