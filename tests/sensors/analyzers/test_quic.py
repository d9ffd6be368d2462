"""QUIC handshakes without a server name: the Merlin C2 capture, synthetic hellos, benign QUIC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config import NetworksConfig
from appliance.config_attacks import QuicConfig
from sensors.analyzers.quic import QuicAnalyzer
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir
from tests.helpers.login_corpus import verify_captures, verify_run

MERLIN = _testdata_dir() / "pcaps" / "c2-malware" / "zeek_merlinc2_Zeek_example.pcapng"
TYPES = {"quic-without-server-name"}


@pytest.mark.suricata
def test_merlin_agent_over_http3_is_found(tmp_path: Path) -> None:
    findings = analyze_findings(tmp_path, [MERLIN])
    assert finding_hosts(findings, TYPES) == {("quic-without-server-name", "10.0.0.4")}
    (finding,) = [f for f in findings if f["finding"]["type"] in TYPES]
    assert finding["dest_ip"] == "24.199.110.233"
    assert finding["finding"]["category"] == "command-and-control"
    assert finding["finding"]["evidence"]["alpn"] == ["h3"]
    assert finding["finding"]["evidence"]["ja3"] == "203c2306834e5bf5ace01fb74ad1badf"
    assert "không nêu tên máy chủ" in finding["finding"]["explanation"]["vi"]


def _hello(*, sni: str | None = None, server: str = "198.51.100.8", client: str = "10.0.0.5",
           minute: int = 0, ja3: bool = True) -> dict[str, Any]:  # fmt: skip
    quic: dict[str, Any] = {"version": "1", "extensions": [{"name": "alpn", "type": 16,
                                                            "values": ["h3"]}]}  # fmt: skip
    if ja3:
        quic["ja3"] = {"hash": "0" * 32, "string": "771,4865,16-43,29,0"}
    else:  # a server hello
        quic["ja3s"] = {"hash": "1" * 32, "string": "771,4865,43-51"}
    if sni:
        quic["sni"] = sni
        quic["extensions"].append({"name": "server_name", "type": 0})
    return {"timestamp": f"2024-05-01T10:{minute:02d}:00.000000+0000", "event_type": "quic",
            "flow_id": 7 + minute, "src_ip": client, "src_port": 50000, "dest_ip": server,
            "dest_port": 443, "proto": "UDP", "quic": quic}  # fmt: skip


def _found(*records: dict[str, Any], cfg: QuicConfig | None = None) -> list[tuple[str, str]]:
    analyzer = QuicAnalyzer(cfg or QuicConfig(), NetworksConfig())
    return [(f["src_ip"], f["dest_ip"]) for f in run_analyzer(analyzer, records)]


def test_nameless_hello_to_a_public_address_once_per_window() -> None:
    records = [_hello(minute=m) for m in range(3)] + [_hello(server="203.0.113.9")]
    assert _found(*records) == [("10.0.0.5", "198.51.100.8"), ("10.0.0.5", "203.0.113.9")]
    spaced = QuicConfig(window_seconds=60)
    assert len(_found(*[_hello(minute=m) for m in range(3)], cfg=spaced)) == 3


def test_named_hellos_server_hellos_and_private_or_exempt_servers_are_fine() -> None:
    assert _found(_hello(sni="www.example.com"), _hello(ja3=False),
                  _hello(server="10.0.0.9"), _hello(server="127.0.0.1"),
                  _hello(server="100.64.0.1"), _hello(client="198.51.100.20")) == []  # fmt: skip
    exempt = QuicConfig(exempt_servers=["198.51.100.0/24"])
    assert _found(_hello(), cfg=exempt) == []


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_quic_names_its_server() -> None:
    # Chrome's gQUIC and a QUIC v2 test client on loopback (no name, but no public server).
    # The demo captures carry no QUIC.
    run = verify_run()
    found = {str(c): run.summary(c, TYPES) for c in verify_captures()}
    assert {c: f for c, f in found.items() if f} == {}
