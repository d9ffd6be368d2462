"""Login attempts and outcomes read from single EVE records."""

from __future__ import annotations

from typing import Any

import orjson

from appliance.events import decode_line
from sensors.analyzers.attempt import Attempt, AttemptReader

CLIENT, SERVER = "192.0.2.7", "198.51.100.8"


def reader() -> AttemptReader:
    return AttemptReader(frozenset({22, 3389}), short_seconds=30, short_bytes=10_000)


def read(r: AttemptReader, kind: str, flow_id: int = 1, **fields: Any) -> Attempt | None:
    record = {"timestamp": "2024-05-01T10:00:00.000000+0000", "event_type": kind,
              "src_ip": CLIENT, "src_port": 40001, "dest_ip": SERVER, "dest_port": 21,
              "proto": "TCP", "flow_id": flow_id, **fields}  # fmt: skip
    return r.read(decode_line(orjson.dumps(record), flow_id))


def outcome(attempt: Attempt | None) -> tuple[str, str, str | None, bool, bool | None] | None:
    if attempt is None:
        return None
    return (attempt.client, attempt.server, attempt.user, attempt.is_request, attempt.failed)


def test_a_kerberos_error_is_the_clients_failure_for_the_user_of_its_request() -> None:
    r = reader()
    request = read(r, "krb5", 5, dest_port=88, krb5={"msg_type": "KRB_AS_REQ", "cname": "eve"})
    assert outcome(request) == (CLIENT, SERVER, "eve", True, None)
    error = {"msg_type": "KRB_ERROR", "failed_request": "KRB_AS_REQ",
             "error_code": "KDC_ERR_PREAUTH_FAILED", "cname": "<empty>"}  # fmt: skip
    # Logged from the KDC's side: src is the KDC on port 88.
    back = read(
        r, "krb5", 5, src_ip=SERVER, src_port=88, dest_ip=CLIENT, dest_port=40001, krb5=error
    )
    assert outcome(back) == (CLIENT, SERVER, "eve", False, True)
    assert back is not None and back.port == 88 and back.service == "kerberos"


def test_kerberos_round_trips_that_are_no_guess_are_ignored() -> None:
    r = reader()
    for error, failed in (("KDC_ERR_PREAUTH_REQUIRED", "KRB_AS_REQ"),
                          ("KDC_ERR_S_PRINCIPAL_UNKNOWN", "KRB_TGS_REQ")):  # fmt: skip
        body = {"msg_type": "KRB_ERROR", "failed_request": failed, "error_code": error}
        assert read(r, "krb5", dest_port=88, krb5=body) is None


def test_an_ftp_user_rejected_outright_is_a_failed_attempt() -> None:
    r = reader()
    accepted = {"command": "USER", "command_data": "root", "completion_code": ["331"]}
    assert read(r, "ftp", 2, ftp=accepted) is None  # the password comes next
    rejected = {"command": "USER", "command_data": "nobody", "completion_code": ["530"]}
    assert outcome(read(r, "ftp", 3, ftp=rejected)) == (CLIENT, SERVER, "nobody", True, True)
    pending = {"command": "PASS", "command_data": "x"}  # no reply logged
    assert outcome(read(r, "ftp", 2, ftp=pending)) == (CLIENT, SERVER, "root", True, None)


def test_smb_legs_without_an_outcome_are_ignored() -> None:
    r = reader()
    legs = [{"command": "SMB2_COMMAND_SESSION_SETUP", "status": "STATUS_MORE_PROCESSING_REQUIRED"},
            {"command": "SMB2_COMMAND_SESSION_SETUP", "status": "STATUS_SUCCESS",
             "ntlmssp": {"domain": "", "user": "", "host": "H"}},  # anonymous
            {"command": "SMB2_COMMAND_TREE_CONNECT", "status": "STATUS_ACCESS_DENIED"}]  # fmt: skip
    assert [read(r, "smb", dest_port=445, smb=leg) for leg in legs] == [None, None, None]


def test_only_tcp_sessions_to_session_ports_count() -> None:
    r = reader()
    flow = {"start": "2024-05-01T10:00:00+0000", "end": "2024-05-01T10:00:03+0000",
            "bytes_toclient": 3000}  # fmt: skip
    tcp = {"tcp_flags_ts": "1b", "tcp_flags_tc": "1b"}
    assert read(r, "flow", dest_port=80, flow=flow, tcp=tcp) is None
    assert read(r, "flow", dest_port=22, proto="UDP", flow=flow, tcp=tcp) is None
    ssh = read(r, "flow", dest_port=22, flow=flow, tcp=tcp)
    assert ssh is not None and (ssh.service, ssh.failed, ssh.by_session) == ("ssh", True, True)
    assert ssh.stamp == "2024-05-01T10:00:03+0000"


def test_an_http_success_after_a_401_on_the_same_connection_is_an_outcome() -> None:
    r = reader()
    assert read(r, "http", 9, http={"url": "/x", "status": 404}) is None
    assert read(r, "http", 9, http={"url": "/x", "status": 403}) is None  # not a login URI
    assert outcome(read(r, "http", 9, http={"url": "/x", "status": 401})) == (
        CLIENT, SERVER, None, True, True)  # fmt: skip
    assert outcome(read(r, "http", 9, http={"url": "/x", "status": 200})) == (
        CLIENT, SERVER, None, False, False)  # fmt: skip
    assert read(r, "http", 9, http={"url": "/y", "status": 200}) is None  # nothing pending now
