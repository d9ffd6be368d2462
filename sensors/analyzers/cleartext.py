"""Cleartext credentials: passwords anyone on the path can read, and their redaction.

What Suricata 7's EVE shows, and where this analyzer looks:

* FTP ``ftp`` records: ``USER`` then ``PASS`` (Suricata's FTP parser also takes POP3's
  ``USER``/``PASS``; the ``+OK`` replies tell them apart). Anonymous FTP is no secret.
* Telnet, rexec, rlogin: ``flow`` records to ports 23/512/513 where both sides sent data.
  The user name is typed keystroke by keystroke and is not in EVE.
* HTTP Basic: the ``Authorization`` header in an alert's payload (local rule 9000013, ET's
  "Basic Auth" policy rules) or in ``http.request_headers`` where the configuration logs it.
* HTTP forms: a password field in the request body an alert carries (``http-body``), or
  else a POST to a login URI over plain HTTP: ``http`` records have no body, so there the
  password is inferred, with lower confidence, and the user is unknown.
* SMTP/POP3/IMAP ``AUTH PLAIN`` and IMAP ``LOGIN``, and LDAP simple binds: in alert
  payloads only (Suricata 7 logs no POP3/IMAP/LDAP records and no SMTP AUTH).

A finding names protocol, client, server and user, never the password. Suricata itself
writes passwords to EVE (the FTP ``PASS`` argument, alert payloads): :func:`redact_credentials`
removes them from a record before it is stored or shipped.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from appliance.config import CleartextCredentialsConfig
from appliance.events import EveRecord, make_finding
from sensors.analyzers.attempt import ftp_fields, ftp_outcome, is_pop3
from sensors.analyzers.login import (
    SERVICE_BY_PORT,
    FlowMemo,
    basic_auth_user,
    clean_user,
    decode_payload,
    form_user,
    is_login_uri,
    ldap_simple_binds,
    may_name_login,
    sasl_plain_user,
)

logger = logging.getLogger(__name__)

#: Sessions whose every keystroke, password included, crosses in the clear.
_SESSION_PORTS = {23: "telnet", 512: "rexec", 513: "rlogin"}
_LDAP_PORTS = frozenset({389, 3268})
_PSH = 0x08
_ANY_USER = "\0any"
_REDACTED = b"[redacted]"
_SAFER = {
    "ftp": "SFTP or FTPS", "pop3": "POP3S (995) or STARTTLS", "imap": "IMAPS (993)",
    "smtp": "SMTP submission with STARTTLS", "telnet": "SSH", "rexec": "SSH",
    "rlogin": "SSH", "http": "HTTPS", "http-form": "HTTPS", "ldap": "LDAPS or StartTLS",
}  # fmt: skip
_BASIC = re.compile(rb"(?im)^(?:proxy-)?authorization:[ \t]*basic[ \t]+([A-Za-z0-9+/=]+)")
_AUTH_PLAIN = re.compile(
    rb"(?im)^(?:[A-Za-z0-9.]+[ \t]+)?AUTH(?:ENTICATE)?[ \t]+PLAIN[ \t]+([A-Za-z0-9+/=]+)"
)
_IMAP_LOGIN = re.compile(
    rb'(?im)^[A-Za-z0-9.]+[ \t]+LOGIN[ \t]+("[^"\r\n]*"|[^ \t\r\n]+)[ \t]+[^ \t\r\n]'
)


@dataclass(frozen=True, slots=True)
class _Sighting:
    protocol: str
    user: str | None
    source: str
    accepted: bool | None = None
    confidence: float = 1.0


class CleartextCredentialsAnalyzer:
    """Reports each cleartext login once per protocol, client, server, user and window."""

    name = "cleartext"
    event_types = frozenset({"ftp", "alert", "http", "flow"})

    def __init__(self, cfg: CleartextCredentialsConfig) -> None:
        self.cfg = cfg
        self._window_us = cfg.window_seconds * 1_000_000
        self._ignore = frozenset(u.lower() for u in cfg.ignore_users)
        self._users: FlowMemo[int, str] = FlowMemo(50_000)  # FTP/POP3 USER of a flow
        self._reported: dict[tuple[str, str, str, str], int] = {}  # key -> window end

    def init(self) -> None:
        """Nothing to prepare."""

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        """One finding per new (protocol, client, server, user) in its window."""
        out = []
        sighting_of = self._sighting
        for record in records:
            head = record.head
            if head.event_type == "flow" and head.dest_port not in _SESSION_PORTS:
                continue  # most records: no telnet or r-command session (as _sighting decides)
            sighting = sighting_of(record)
            if sighting is not None:
                finding = self._report(record, sighting)
                if finding is not None:
                    out.append(finding)
        return out

    def shutdown(self) -> list[bytes]:
        """Findings are reported at once; nothing is held back."""
        return []

    def _sighting(self, record: EveRecord) -> _Sighting | None:
        kind, head = record.head.event_type, record.head
        if kind == "flow":
            port = head.dest_port
            return self._from_session(record) if port in _SESSION_PORTS else None
        if kind == "ftp":
            return self._from_ftp(record)
        if kind == "alert":
            return _from_payload(record) if _has_payload(record.raw) else None
        if kind == "http":
            return self._from_http(record)
        return None

    def _from_ftp(self, record: EveRecord) -> _Sighting | None:
        ftp = ftp_fields(record)
        command = str(ftp.get("command") or "").upper()
        flow_id = record.head.flow_id
        if command == "USER" and flow_id is not None:
            self._users.put(flow_id, clean_user(ftp.get("command_data")) or "")
        if command != "PASS":
            return None
        user = self._users.get(flow_id) if flow_id is not None else None
        if user is not None and user.lower() in self._ignore:
            return None
        accepted = ftp_outcome(ftp)
        protocol = "pop3" if is_pop3(ftp, record.head.dest_port) else "ftp"
        return _Sighting(
            protocol, user or None, "PASS command", None if accepted is None else not accepted
        )

    def _from_session(self, record: EveRecord) -> _Sighting | None:
        tcp = record.data.get("tcp") or {}
        try:
            sent = int(tcp.get("tcp_flags_ts", "0"), 16) & _PSH
            answered = int(tcp.get("tcp_flags_tc", "0"), 16) & _PSH
        except (TypeError, ValueError):
            return None
        if not (sent and answered):
            return None  # a port probe, not a session
        protocol = _SESSION_PORTS[record.head.dest_port or 0]
        return _Sighting(protocol, None, "session with data both ways", confidence=0.8)

    def _from_http(self, record: EveRecord) -> _Sighting | None:
        raw = record.raw
        if b"uthorization" in raw:
            http = record.data.get("http") or {}
            for header in http.get("request_headers") or []:
                if not isinstance(header, dict):
                    continue
                name = str(header.get("name", "")).lower()
                if name in ("authorization", "proxy-authorization"):
                    user = basic_auth_user(str(header.get("value", "")))
                    if user is not None:
                        return _Sighting("http", user or None, "Authorization header")
        if self.cfg.form_logins and b'"http_method":"POST"' in raw and may_name_login(raw):
            http = record.data.get("http") or {}
            if is_login_uri(str(http.get("url") or "")):
                return _Sighting("http-form", None, "POST to a login URI", confidence=0.6)
        return None

    def _report(self, record: EveRecord, seen: _Sighting) -> bytes | None:
        head = record.head
        if head.src_ip is None or head.dest_ip is None:
            return None
        # A sighting without a user (telnet, a form) adds nothing to one with a user.
        pair = (seen.protocol, head.src_ip, head.dest_ip, _ANY_USER)
        key = pair if seen.user is None else pair[:3] + (seen.user,)
        until = self._reported.get(key)
        if until is not None and record.ts < until:
            return None
        if len(self._reported) >= self.cfg.max_tracked:
            self._evict(record.ts)
        for done in {key, pair}:
            self._reported.pop(done, None)
            self._reported[done] = record.ts + self._window_us
        return _finding(record, seen, self.cfg)

    def _evict(self, now: int) -> None:
        expired = [k for k, until in self._reported.items() if until <= now]
        for key in expired or list(self._reported)[: max(1, len(self._reported) // 10)]:
            del self._reported[key]


def _from_payload(record: EveRecord) -> _Sighting | None:
    """Credentials in an alert's payload: the packet that matched a rule."""
    data = record.data
    payload = decode_payload(data.get("payload"))
    if not payload:
        return _from_alert_body(data.get("http"))
    port = record.head.dest_port or 0
    match = _BASIC.search(payload)
    if match:
        user = basic_auth_user("Basic " + match.group(1).decode("ascii"))
        if user is not None:
            return _Sighting("http", user or None, "Authorization header in alert payload")
    match = _AUTH_PLAIN.search(payload)
    if match:
        user = sasl_plain_user(match.group(1).decode("ascii"))
        if user is not None:
            return _Sighting(
                SERVICE_BY_PORT.get(port, "smtp"), user or None, "AUTH PLAIN in alert payload"
            )
    match = _IMAP_LOGIN.search(payload)
    if match:
        user = clean_user(match.group(1).decode("utf-8", "replace").strip('"'))
        return _Sighting("imap", user, "LOGIN command in alert payload")
    binds = ldap_simple_binds(payload) if port in _LDAP_PORTS or payload[:1] == b"\x30" else []
    for name, start, end in binds:
        if end > start:  # an empty password is an anonymous bind
            return _Sighting("ldap", clean_user(name), "LDAP simple bind in alert payload")
    return _from_alert_body(data.get("http"))


def _from_alert_body(http: Any) -> _Sighting | None:
    """A login form in the HTTP request body an alert carries (``http-body-printable``)."""
    if not isinstance(http, dict) or http.get("http_method") != "POST":
        return None
    body = http.get("http_request_body_printable")
    if not isinstance(body, str):
        body = decode_payload(http.get("http_request_body")).decode("utf-8", "replace")
    user = form_user(body) if body else None
    if user is None:
        return None
    return _Sighting("http-form", user or None, "password field in alert HTTP body")


def _finding(record: EveRecord, seen: _Sighting, cfg: CleartextCredentialsConfig) -> bytes:
    head, data = record.head, record.data
    stamp = head.timestamp
    if head.event_type == "flow":
        stamp = str((data.get("flow") or {}).get("end") or stamp)
    evidence: dict[str, Any] = {
        "protocol": seen.protocol,
        "server": head.dest_ip,
        "server_port": head.dest_port,
        "user": seen.user,
        "observed_in": seen.source,
        "login_accepted": seen.accepted,
        "flow_id": head.flow_id,
        "community_id": head.community_id,
        "timestamp": stamp,
        "window_seconds": cfg.window_seconds,
    }
    http = data.get("http")
    if isinstance(http, dict) and seen.protocol.startswith("http"):
        evidence["hostname"] = http.get("hostname")
        evidence["path"] = str(http.get("url") or "").split("?", 1)[0][
            :512
        ]  # no query: it may hold secrets
    if head.alert is not None:
        evidence["signature_id"] = head.alert.signature_id
    return make_finding(
        type="cleartext-credentials",
        category="policy",
        severity=3 if seen.protocol == "http-form" else 2,
        confidence=seen.confidence,
        timestamp=stamp,
        src_ip=head.src_ip,
        dest_ip=head.dest_ip,
        explanation=_explain(seen, head.src_ip or "", f"{head.dest_ip}:{head.dest_port}"),
        evidence=evidence,
        dest_port=head.dest_port,
        app_proto=seen.protocol,
    )


_TEXT = {
    "session": (
        "{client} opened a {proto} session to {server}: the login, the password and every "
        "command cross the network in cleartext.",
        "{client} đã mở phiên {proto} tới {server}: tên đăng nhập, mật khẩu và mọi lệnh đều "
        "đi qua mạng ở dạng không mã hoá.",
    ),
    "http-form": (
        "{client} submitted a login form{as_user} to {server} over unencrypted HTTP; the "
        "password in the form is readable by anyone who can see this traffic.",
        "{client} đã gửi biểu mẫu đăng nhập{as_user_vi} tới {server} qua HTTP không mã hoá; "
        "mật khẩu trong biểu mẫu có thể bị bất kỳ ai thấy lưu lượng này đọc được.",
    ),
    "login": (
        "{client} sent {who} in cleartext over {proto} to {server}; anyone who can see this "
        "traffic can read it.",
        "{client} đã gửi {who_vi} ở dạng không mã hoá qua {proto} tới {server}; bất kỳ ai "
        "thấy lưu lượng này đều đọc được.",
    ),
    "advice": (
        " Move the service to {safer}, and change the password if this traffic crossed a "
        "network you do not fully trust.",
        " Hãy chuyển dịch vụ sang {safer} và đổi mật khẩu nếu lưu lượng này đã đi qua mạng "
        "không hoàn toàn tin cậy.",
    ),
}


def _explain(seen: _Sighting, client: str, server: str) -> dict[str, str]:
    user = seen.user
    values = {
        "client": client, "server": server, "proto": seen.protocol.upper(),
        "safer": _SAFER.get(seen.protocol, "an encrypted protocol"),
        "who": f"the password of user '{user}'" if user else "a password",
        "who_vi": f"mật khẩu của người dùng '{user}'" if user else "một mật khẩu",
        "as_user": f" as '{user}'" if user else "",
        "as_user_vi": f" với người dùng '{user}'" if user else "",
    }  # fmt: skip
    if seen.protocol in _SESSION_PORTS.values():
        kind = "session"
    else:
        kind = "http-form" if seen.protocol == "http-form" else "login"
    en = _TEXT[kind][0].format(**values) + _TEXT["advice"][0].format(**values)
    vi = _TEXT[kind][1].format(**values) + _TEXT["advice"][1].format(**values)
    return {"en": en, "vi": vi}


# --- redaction -------------------------------------------------------------------------

_REDACT_TYPES = frozenset({"ftp", "alert", "http", "fileinfo"})
_HINTS = (b"pass", b"pwd", b"secret", b"auth", b"acct")
_SECRETS = (
    # FTP/POP3 PASS, FTP ACCT
    (re.compile(rb"(?im)^((?:PASS|ACCT)[ \t]+)[^\r\n]+"), rb"\1[redacted]"),
    # HTTP (Proxy-)Authorization: keep the scheme
    (re.compile(rb"(?im)^((?:proxy-)?authorization:[ \t]*(?:[A-Za-z][\w-]*[ \t]+)?)[^\r\n]+"),
     rb"\1[redacted]"),
    # SMTP/POP3 AUTH, IMAP AUTHENTICATE with an initial response
    (re.compile(rb"(?im)^((?:[A-Za-z0-9.]+[ \t]+)?AUTH(?:ENTICATE)?[ \t]+[\w-]+[ \t]+)[^\r\n]+"),
     rb"\1[redacted]"),
    # IMAP tag LOGIN user password
    (re.compile(rb'(?im)^([\w.]+[ \t]+LOGIN[ \t]+(?:"[^"\r\n]*"|[^ \t\r\n]+)[ \t]+)[^\r\n]+'),
     rb"\1[redacted]"),
    # form and query fields: password=..., user[pass]=..., pwd=...
    (re.compile(rb"(?i)((?:^|[?&;\s])[\w.\[\]%-]*(?:pass|pwd|secret)[\w.\[\]%-]*=)[^&\s]*"),
     rb"\1[redacted]"),
    # JSON bodies: "password": "..."
    (re.compile(rb'(?i)("[\w.-]*(?:pass|pwd|secret)[\w.-]*"[ \t]*:[ \t]*)"(?:[^"\\]|\\.)*"'),
     rb'\1"[redacted]"'),
)  # fmt: skip


def redact_credentials(record: EveRecord) -> EveRecord:
    """``record`` without the passwords Suricata wrote into it (the same object if none).

    Covers the FTP ``PASS``/``ACCT`` argument, ``Authorization`` header values, SASL
    initial responses, IMAP ``LOGIN`` and password-like form, query and JSON fields, in
    ``ftp`` records, ``http`` headers and URLs, and alert payloads and HTTP bodies; LDAP
    simple-bind passwords in payloads are overwritten with ``*``. For the runner to call
    on every record after the analyzers and before the sink.
    """
    kind = record.head.event_type
    if kind not in _REDACT_TYPES:
        return record
    if kind == "alert":  # the payload is base64: no hint shows in the line
        if not _has_payload(record.raw):
            return record
    elif not _has_hint(record.raw.lower()):
        return record
    data = orjson.loads(record.raw)  # a copy: the analyzers' view stays as it was
    changed = _redact_ftp(data.get("ftp"))
    http = data.get("http")
    if isinstance(http, dict):
        changed |= _redact_http(http)
    if kind == "alert":
        changed |= _redact_blob(data, "payload", "payload_printable")
    if not changed:
        return record
    return EveRecord(record.id, orjson.dumps(data), record.head, record.ts, data)


def _has_payload(raw: bytes) -> bool:
    return b'"payload"' in raw or b'"http_request_body' in raw


def _redact_ftp(ftp: Any) -> bool:
    if not isinstance(ftp, dict) or not isinstance(ftp.get("command_data"), str):
        return False
    command = str(ftp.get("command") or "").upper()
    if command in ("PASS", "ACCT"):
        ftp["command_data"] = _REDACTED.decode()
        return True
    if command == "AUTH" and " " in ftp["command_data"].strip():  # AUTH PLAIN <response>
        ftp["command_data"] = ftp["command_data"].split()[0] + " " + _REDACTED.decode()
        return True
    return False


def _redact_http(http: dict[str, Any]) -> bool:
    changed = False
    for header in http.get("request_headers") or []:
        name = str(header.get("name", "")).lower() if isinstance(header, dict) else ""
        if name in ("authorization", "proxy-authorization") and header.get("value"):
            scheme = str(header["value"]).split()[0]
            header["value"] = f"{scheme} [redacted]"
            changed = True
    for key in ("url", "http_refer", "http_request_body_printable"):
        value = http.get(key)
        if isinstance(value, str):
            clean = _redact_bytes(value.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
            if clean != value:
                http[key], changed = clean, True
    changed |= _redact_blob(http, "http_request_body", None)
    return changed


def _redact_blob(holder: dict[str, Any], key: str, printable_key: str | None) -> bool:
    """Redact a base64 field and regenerate its printable twin the way Suricata prints."""
    raw = decode_payload(holder.get(key))
    if raw:
        clean = _redact_bytes(raw)
        if clean == raw:
            return False
        holder[key] = base64.b64encode(clean).decode("ascii")
        if printable_key and printable_key in holder:
            holder[printable_key] = "".join(
                chr(b) if 32 <= b < 127 or b in (10, 13) else "." for b in clean
            )
        return True
    text = holder.get(printable_key) if printable_key else None
    if isinstance(text, str):
        clean_text = _redact_bytes(text.encode("utf-8", "surrogatepass")).decode("utf-8", "replace")
        if clean_text != text:
            holder[printable_key] = clean_text  # type: ignore[index]
            return True
    return False


def _has_hint(low: bytes) -> bool:
    """Whether a lower-cased line holds a word found near every secret redacted here."""
    return any(hint in low for hint in _HINTS)


def _redact_bytes(data: bytes) -> bytes:
    for pattern, replacement in _SECRETS:
        data = pattern.sub(replacement, data)
    for _, start, end in ldap_simple_binds(data):
        data = data[:start] + b"*" * (end - start) + data[end:]
    return data
