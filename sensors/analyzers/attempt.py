"""Login attempts and their outcomes, read from EVE records.

* FTP (and POP3, which Suricata 7's FTP parser also picks up): ``PASS`` and its reply
  (530 or ``-ERR`` is a failure), with the user of the flow's ``USER``.
* Kerberos: ``KRB_AS_REQ`` (the user), ``KRB_ERROR`` with ``KDC_ERR_PREAUTH_FAILED``,
  ``KDC_ERR_C_PRINCIPAL_UNKNOWN`` or ``KDC_ERR_CLIENT_REVOKED`` (``PREAUTH_REQUIRED`` is
  the normal first round trip), ``KRB_AS_REP`` (a success). Errors carry no user: the
  request of the same flow names it.
* SMB: ``SESSION_SETUP`` with a logon-failure status or a success, the user from NTLMSSP.
* HTTP: 401 responses; requests to login URIs answered 403; POSTs to login URIs answered
  200 (the form again) or redirected back to a login page. A form login that worked
  redirects elsewhere.
* SSH, RDP (``session_ports``): the outcome is encrypted, so a session in which both
  sides sent data, that ended quickly having received little from the server, counts
  as a failed guess; RDP's ``mstshash`` cookie names the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from appliance.events import EveDecodeError, EveRecord, parse_timestamp
from sensors.analyzers.login import (
    SERVICE_BY_PORT,
    FlowMemo,
    clean_user,
    is_login_uri,
    may_name_login,
)

_KRB_FAILURES = frozenset(
    {"KDC_ERR_PREAUTH_FAILED", "KDC_ERR_C_PRINCIPAL_UNKNOWN", "KDC_ERR_CLIENT_REVOKED"}
)
_SMB_FAILURES = frozenset({
    "STATUS_LOGON_FAILURE", "STATUS_WRONG_PASSWORD", "STATUS_NO_SUCH_USER",
    "STATUS_ACCOUNT_LOCKED_OUT", "STATUS_ACCOUNT_DISABLED",
})  # fmt: skip
_PSH = 0x08
_KERBEROS_PORT = 88
_MEMO = 50_000


@dataclass(slots=True)
class Attempt:
    """One login request or outcome seen in EVE."""

    service: str
    client: str
    server: str
    port: int | None
    user: str | None
    is_request: bool
    failed: bool | None  # None: the outcome is not in this record
    ts: int
    stamp: str
    flow_id: int | None
    community_id: str | None
    by_session: bool = False  # failure inferred from a short session


class AttemptReader:
    """Turns EVE records into attempts; remembers per flow what later records omit."""

    event_types = frozenset({"ftp", "krb5", "smb", "http", "rdp", "flow"})

    def __init__(
        self, session_ports: frozenset[int], short_seconds: float, short_bytes: int
    ) -> None:
        self.session_ports = session_ports
        self.short_us = short_seconds * 1_000_000
        self.short_bytes = short_bytes
        self._users: FlowMemo[int, str] = FlowMemo(_MEMO)  # flow -> FTP USER / AS-REQ cname
        self._rdp_users: FlowMemo[int, str] = FlowMemo(_MEMO)
        self._http_pending: FlowMemo[int, bool] = FlowMemo(_MEMO)  # flows with a failure

    def read(self, record: EveRecord) -> Attempt | None:
        """The attempt or outcome ``record`` shows, if any."""
        kind = record.head.event_type
        if kind == "flow":
            if record.head.dest_port in self.session_ports and record.head.proto == "TCP":
                return self._from_flow(record)
            return None
        if kind == "http":
            return self._from_http(record)
        if kind == "ftp":
            return self._from_ftp(record)
        if kind == "krb5":
            return self._from_krb5(record)
        if kind == "smb":
            return self._from_smb(record) if b"SESSION_SETUP" in record.raw else None
        if kind == "rdp" and b'"cookie"' in record.raw:
            user = clean_user((record.data.get("rdp") or {}).get("cookie"))
            if user is not None and record.head.flow_id is not None:
                self._rdp_users.put(record.head.flow_id, user)
        return None

    def _from_flow(self, record: EveRecord) -> Attempt | None:
        data = record.data
        flow, tcp = data.get("flow") or {}, data.get("tcp") or {}
        try:
            sent = int(tcp.get("tcp_flags_ts", "0"), 16) & _PSH
            answered = int(tcp.get("tcp_flags_tc", "0"), 16) & _PSH
            start, end = parse_timestamp(flow["start"]), parse_timestamp(flow["end"])
        except (KeyError, TypeError, ValueError, EveDecodeError):
            return None
        if not (sent and answered):
            return None  # no session: both sides must have sent data (scans do not)
        short = (
            end - start <= self.short_us and _int(flow.get("bytes_toclient")) <= self.short_bytes
        )
        port = record.head.dest_port or 0
        flow_id = record.head.flow_id
        user = self._rdp_users.pop(flow_id) if flow_id is not None else None
        service = SERVICE_BY_PORT.get(port, f"tcp/{port}")
        return _make(record, service, user=user, is_request=True, failed=short, ts=start,
                     stamp=str(flow["end"]), by_session=True)  # fmt: skip

    def _from_ftp(self, record: EveRecord) -> Attempt | None:
        ftp = ftp_fields(record)
        command = str(ftp.get("command") or "").upper()
        flow_id = record.head.flow_id
        if command == "USER" and flow_id is not None:
            user = clean_user(ftp.get("command_data"))
            if user is not None:
                self._users.put(flow_id, user)
        if command not in ("USER", "PASS"):
            return None
        failed = ftp_outcome(ftp)
        if command == "USER" and not failed:
            return None  # the password comes next; a rejected USER is an attempt itself
        user = self._users.get(flow_id) if flow_id is not None else None
        service = "pop3" if is_pop3(ftp, record.head.dest_port) else "ftp"
        return _make(record, service, user=user, is_request=True, failed=failed)

    def _from_krb5(self, record: EveRecord) -> Attempt | None:
        krb = record.data.get("krb5") or {}
        head, msg = record.head, krb.get("msg_type")
        # Suricata orients some krb5 records from the KDC; the KDC is never the client.
        how = {"reverse": head.src_port == _KERBEROS_PORT}
        if msg == "KRB_AS_REQ":
            user = clean_user(krb.get("cname"))
            if user is not None and head.flow_id is not None:
                self._users.put(head.flow_id, user)
            return _make(record, "kerberos", user=user, is_request=True, failed=None, **how)
        user = self._users.get(head.flow_id) if head.flow_id is not None else None
        if msg == "KRB_AS_REP":
            user = clean_user(krb.get("cname")) or user
            return _make(record, "kerberos", user=user, is_request=False, failed=False, **how)
        if msg == "KRB_ERROR" and krb.get("failed_request") == "KRB_AS_REQ":
            if krb.get("error_code") in _KRB_FAILURES:
                return _make(record, "kerberos", user=user, is_request=False, failed=True, **how)
        return None

    def _from_smb(self, record: EveRecord) -> Attempt | None:
        smb = record.data.get("smb") or {}
        if "SESSION_SETUP" not in str(smb.get("command")):
            return None
        status = smb.get("status")
        ntlm = smb.get("ntlmssp") or {}
        user, domain = clean_user(ntlm.get("user")), clean_user(ntlm.get("domain"))
        if user is not None and domain is not None:
            user = f"{domain}\\{user}"
        if status in _SMB_FAILURES:
            failed = True
        elif status == "STATUS_SUCCESS" and user is not None:
            failed = False
        else:
            return None  # NTLM's first leg (MORE_PROCESSING_REQUIRED), anonymous sessions
        return _make(record, "smb", user=user, is_request=True, failed=failed)

    def _from_http(self, record: EveRecord) -> Attempt | None:
        raw, flow_id = record.raw, record.head.flow_id
        pending = flow_id is not None and self._http_pending.get(flow_id) is not None
        if not (pending or b'"status":40' in raw):  # 401, 403 (and other 4xx, dropped below)
            if b'"POST"' not in raw or not may_name_login(raw):
                return None
        http = record.data.get("http") or {}
        status, login = http.get("status"), is_login_uri(str(http.get("url") or ""))
        if not isinstance(status, int):
            return None
        failed: bool | None = None
        if status == 401 or (login and status == 403):
            failed = True
        elif login and http.get("http_method") == "POST":
            back = 300 <= status < 400 and is_login_uri(str(http.get("redirect") or ""))
            failed = status == 200 or back
        elif pending and 200 <= status < 400:
            failed = False
        if failed is None:
            return None
        if flow_id is not None:
            if failed:
                self._http_pending.put(flow_id, True)
            else:
                self._http_pending.pop(flow_id)
        return _make(record, "http", user=None, is_request=failed or login, failed=failed)


def _make(record: EveRecord, service: str, reverse: bool = False, **kw: Any) -> Attempt | None:
    head = record.head
    if head.src_ip is None or head.dest_ip is None:
        return None
    client, server, port = head.src_ip, head.dest_ip, head.dest_port
    if reverse:
        client, server, port = server, client, head.src_port
    kw.setdefault("ts", record.ts)
    kw.setdefault("stamp", head.timestamp)
    return Attempt(service=service, client=client, server=server, port=port,
                   flow_id=head.flow_id, community_id=head.community_id, **kw)  # fmt: skip


class _FtpRecord(msgspec.Struct):
    ftp: Any = None


_ftp_decoder = msgspec.json.Decoder(_FtpRecord)
#: The ``ftp`` object of recent records, by record id: two analyzers read each in turn.
_ftp_recent: dict[int, tuple[bytes, dict[str, Any]]] = {}


def ftp_fields(record: EveRecord) -> dict[str, Any]:
    """The ``ftp`` object of an ``ftp`` record ({} if none), without parsing the whole line.

    The same as ``record.data.get("ftp") or {}`` would give, for records that are not
    parsed whole by anyone else. Callers must not change it.
    """
    if record._data is not None:
        return record._data.get("ftp") or {}
    cached = _ftp_recent.get(record.id)
    if cached is not None and cached[0] is record.raw:
        return cached[1]
    try:
        ftp = _ftp_decoder.decode(record.raw).ftp or {}
    except msgspec.DecodeError:
        ftp = record.data.get("ftp") or {}
    if len(_ftp_recent) >= 16_384:
        _ftp_recent.clear()
    _ftp_recent[record.id] = (record.raw, ftp)
    return ftp


def ftp_outcome(ftp: dict[str, Any]) -> bool | None:
    """Whether an FTP (or POP3) reply rejected the login: True, False, or None (no reply)."""
    codes = ftp.get("completion_code") or []
    replies = [str(r) for r in ftp.get("reply") or []]
    if "530" in codes or any(r.startswith("-ERR") for r in replies):
        return True
    if "230" in codes or any(r.startswith("+OK") for r in replies):
        return False
    return None


def is_pop3(ftp: dict[str, Any], port: int | None) -> bool:
    """Whether an ``ftp`` record is really POP3 (Suricata 7's FTP parser takes USER/PASS)."""
    replies = [str(r) for r in ftp.get("reply") or []]
    return port in (110, 995) or any(r.startswith(("+OK", "-ERR")) for r in replies)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
