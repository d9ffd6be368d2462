"""Cleartext credentials and their redaction: synthetic EVE, then real captures through
``analyze``. No finding and no redacted record may keep a password."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from appliance.config import CleartextCredentialsConfig
from appliance.events import decode_line
from appliance.store import EventQuery, open_store
from sensors.analyzers.cleartext import CleartextCredentialsAnalyzer, redact_credentials
from tests.helpers.analysis import run_analyzer
from tests.helpers.cli import REPO, run_spanwatch
from tests.helpers.login_corpus import (
    DEMO_SEEDS,
    attack_captures,
    corpus_run,
    demo_capture,
    verify_run,
)

TYPE = {"cleartext-credentials"}
CLIENT, SERVER = "192.0.2.10", "198.51.100.20"
SECRET = "Tr0ub4dor_3!"


def record(
    kind: str, at: int = 0, flow_id: int = 1, port: int = 21, **fields: Any
) -> dict[str, Any]:
    base = {"timestamp": f"2024-05-01T10:{at // 60:02d}:{at % 60:02d}.000000+0000",
            "event_type": kind, "src_ip": CLIENT, "src_port": 50000, "dest_ip": SERVER,
            "dest_port": port, "proto": "TCP", "flow_id": flow_id,
            "community_id": "1:abc="}  # fmt: skip
    return {**base, **fields}


def ftp(command: str, data: str | None, reply: str = "331", **kw: Any) -> dict[str, Any]:
    body = {"command": command, "command_data": data, "completion_code": [reply],
            "reply": ["Whatever."]}  # fmt: skip
    return record("ftp", ftp=body, **kw)


def ftp_login(user: str, at: int = 0, flow_id: int = 1) -> list[dict[str, Any]]:
    return [ftp("USER", user, at=at, flow_id=flow_id),
            ftp("PASS", SECRET, "230", at=at, flow_id=flow_id)]  # fmt: skip


def alert(payload: bytes, port: int = 80, sid: int = 9000013, **fields: Any) -> dict[str, Any]:
    body = {"signature_id": sid, "gid": 1, "rev": 1, "signature": "test", "severity": 2}
    printable = "".join(chr(b) if 32 <= b < 127 or b in (10, 13) else "." for b in payload)
    return record("alert", port=port, alert=body, payload=base64.b64encode(payload).decode(),
                  payload_printable=printable, **fields)  # fmt: skip


def ldap_bind(dn: bytes, password: bytes) -> bytes:
    """An LDAPv3 simple BindRequest, message id 1 (RFC 4511 4.2)."""
    inner = b"\x02\x01\x03" + bytes([4, len(dn)]) + dn + bytes([0x80, len(password)]) + password
    op = bytes([0x60, len(inner)]) + inner
    message = b"\x02\x01\x01" + op
    return bytes([0x30, len(message)]) + message


def analyze(records: list[dict[str, Any]], **cfg: Any) -> list[dict[str, Any]]:
    return run_analyzer(CleartextCredentialsAnalyzer(CleartextCredentialsConfig(**cfg)), records)


def seen(findings: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    evidence = [f["finding"]["evidence"] for f in findings]
    return [(e["protocol"], e["user"]) for e in evidence]


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(redact_credentials(decode_line(orjson.dumps(fields), 7)).raw)


# --- finding cleartext logins in synthetic EVE ---------------------------------------------


def test_an_ftp_login_names_protocol_server_and_user_but_not_the_password() -> None:
    [finding] = analyze(ftp_login("jdoe"))
    body, evidence = finding["finding"], finding["finding"]["evidence"]
    assert (body["type"], body["category"], body["severity"]) == (
        "cleartext-credentials",
        "policy",
        2,
    )
    assert (finding["src_ip"], finding["dest_ip"], finding["dest_port"]) == (CLIENT, SERVER, 21)
    assert (evidence["protocol"], evidence["user"], evidence["login_accepted"]) == (
        "ftp",
        "jdoe",
        True,
    )
    assert evidence["server"] == SERVER and evidence["flow_id"] == 1
    assert "'jdoe'" in body["explanation"]["en"] and "SFTP" in body["explanation"]["en"]
    assert "không mã hoá" in body["explanation"]["vi"]
    assert SECRET not in orjson.dumps(finding).decode()


def test_one_finding_per_protocol_client_server_user_and_window() -> None:
    records = ftp_login("jdoe", 0, 1) + ftp_login("jdoe", 600, 2)  # same hour
    records += ftp_login("asmith", 700, 3)  # another user
    assert seen(analyze(records)) == [("ftp", "jdoe"), ("ftp", "asmith")]
    later = ftp_login("jdoe", 0, 1) + ftp_login("jdoe", 30, 2)
    assert len(analyze(later, window_seconds=10)) == 2


def test_anonymous_ftp_is_no_secret() -> None:
    assert analyze(ftp_login("anonymous") + ftp_login("FTP", flow_id=2)) == []


def test_pop3_logins_that_suricata_parses_as_ftp_are_named_pop3() -> None:
    user = record("ftp", port=110, ftp={"command": "USER", "command_data": "mail@example.com",
                                        "reply": ["+OK password required"]})  # fmt: skip
    password = record("ftp", port=110, ftp={"command": "PASS", "command_data": SECRET,
                                            "reply": ["+OK mailbox has 2 messages"]})  # fmt: skip
    assert seen(analyze([user, password])) == [("pop3", "mail@example.com")]


def test_a_telnet_session_with_data_both_ways_is_reported_but_a_probe_is_not() -> None:
    def flow(flags: str) -> dict[str, Any]:
        return record("flow", port=23, app_proto="telnet", flow={"end": "2024-05-01T10:05:00+0000"},
                      tcp={"tcp_flags_ts": flags, "tcp_flags_tc": flags})  # fmt: skip

    [finding] = analyze([flow("1b")])
    assert seen([finding]) == [("telnet", None)]
    assert finding["timestamp"] == "2024-05-01T10:05:00+0000"
    assert analyze([flow("06")]) == []  # SYN then RST: no session


@pytest.mark.parametrize(
    ("payload", "port", "expected"),
    [
        (b"GET / HTTP/1.1\r\nAuthorization: Basic " + base64.b64encode(b"admin:" + SECRET.encode())
         + b"\r\n\r\n", 80, ("http", "admin")),
        (b"GET http://example.com/ HTTP/1.1\r\nProxy-Authorization: basic "
         + base64.b64encode(b"proxyuser:a:b") + b"\r\n\r\n", 3128, ("http", "proxyuser")),
        (b"AUTH PLAIN " + base64.b64encode(b"\0mailer@example.com\0" + SECRET.encode()) + b"\r\n",
         587, ("smtp", "mailer@example.com")),
        (b"a001 LOGIN \"jane doe\" " + SECRET.encode() + b"\r\n", 143, ("imap", "jane doe")),
        (ldap_bind(b"cn=svc,dc=example,dc=com", SECRET.encode()), 389,
         ("ldap", "cn=svc,dc=example,dc=com")),
    ],
    ids=["http-basic", "proxy-basic", "smtp-auth-plain", "imap-login", "ldap-simple-bind"],
)  # fmt: skip
def test_credentials_in_an_alert_payload_name_the_user(
    payload: bytes, port: int, expected: tuple[str, str]
) -> None:
    [finding] = analyze([alert(payload, port=port)])
    assert seen([finding]) == [expected]
    assert finding["finding"]["evidence"]["signature_id"] == 9000013
    assert SECRET not in orjson.dumps(finding).decode()


def test_an_anonymous_ldap_bind_is_no_credential() -> None:
    assert analyze([alert(ldap_bind(b"", b""), port=389)]) == []


def test_an_authorization_header_logged_in_an_http_record_names_the_user() -> None:
    token = base64.b64encode(f"ops:{SECRET}".encode()).decode()
    http = {"hostname": "mgmt.example.com", "url": "/admin/?x=1", "http_method": "GET",
            "request_headers": [{"name": "Authorization", "value": f"Basic  {token}"}]}  # fmt: skip
    [finding] = analyze([record("http", port=80, http=http)])
    assert seen([finding]) == [("http", "ops")]
    assert (
        finding["finding"]["evidence"]["path"] == "/admin/"
    )  # no query string: it may hold secrets


def test_a_login_form_posted_over_http_is_reported_once_with_its_user() -> None:
    body = f"username=jdoe&password={SECRET}&Login=Login"
    form_alert = alert(b"POST /app/login.php HTTP/1.1\r\n\r\n", sid=9000099,
                       http={"http_method": "POST", "url": "/app/login.php",
                             "http_request_body_printable": body})  # fmt: skip
    http = {"hostname": "intranet.example.com", "url": "/app/login.php", "http_method": "POST",
            "status": 302}  # fmt: skip
    findings = analyze([form_alert, record("http", port=80, http=http)])
    assert seen(findings) == [("http-form", "jdoe")]  # the http record adds nothing
    [alone] = analyze([record("http", port=80, http=http)])
    assert seen([alone]) == [("http-form", None)]
    assert (alone["finding"]["severity"], alone["finding"]["confidence"]) == (3, 0.6)


@pytest.mark.parametrize(
    ("method", "url", "cfg"),
    [("GET", "/login", {}), ("POST", "/api/items", {}), ("POST", "/logout", {}),
     ("POST", "/blogin/x", {}), ("POST", "/login", {"form_logins": False})],
)  # fmt: skip
def test_requests_that_are_no_form_login_are_not_reported(
    method: str, url: str, cfg: dict[str, Any]
) -> None:
    http = {"hostname": "example.com", "url": url, "http_method": method, "status": 200}
    assert analyze([record("http", port=80, http=http)], **cfg) == []


# --- redaction -------------------------------------------------------------------------


def test_the_ftp_password_is_redacted_and_the_user_kept() -> None:
    assert redact(ftp("PASS", SECRET, "230"))["ftp"]["command_data"] == "[redacted]"
    assert redact(ftp("ACCT", SECRET, "230"))["ftp"]["command_data"] == "[redacted]"
    assert redact(ftp("AUTH", "PLAIN dXNlcgBwYXNz"))["ftp"]["command_data"] == "PLAIN [redacted]"
    assert redact(ftp("USER", "jdoe"))["ftp"]["command_data"] == "jdoe"


def test_records_without_secrets_are_returned_untouched() -> None:
    for fields in (ftp("USER", "jdoe"), record("dns", port=53, dns={"rrname": "pass.example"}),
                   record("http", port=80, http={"url": "/", "http_method": "GET"})):  # fmt: skip
        original = decode_line(orjson.dumps(fields), 1)
        assert redact_credentials(original) is original


@pytest.mark.parametrize(
    ("payload", "kept", "gone"),
    [
        (b"PASS " + SECRET.encode() + b"\r\n", b"PASS [redacted]", SECRET.encode()),
        (b"GET / HTTP/1.1\r\nAuthorization: Basic YWRtaW46c2VjcmV0\r\nHost: a\r\n\r\n",
         b"Authorization: Basic [redacted]\r\nHost: a", b"YWRtaW46c2VjcmV0"),
        (b"GET / HTTP/1.1\r\nauthorization: sometoken123\r\n\r\n", b"authorization: [redacted]",
         b"sometoken123"),
        (b"AUTH PLAIN AG1haWxlcgBzZWNyZXQ=\r\n", b"AUTH PLAIN [redacted]", b"AG1haWxlcgBzZWNyZXQ="),
        (b"a001 LOGIN jane " + SECRET.encode() + b"\r\n", b"a001 LOGIN jane [redacted]",
         SECRET.encode()),
        (b"POST /login HTTP/1.1\r\n\r\nuser=jdoe&pass_word=" + SECRET.encode() + b"&x=1",
         b"user=jdoe&pass_word=[redacted]&x=1", SECRET.encode()),
        (b'{"login_id":"toto","password":"' + SECRET.encode() + b'"}',
         b'{"login_id":"toto","password":"[redacted]"}', SECRET.encode()),
    ],
    ids=["ftp-pass", "basic", "bare-token", "auth-plain", "imap-login", "form", "json"],
)  # fmt: skip
def test_alert_payloads_lose_their_secrets(payload: bytes, kept: bytes, gone: bytes) -> None:
    out = redact(alert(payload))
    data = base64.b64decode(out["payload"])
    assert kept in data and gone not in data
    assert gone.decode() not in out["payload_printable"]
    assert out["alert"]["signature_id"] == 9000013 and out["src_ip"] == CLIENT


def test_an_ldap_simple_bind_password_is_overwritten_in_place() -> None:
    payload = ldap_bind(b"cn=svc,dc=example", SECRET.encode()) + ldap_bind(b"cn=b", b"pw2")
    data = base64.b64decode(redact(alert(payload, port=389))["payload"])
    assert data == ldap_bind(b"cn=svc,dc=example", b"*" * len(SECRET)) + ldap_bind(b"cn=b", b"***")


def test_http_headers_urls_and_bodies_lose_their_secrets() -> None:
    http = {"url": f"/login?user=bob&password={SECRET}", "http_refer": f"/x?pwd={SECRET}",
            "request_headers": [{"name": "Authorization", "value": "Bearer abc.def"},
                                {"name": "Host", "value": "example.com"}],
            "http_request_body": base64.b64encode(f"password={SECRET}".encode()).decode(),
            }  # fmt: skip
    out = redact(record("http", port=80, http=http))["http"]
    assert out["url"] == "/login?user=bob&password=[redacted]"
    assert out["http_refer"] == "/x?pwd=[redacted]"
    assert out["request_headers"] == [{"name": "Authorization", "value": "Bearer [redacted]"},
                                      {"name": "Host", "value": "example.com"}]  # fmt: skip
    assert base64.b64decode(out["http_request_body"]) == b"password=[redacted]"


def test_redaction_leaves_the_analyzers_view_of_the_record_alone() -> None:
    original = decode_line(orjson.dumps(ftp("PASS", SECRET)), 3)
    assert original.data["ftp"]["command_data"] == SECRET
    redacted = redact_credentials(original)
    assert original.data["ftp"]["command_data"] == SECRET
    assert (redacted.id, redacted.ts, redacted.head) == (original.id, original.ts, original.head)
    assert SECRET.encode() not in redacted.raw


# --- real captures through the production path -------------------------------------------

EXPECTED = {
    "chrissanders_http_dvwa_clearlogin.pcapng": ("10.2.2.101", "10.2.2.104", "http-form", None),
    "ndpi_pop3.pcap": ("143.225.229.181", "74.208.5.28", "pop3", "cicciopernacchio@mail.com"),
    "zeek_basic-auth-with-colon.pcap": ("172.24.133.205", "172.24.133.205", "http", "test"),
    "zeek_ftp-password-pass-command.pcap": ("192.168.10.132", "192.168.10.188", "ftp", "Admin"),
    # Two binds (local rule 9000014 carries the BindRequest): by DN and by UPN.
    "zeek_simpleauth.pcap": ("10.0.0.1", "10.0.0.2", "ldap", frozenset({
        "CN=xxxxxxxx,OU=Users,OU=Accounts,DC=xx,DC=xxx,DC=xxxxx,DC=net",
        "xxxxxxxxxxx@xx.xxx.xxxxx.net"})),
}
#: Not visible in EVE with the shipped configuration (see the module docstring of cleartext).
NEEDS_RULE = {
    "ndpi_http_auth.pcap": "HTTP Basic to a server outside HOME_NET: local rule 9000013 only "
    "covers internal servers and the http record does not log Authorization; ET Open's "
    "2006380 covers it (test_et_open_policy_rules_reveal_basic_credentials_sent_outside)",
}  # fmt: skip
#: Secrets that cross the network in these captures, none of which may be stored.
SECRETS = ("qwerty", "pippozzo", "test:1:34", "dGVzdDoxOjM0", "password&Login", "Winter2025!",
           "UGFzc3cwcmQh", "Passw0rd!")  # fmt: skip


def _users(capture: Any) -> set[tuple[str, str | None]]:
    run = corpus_run()
    hosts = {(f["src_ip"], f["dest_ip"]) for f in run.by_capture[str(capture)]}
    return {(r["finding"]["evidence"]["protocol"], r["finding"]["evidence"]["user"])
            for r in run.records if r["finding"]["type"] in TYPE
            and (r["src_ip"], r["dest_ip"]) in hosts}  # fmt: skip


@pytest.mark.suricata
@pytest.mark.parametrize("capture", attack_captures("cleartext-creds"), ids=lambda p: p.name)
def test_each_cleartext_capture_names_protocol_server_and_user(capture: Any) -> None:
    if capture.name in NEEDS_RULE:
        assert corpus_run().summary(capture, TYPE) == set()
        pytest.xfail(NEEDS_RULE[capture.name])
    client, server, protocol, user = EXPECTED[capture.name]
    run = corpus_run()
    assert run.summary(capture, TYPE) == {("cleartext-credentials", client, server)}, run.seen(
        capture
    )
    users = user if isinstance(user, frozenset) else {user}
    assert _users(capture) == {(protocol, u) for u in users}


@pytest.mark.suricata
def test_et_open_policy_rules_reveal_basic_credentials_sent_outside(
    tmp_path: Path, testdata: Path
) -> None:
    # Production loads ET Open next to the local rules; its policy rule 2006380 alerts on
    # Basic credentials from HOME_NET to anywhere, and its payload names the user.
    capture = testdata / "pcaps" / "cleartext-creds" / "ndpi_http_auth.pcap"
    policy = testdata / "rules" / "et-open" / "emerging-policy.rules"
    local = REPO / "config" / "rules" / "local.rules"
    done = run_spanwatch("analyze", "--data-dir", tmp_path, "-q", "--checksum", "none",
                         "--rules", local, "--rules", policy, capture)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    store = open_store(tmp_path / "spanwatch.db", readonly=True)
    try:
        [finding] = [f for f in store.events(EventQuery(event_type="finding"))
                     if f["finding"]["type"] in TYPE]  # fmt: skip
    finally:
        store.close()
    evidence = finding["finding"]["evidence"]
    assert (finding["src_ip"], finding["dest_ip"]) == ("192.168.0.4", "192.254.189.169")
    assert (evidence["protocol"], evidence["user"], evidence["signature_id"]) == (
        "http",
        "test",
        2006380,
    )
    assert "fail2" not in orjson.dumps(finding).decode()


@pytest.mark.suricata
@pytest.mark.parametrize("seed", DEMO_SEEDS)
def test_the_demo_cleartext_logins_are_found_and_nothing_else(seed: int) -> None:
    found = corpus_run().summary(demo_capture(seed), TYPE)
    assert found == {("cleartext-credentials", "10.10.20.112", "10.10.1.30"),
                     ("cleartext-credentials", "10.10.20.108", "10.10.1.40")}  # fmt: skip
    assert _users(demo_capture(seed)) == {("ftp", "jdoe"), ("http", "admin")}


@pytest.mark.suricata
def test_no_finding_and_no_redacted_record_keeps_a_password() -> None:
    run = corpus_run()
    findings = orjson.dumps(run.records).decode()
    assert not [s for s in SECRETS if s in findings]
    # Every stored record of the corpus, passed through the redaction the runner is to
    # apply, no longer holds a secret, not even inside base64 fields.
    store = open_store(corpus_run().store_path, readonly=True)
    leaks, redacted = [], 0
    try:
        for kind in ("ftp", "alert", "http", "fileinfo"):
            for n, event in enumerate(store.events(EventQuery(event_type=kind))):
                event.pop("_id", None)
                before = decode_line(orjson.dumps(event), n)
                after = redact_credentials(before)
                redacted += after is not before
                leaks += [s for s in SECRETS if s in _readable(orjson.loads(after.raw))]
    finally:
        store.close()
    assert redacted > 0 and leaks == []


def _readable(value: Any) -> str:
    """Every string of a record, and the decoding of the base64 ones."""
    if isinstance(value, dict):
        return " ".join(_readable(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_readable(v) for v in value)
    if not isinstance(value, str):
        return ""
    try:
        return value + " " + base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except ValueError:
        return value


#: Real cleartext logins in the suricata-verify captures: findings, not false positives.
VERIFY_LOGINS = {
    ("ftp-download-active/input.pcap", "172.23.0.3", "ftp", "bob"),
    ("ftp-download-passive/input.pcap", "172.23.0.3", "ftp", "bob"),
    ("ftp-too-long-command/ftp-too-long-command.pcap", "1.1.1.1", "ftp", "user"),
    ("http-post-file/input.pcap", "0000:0000:0000:0000:0000:0000:0000:0001", "http-form", None),
    ("telnet-01/telnet.pcap", "192.168.0.2", "telnet", None),
}


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_traffic_is_reported_only_where_a_password_really_crosses() -> None:
    run = verify_run()
    hosts = {
        ("/".join(capture.split("/")[-2:]), f["src_ip"])
        for capture, found in run.by_capture.items()
        for f in found
        if f["type"] in TYPE
    }
    assert hosts == {(capture, client) for capture, client, _, _ in VERIFY_LOGINS}
    users = {(r["src_ip"], r["finding"]["evidence"]["protocol"], r["finding"]["evidence"]["user"])
             for r in run.records if r["finding"]["type"] in TYPE}  # fmt: skip
    assert users == {(client, protocol, user) for _, client, protocol, user in VERIFY_LOGINS}
