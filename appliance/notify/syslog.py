"""Syslog to a collector: RFC 5424 with structured data, or CEF, over UDP or TCP."""

from __future__ import annotations

import datetime as dt
import socket

from appliance import __version__
from appliance.config_core import SyslogConfig
from appliance.notify.message import Message

#: local0; severities: critical→2 crit, high→3 err, medium→4 warning, low→5 notice.
FACILITY = 16
SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5}
CEF_SEVERITY = {"critical": 10, "high": 8, "medium": 5, "low": 3}
#: The example private enterprise number of RFC 5612, for our SD-ID.
SD_ID = "spanwatch@32473"
MAX_UDP = 8192


def _sd_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _clean(text: str) -> str:
    return " ".join(text.split())


def rfc5424(msg: Message, *, hostname: str, now: dt.datetime | None = None) -> bytes:
    """One RFC 5424 message: header, structured data of the first item, UTF-8 text."""
    now = now or dt.datetime.now(dt.UTC)
    pri = FACILITY * 8 + SYSLOG_SEVERITY[msg.severity]
    stamp = now.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    params = {"kind": msg.kind, "severity": msg.severity, "count": len(msg.items)}
    if msg.items and "id" in msg.items[0]:
        params["incident"] = msg.items[0]["id"]
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    host = _clean(hostname)[:255] or "-"
    header = f"<{pri}>1 {stamp} {host} spanwatch - {msg.kind} {sd} "
    return header.encode("ascii", "replace") + b"\xef\xbb\xbf" + _clean(msg.subject_en).encode()


def _cef_header(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|")


def _cef_ext(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def cef(msg: Message, *, hostname: str, now: dt.datetime | None = None) -> bytes:
    """One CEF:0 event (ArcSight format) behind an RFC 5424 header."""
    now = now or dt.datetime.now(dt.UTC)
    item = msg.items[0] if msg.items else {}
    ext = {
        "rt": int(now.timestamp() * 1000),
        "cnt": len(msg.items),
        "msg": _clean(msg.subject_en),
    }
    if item.get("attackers"):
        ext["src"] = item["attackers"][0]
    if item.get("victims"):
        ext["dst"] = item["victims"][0]
    if "id" in item:
        ext["externalId"] = item["id"]
    fields = ["CEF:0", "spanwatch", "spanwatch", __version__, msg.kind,
              _clean(msg.subject_en), str(CEF_SEVERITY[msg.severity])]  # fmt: skip
    line = "|".join(_cef_header(f) for f in fields[1:])
    extension = " ".join(f"{k}={_cef_ext(v)}" for k, v in ext.items())
    pri = FACILITY * 8 + SYSLOG_SEVERITY[msg.severity]
    stamp = now.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    host = _clean(hostname)[:255] or "-"
    return f"<{pri}>1 {stamp} {host} spanwatch - {msg.kind} - CEF:0|{line}|{extension}".encode()


def send_syslog(cfg: SyslogConfig, msg: Message) -> None:
    """Send one message; TCP uses octet-counting framing (RFC 6587)."""
    hostname = socket.gethostname()
    data = (cef if cfg.format == "cef" else rfc5424)(msg, hostname=hostname)
    if cfg.protocol == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(data[:MAX_UDP], (cfg.host, cfg.port))
        return
    with socket.create_connection((cfg.host, cfg.port), timeout=10) as sock:
        sock.sendall(str(len(data)).encode() + b" " + data)
