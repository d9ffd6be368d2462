"""Brute force and password spraying: synthetic EVE through the analyzer set, then the
real captures of the corpus, the demo capture and ordinary traffic through ``analyze``."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.config import BruteForceConfig
from sensors.analyzers.brute_force import BruteForceAnalyzer
from tests.helpers.analysis import run_analyzer
from tests.helpers.login_corpus import (
    DEMO_SEEDS,
    attack_captures,
    corpus_run,
    demo_capture,
    verify_captures,
    verify_run,
)

TYPES = {"brute-force", "password-spraying"}
ATTACKER, SERVER, KDC = "203.0.113.9", "192.0.2.20", "192.0.2.88"
BASE = "2024-05-01T10:00:00"


def _stamp(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"2024-05-01T10:{int(minutes):02d}:{secs:09.6f}+0000"


def _record(kind: str, at: float, flow_id: int, **fields: Any) -> dict[str, Any]:
    record = {"timestamp": _stamp(at), "event_type": kind, "src_ip": ATTACKER, "src_port":
              40000 + flow_id % 20000, "dest_ip": SERVER, "dest_port": 21, "proto": "TCP",
              "flow_id": flow_id, "community_id": f"1:flow{flow_id}="}  # fmt: skip
    record.update(fields)
    return record


def ftp_login(at: float, flow_id: int, user: str, code: str = "530") -> list[dict[str, Any]]:
    """USER and PASS of one FTP login, answered with ``code``."""
    user_cmd = {"command": "USER", "command_data": user, "completion_code": ["331"]}
    pass_cmd = {"command": "PASS", "command_data": "Secret-1", "completion_code": [code]}
    return [_record("ftp", at, flow_id, ftp=user_cmd),
            _record("ftp", at + 0.5, flow_id, ftp=pass_cmd)]  # fmt: skip


def kerberos(at: float, flow_id: int, user: str, error: str | None) -> list[dict[str, Any]]:
    """An AS-REQ for ``user`` and the KDC's answer (an error, or AS-REP), oriented as
    Suricata often logs them: the answer from the KDC's side."""
    ends = {"dest_ip": KDC, "dest_port": 88, "proto": "UDP"}
    request = _record("krb5", at, flow_id, krb5={"msg_type": "KRB_AS_REQ", "cname": user}, **ends)
    back = {"src_ip": KDC, "src_port": 88, "dest_ip": ATTACKER, "dest_port": 50000, "proto": "UDP"}
    if error is None:
        answer = {"msg_type": "KRB_AS_REP", "cname": user}
    else:
        answer = {"msg_type": "KRB_ERROR", "failed_request": "KRB_AS_REQ", "error_code": error,
                  "cname": "<empty>"}  # fmt: skip
    return [request, _record("krb5", at + 0.01, flow_id, krb5=answer, **back)]


def session(at: float, flow_id: int, *, seconds: float, to_client: int, port: int = 22,
            flags: str = "1b") -> dict[str, Any]:  # fmt: skip
    """A flow record of a TCP session to ``port`` (flags 1b: SYN FIN PSH ACK both ways)."""
    flow = {"start": _stamp(at), "end": _stamp(at + seconds), "bytes_toserver": 3000,
            "bytes_toclient": to_client, "pkts_toserver": 20, "pkts_toclient": 15}  # fmt: skip
    return _record("flow", at + seconds, flow_id, dest_port=port, app_proto="ssh", flow=flow,
                   tcp={"tcp_flags_ts": flags, "tcp_flags_tc": flags})  # fmt: skip


def http(at: float, flow_id: int, status: int, url: str = "/admin/", method: str = "GET",
         redirect: str | None = None) -> dict[str, Any]:  # fmt: skip
    fields = {"hostname": "app.example.com", "url": url, "http_method": method,
              "status": status, **({"redirect": redirect} if redirect else {})}  # fmt: skip
    return _record("http", at, flow_id, dest_port=80, http=fields)


def analyze(records: list[dict[str, Any]], **cfg: Any) -> list[dict[str, Any]]:
    records = sorted(records, key=lambda r: r["timestamp"])
    return run_analyzer(BruteForceAnalyzer(BruteForceConfig(**cfg)), records)


# --- synthetic EVE ---------------------------------------------------------------------


def test_ten_failed_ftp_logins_make_one_brute_force_finding() -> None:
    records = [r for i in range(12) for r in ftp_login(i * 5, 100 + i, "root")]
    [finding] = analyze(records)
    body, evidence = finding["finding"], finding["finding"]["evidence"]
    assert (body["type"], body["category"], body["severity"]) == (
        "brute-force",
        "credential-access",
        2,
    )
    assert (finding["src_ip"], finding["dest_ip"], finding["dest_port"]) == (ATTACKER, SERVER, 21)
    assert evidence["service"] == "ftp"
    assert (evidence["attempts"], evidence["failures"], evidence["users"]) == (12, 12, ["root"])
    assert evidence["flow_ids"][:2] == [100, 101] and evidence["community_ids"][0] == "1:flow100="
    assert evidence["first_timestamp"] == _stamp(0.5) and evidence["last_timestamp"] == _stamp(55.5)
    assert evidence["thresholds"]["min_failures"] == 10 and evidence["window_seconds"] == 600
    assert finding["timestamp"] == _stamp(55.5)
    assert "root" in body["explanation"]["en"] and "dò mật khẩu" in body["explanation"]["vi"]
    assert "Secret-1" not in str(finding)


def test_failures_below_the_threshold_are_not_reported() -> None:
    records = [r for i in range(9) for r in ftp_login(i * 5, 100 + i, "root")]
    assert analyze(records) == []


def test_failures_spread_wider_than_the_window_are_not_reported() -> None:
    # 12 failures, one every two minutes: never ten in ten minutes.
    records = [r for i in range(12) for r in ftp_login(i * 120, 100 + i, "root")]
    assert analyze(records) == []


def test_a_long_attack_gets_one_finding_per_window_not_per_batch() -> None:
    records = [r for i in range(40) for r in ftp_login(i * 30, 100 + i, "root")]  # 20 min
    findings = run_analyzer(BruteForceAnalyzer(BruteForceConfig()), records, batch=1)
    assert len(findings) == 2
    assert sum(f["finding"]["evidence"]["failures"] for f in findings) == 40


def test_success_after_failures_raises_the_severity_and_names_the_account() -> None:
    records = [r for i in range(10) for r in ftp_login(i * 5, 100 + i, "backup")]
    records += ftp_login(60, 200, "backup", code="230")
    [finding] = analyze(records)
    assert finding["finding"]["severity"] == 1
    assert finding["finding"]["evidence"]["succeeded_after_failures"] == ["backup"]


def test_kerberos_failures_across_many_accounts_are_password_spraying() -> None:
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    records = [r for i, u in enumerate(users)
               for r in kerberos(i, 300 + i, u, "KDC_ERR_PREAUTH_FAILED")]  # fmt: skip
    records += kerberos(10, 400, "ghost", "KDC_ERR_C_PRINCIPAL_UNKNOWN")
    [finding] = analyze(records)
    assert finding["finding"]["type"] == "password-spraying"
    assert (finding["src_ip"], finding["dest_ip"]) == (ATTACKER, KDC)  # the KDC is never the client
    evidence = finding["finding"]["evidence"]
    assert (evidence["service"], evidence["failed_users"], evidence["failures"]) == (
        "kerberos",
        7,
        7,
    )
    assert "password spraying" in finding["finding"]["explanation"]["en"]


def test_a_shared_host_logging_many_people_in_is_not_spraying() -> None:
    # A terminal server: 30 users log in (pre-authentication round trip, then AS-REP),
    # and five of them mistype once.
    records = []
    for i in range(30):
        records += kerberos(i, 500 + 2 * i, f"user{i}", "KDC_ERR_PREAUTH_REQUIRED")
        if i < 5:
            records += kerberos(i + 0.1, 700 + i, f"user{i}", "KDC_ERR_PREAUTH_FAILED")
        records += kerberos(i + 0.2, 501 + 2 * i, f"user{i}", None)
    assert analyze(records) == []


def test_smb_logon_failures_name_the_ntlm_account() -> None:
    setup = {"command": "SMB2_COMMAND_SESSION_SETUP", "status": "STATUS_LOGON_FAILURE",
             "ntlmssp": {"domain": "CORP", "user": "svc_sql", "host": "WS1"}}  # fmt: skip
    first_leg = {
        "command": "SMB2_COMMAND_SESSION_SETUP",
        "status": "STATUS_MORE_PROCESSING_REQUIRED",
    }
    records = [_record("smb", i, 800 + i, dest_port=445, smb=leg)
               for i in range(10) for leg in (first_leg, setup)]  # fmt: skip
    [finding] = analyze(records)
    evidence = finding["finding"]["evidence"]
    assert (evidence["service"], evidence["attempts"], evidence["users"]) == (
        "smb",
        10,
        ["CORP\\svc_sql"],
    )


def test_many_short_ssh_sessions_are_brute_force() -> None:
    records = [session(i * 6, 900 + i, seconds=4, to_client=3500) for i in range(10)]
    [finding] = analyze(records)
    evidence = finding["finding"]["evidence"]
    assert (finding["finding"]["type"], evidence["service"], evidence["failures"]) == (
        "brute-force",
        "ssh",
        10,
    )
    assert evidence["failure_basis"] == "short-session"
    assert finding["finding"]["confidence"] == 0.7


@pytest.mark.parametrize(
    ("seconds", "to_client", "flags"),
    [(120, 3500, "1b"), (4, 250_000, "1b"), (0.1, 0, "06")],
    ids=["long-sessions", "file-transfers", "no-data-port-probes"],
)
def test_ssh_sessions_that_are_not_failed_logins_are_not_counted(
    seconds: float, to_client: int, flags: str
) -> None:
    records = [session(i * 6, 900 + i, seconds=seconds, to_client=to_client, flags=flags)
               for i in range(20)]  # fmt: skip
    assert analyze(records) == []


def test_rdp_cookies_across_many_accounts_are_password_spraying() -> None:
    users = ["administrator", "admin", "backup", "sql", "helpdesk", "scanner"]
    records = []
    for i, user in enumerate(users):
        rdp = {"event_type": "initial_request", "cookie": user}
        records.append(_record("rdp", i * 3, 1000 + i, dest_port=3389, rdp=rdp))
        records.append(session(i * 3, 1000 + i, seconds=2, to_client=6000, port=3389))
    [finding] = analyze(records)
    assert finding["finding"]["type"] == "password-spraying"
    assert sorted(finding["finding"]["evidence"]["users"]) == sorted(users)
    assert finding["finding"]["evidence"]["service"] == "rdp"


def test_http_401s_are_brute_force_but_ntlm_handshakes_are_not() -> None:
    guesses = [http(i, 1100 + i, 401) for i in range(12)]
    [finding] = analyze(guesses)
    assert finding["finding"]["evidence"]["service"] == "http"
    # NTLM: each connection is answered 401 twice before the authenticated request.
    ntlm = [http(i + step / 10, 1200 + i, status) for i in range(15)
            for step, status in enumerate((401, 401, 200))]  # fmt: skip
    assert analyze(ntlm) == []


def test_login_form_posts_sent_back_to_the_form_are_brute_force() -> None:
    posts = [http(i, 1300 + i, 302, url="/wp-login.php", method="POST", redirect="/wp-login.php")
             for i in range(10)]  # fmt: skip
    [finding] = analyze(posts)
    assert finding["finding"]["evidence"]["failures"] == 10
    # Logins that worked redirect elsewhere.
    ok = [http(i, 1400 + i, 302, url="/wp-login.php", method="POST", redirect="/wp-admin/")
          for i in range(20)]  # fmt: skip
    assert analyze(ok) == []


def test_exempt_clients_are_never_reported() -> None:
    records = [r for i in range(20) for r in ftp_login(i, 100 + i, "root")]
    assert analyze(records, exempt_clients=["203.0.113.0/24"]) == []


def test_windows_beyond_max_tracked_are_judged_early() -> None:
    # Three servers, room for two windows: the first is judged when the third opens.
    records = []
    for n, server in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        for i in range(10):
            records += [dict(r, dest_ip=server) for r in ftp_login(n * 60 + i, 100 * n + i, "root")]
    findings = analyze(records, max_tracked=100)
    assert len(findings) == 3
    analyzer = BruteForceAnalyzer(BruteForceConfig(max_tracked=100))
    assert len(run_analyzer(analyzer, records, batch=1)) == 3


# --- real captures through the production path -------------------------------------------

EXPECTED = {
    "markofu_ftp-crack.pcap": ("brute-force", "10.234.125.254", "10.121.70.151"),
    "pcapattack_CA_kerbrute_passwordspray_kerberos_AS-REQ.pcapng":
        ("password-spraying", "172.16.66.1", "172.16.66.36"),
    "zeek_bruteforce.pcap": ("brute-force", "192.168.56.1", "192.168.56.101"),
    "zeek_sshguess.pcap": ("brute-force", "192.168.56.1", "192.168.56.103"),
}  # fmt: skip


@pytest.mark.suricata
@pytest.mark.parametrize("capture", attack_captures("brute-force"), ids=lambda p: p.name)
def test_each_brute_force_capture_is_found(capture: Any) -> None:
    assert corpus_run().summary(capture, TYPES) == {EXPECTED[capture.name]}


@pytest.mark.suricata
def test_findings_carry_the_evidence_an_admin_checks() -> None:
    spray = [r for r in corpus_run().records if r["finding"]["type"] == "password-spraying"]
    [record] = [r for r in spray if r["src_ip"] == "172.16.66.1"]
    evidence = record["finding"]["evidence"]
    assert evidence["service"] == "kerberos" and evidence["failed_users"] == 9
    assert {"administrator", "svc-01", "backdoor"} <= set(evidence["users"])
    assert evidence["flow_ids"] and evidence["community_ids"]
    assert record["finding"]["explanation"]["vi"].startswith("172.16.66.1 đã thử")


@pytest.mark.suricata
@pytest.mark.parametrize("seed", DEMO_SEEDS)
def test_the_demo_ssh_brute_force_is_found_and_nothing_else(seed: int) -> None:
    found = corpus_run().summary(demo_capture(seed), TYPES)
    assert found == {("brute-force", "198.51.100.23", "10.10.1.22")}


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_traffic_raises_no_brute_force_finding() -> None:
    run = verify_run()
    found = {str(c): run.summary(c, TYPES) for c in verify_captures()}
    assert {c: f for c, f in found.items() if f} == {}
