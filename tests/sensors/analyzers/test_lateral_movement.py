"""Lateral movement over SMB and DCE/RPC: the corpus captures and synthetic records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config import LateralMovementConfig
from sensors.analyzers.lateral_movement import LateralMovementAnalyzer
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir
from tests.helpers.login_corpus import (
    DEMO_SEEDS,
    corpus_run,
    demo_capture,
    verify_captures,
    verify_run,
)

PCAPS = _testdata_dir() / "pcaps"
TYPES = {"remote-service-creation", "remote-executable-upload", "admin-share-access",
         "remote-dcom-activation", "authentication-coercion", "directory-replication",
         "remote-scheduled-task", "remote-wmi", "netlogon-auth-burst"}  # fmt: skip
#: Capture -> (technique, attacker) as the corpus index describes them.
EXPECTED = {
    "smb-lateral/401trg_20171220_smb_psexec_add_user.pcap":
        ("remote-service-creation", "192.168.10.31"),
    "smb-lateral/401trg_20171220_smb_metasploit_psexec_pth_download_meterpreter.pcap":
        ("remote-service-creation", "192.168.10.50"),
    "smb-lateral/pcapattack_LM_psexec_smb_dcerpc_epm_svcctl.pcapng":
        ("remote-executable-upload", "172.16.66.1"),
    "smb-lateral/pcapattack_LM_WMI_ProcessCallCreate.pcapng":
        ("remote-dcom-activation", "172.16.66.1"),
    "credential-access/pcapattack_CA_LM_SpoolSample_SMB_BiAuth.pcapng":
        ("authentication-coercion", "172.16.66.37"),
}  # fmt: skip


@pytest.mark.suricata
def test_each_capture_names_its_technique_and_attacker(tmp_path: Path) -> None:
    findings = analyze_findings(tmp_path, [PCAPS / name for name in sorted(EXPECTED)])
    found = finding_hosts(findings, TYPES)
    for _, expected in sorted(EXPECTED.items()):
        assert expected in found
    service = next(f for f in findings if f["finding"]["type"] == "remote-service-creation")
    assert service["finding"]["category"] == "lateral-movement"
    assert service["finding"]["evidence"]["interface"] == "svcctl"
    assert "service" in service["finding"]["explanation"]["en"]


def _rpc(request: str, *, client: str = "192.0.2.10", flow: int = 1, minute: int = 0,
         uuid: str | None = None, opnum: int | None = None) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"request": request}
    if uuid:
        body["interfaces"] = [{"uuid": uuid, "version": "1.0", "ack_result": 0}]
    if opnum is not None:
        body["req"] = {"opnum": opnum}
    return {"timestamp": f"2024-05-01T10:{minute:02d}:00.000000+0000", "event_type": "dcerpc",
            "flow_id": flow, "src_ip": client, "src_port": 50000, "dest_ip": "192.0.2.5",
            "dest_port": 49667, "proto": "TCP", "dcerpc": body}  # fmt: skip


DRSUAPI = "e3514235-4b06-11d1-ab04-00c04fc2dcd2"


def test_dcsync_from_a_workstation_but_not_between_domain_controllers() -> None:
    cfg = LateralMovementConfig(domain_controllers=["192.0.2.4/31"])
    records = [_rpc("BIND", uuid=DRSUAPI), _rpc("REQUEST", opnum=3),
               _rpc("BIND", client="192.0.2.4", flow=2, uuid=DRSUAPI),
               _rpc("REQUEST", client="192.0.2.4", flow=2, opnum=3)]  # fmt: skip
    found = run_analyzer(LateralMovementAnalyzer(cfg), records)
    assert [(f["src_ip"], f["finding"]["type"]) for f in found] == [
        ("192.0.2.10", "directory-replication")]
    assert found[0]["finding"]["category"] == "credential-access"


def test_a_bound_interface_without_a_dangerous_call_is_no_finding() -> None:
    records = [_rpc("BIND", uuid=DRSUAPI), _rpc("REQUEST", opnum=0), _rpc("REQUEST", opnum=1)]
    assert run_analyzer(LateralMovementAnalyzer(LateralMovementConfig()), records) == []


def test_netlogon_needs_a_burst() -> None:
    netlogon = "12345678-1234-abcd-ef00-01234567cffb"
    few = [_rpc("BIND", uuid=netlogon)] + [_rpc("REQUEST", opnum=26) for _ in range(3)]
    cfg = LateralMovementConfig(netlogon_burst=20)
    assert run_analyzer(LateralMovementAnalyzer(cfg), few) == []
    many = [_rpc("BIND", uuid=netlogon)] + [_rpc("REQUEST", opnum=26) for _ in range(25)]
    found = run_analyzer(LateralMovementAnalyzer(cfg), many)
    assert [f["finding"]["type"] for f in found] == ["netlogon-auth-burst"]
    # One connection per try (the published Python checkers) is the same burst.
    per_try = [r for n in range(25) for r in (_rpc("BIND", flow=n, uuid=netlogon),
                                              _rpc("REQUEST", flow=n, opnum=15))]  # fmt: skip
    found = run_analyzer(LateralMovementAnalyzer(cfg), per_try)
    assert [(f["src_ip"], f["finding"]["type"]) for f in found] == [
        ("192.0.2.10", "netlogon-auth-burst")]
    # NetrLogonSamLogon (opnum 2) is a member server passing a user's logon on, no attack.
    logons = [_rpc("BIND", uuid=netlogon)] + [_rpc("REQUEST", opnum=2) for _ in range(25)]
    assert run_analyzer(LateralMovementAnalyzer(cfg), logons) == []


def test_management_hosts_and_the_admin_share_switch() -> None:
    tree = {"timestamp": "2024-05-01T10:00:00.000000+0000", "event_type": "smb", "flow_id": 9,
            "src_ip": "192.0.2.10", "src_port": 50000, "dest_ip": "192.0.2.5",
            "dest_port": 445, "proto": "TCP",
            "smb": {"command": "SMB2_COMMAND_TREE_CONNECT", "share": "\\\\srv\\C$",
                    "status": "STATUS_SUCCESS"}}  # fmt: skip
    assert [f["finding"]["severity"] for f in
            run_analyzer(LateralMovementAnalyzer(LateralMovementConfig()), [tree])] == [3]
    quiet = LateralMovementConfig(admin_shares=False)
    assert run_analyzer(LateralMovementAnalyzer(quiet), [tree]) == []
    managed = LateralMovementConfig(admin_clients=["192.0.2.0/28"])
    assert run_analyzer(LateralMovementAnalyzer(managed), [tree]) == []


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_traffic_raises_none_of_these_findings() -> None:
    """Four suricata-verify captures are recordings of real attacks (401trg's PsExec and AT
    scheduling, the same set as the corpus, and a Zerologon attempt): those, and nothing
    else."""
    run = verify_run()
    found = {str(c): run.summary(c, TYPES) for c in verify_captures()}
    found.update({str(demo_capture(s)): corpus_run().summary(demo_capture(s), TYPES)
                  for s in DEMO_SEEDS})  # fmt: skip
    sv = str(_testdata_dir() / "suricata-verify")
    assert {c.removeprefix(sv): f for c, f in found.items() if f} == {
        "/dcerpc/dcerpc-dce-iface-01/20171220_smb_psexec_mimikatz_ticket_dump-s2.pcap":
            {("remote-service-creation", "192.168.10.31", "192.168.10.30")},
        "/dcerpc-smb-test-01/input.pcap":
            {("remote-service-creation", "192.168.10.31", "192.168.10.10"),
             ("remote-executable-upload", "192.168.10.31", "192.168.10.10"),
             ("admin-share-access", "192.168.10.31", "192.168.10.10")},
        "/smb2-04/20171220_smb_at_schedule.pcap":
            {("remote-scheduled-task", "192.168.10.31", "192.168.10.30")},
        # A real Zerologon attempt: 21 connections, each one NetrServerAuthenticate3.
        "/dcerpc/zerologon/input.pcap":
            {("netlogon-auth-burst", "172.16.0.10", "172.16.5.58")},
    }  # fmt: skip
