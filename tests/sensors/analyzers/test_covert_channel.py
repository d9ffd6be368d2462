"""Covert channels: ICMP tunnels and DNS over HTTPS/TLS, synthetic and in the corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config import CovertChannelConfig, NetworksConfig
from sensors.analyzers.covert_channel import CovertChannelAnalyzer
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir

TYPES = {"icmp-tunnel", "encrypted-dns"}
INSIDE, OUTSIDE = "10.1.2.3", "203.0.113.9"
TUNNELS = _testdata_dir() / "pcaps" / "dns-tunneling"
SV = _testdata_dir() / "suricata-verify"


def _echo(packets: int, frame: int, *, flow_id: int = 1, end: str = "10:10:00") -> dict[str, Any]:
    """An ICMP echo session: ``packets`` requests and as many replies of ``frame`` bytes."""
    return {
        "timestamp": "2024-05-01T10:00:00.000000+0000", "flow_id": flow_id,
        "event_type": "flow", "src_ip": INSIDE, "dest_ip": OUTSIDE, "proto": "ICMP",
        "icmp_type": 8, "icmp_code": 0, "community_id": "1:icmpicmpicmpicmpicmpicmpicm=",
        "flow": {"pkts_toserver": packets, "pkts_toclient": packets,
                 "bytes_toserver": packets * frame, "bytes_toclient": packets * frame,
                 "start": "2024-05-01T10:00:00.000000+0000",
                 "end": f"2024-05-01T{end}.000000+0000", "state": "established"},
    }  # fmt: skip


def _tls(dest: str, port: int = 443, sni: str | None = None) -> dict[str, Any]:
    tls: dict[str, Any] = {"version": "TLS 1.3"} | ({"sni": sni} if sni else {})
    return {"timestamp": "2024-05-01T10:00:00.000000+0000", "flow_id": 7, "event_type": "tls",
            "src_ip": INSIDE, "src_port": 50000, "dest_ip": dest, "dest_port": port,
            "proto": "TCP", "tls": tls}  # fmt: skip


def _run(*records: dict[str, Any], cfg: CovertChannelConfig | None = None) -> list[dict[str, Any]]:
    analyzer = CovertChannelAnalyzer(cfg or CovertChannelConfig(), NetworksConfig())
    return run_analyzer(analyzer, records)


def test_data_in_icmp_echo_is_a_tunnel() -> None:
    (finding,) = _run(_echo(400, 220))
    body = finding["finding"]
    assert (body["type"], finding["src_ip"], finding["dest_ip"]) == ("icmp-tunnel", INSIDE, OUTSIDE)
    assert body["evidence"]["mean_packet_bytes"] == 220
    assert finding["timestamp"] == "2024-05-01T10:10:00.000000+0000"  # the flow's end


@pytest.mark.parametrize(
    ("packets", "frame"),
    [(86_400, 98),  # a monitor pinging every second for a day: Linux ping size
     (20, 1_514),  # path MTU probes: large, but a handful
     (1_000, 78)],  # the suricata-verify rsmurf6 capture's echo flood
)  # fmt: skip
def test_pings_of_ordinary_size_or_few_large_ones_are_not_tunnels(packets: int,
                                                                  frame: int) -> None:  # fmt: skip
    assert _run(_echo(packets, frame)) == []


def test_an_icmp_tunnel_is_reported_once_per_window() -> None:
    first, again = _echo(400, 300), _echo(400, 300, flow_id=2, end="10:30:00")
    later = _echo(400, 300, flow_id=3, end="11:20:00")
    assert len(_run(first, again, later)) == 2


@pytest.mark.parametrize(
    ("record", "protocol"),
    [(_tls("1.1.1.1"), "DNS over HTTPS"),
     (_tls("198.51.100.7", sni="mozilla.cloudflare-dns.com"), "DNS over HTTPS"),
     (_tls(OUTSIDE, 853), "DNS over TLS")],
)  # fmt: skip
def test_dns_over_https_or_tls_to_outside_resolvers_is_a_policy_finding(
    record: dict[str, Any], protocol: str
) -> None:
    (finding,) = _run(record)
    body = finding["finding"]
    assert (body["type"], body["category"], body["severity"]) == ("encrypted-dns", "policy", 3)
    assert body["evidence"]["protocol"] == protocol


def test_ordinary_tls_and_an_inside_dot_resolver_are_fine() -> None:
    records = [_tls("1.1.1.1", port=8443), _tls(OUTSIDE, sni="www.example.com"),
               _tls("10.9.9.53", 853)]  # fmt: skip
    assert _run(*records) == []
    assert _run(_tls("1.1.1.1"), cfg=CovertChannelConfig(encrypted_dns=False)) == []


@pytest.mark.suricata
def test_the_icmp_tunnel_and_the_dns_over_https_captures_are_found(tmp_path: Path) -> None:
    """The nDPI "dns2tcp" capture holds one TLS session to 1.1.1.1:443 without SNI: the
    tunnel is inside DNS over HTTPS, so what can be said is that DNS left unseen."""
    captures = [TUNNELS / "ndpi_icmp-tunnel.pcap", TUNNELS / "ndpi_dns2tcp_tunnel.pcap"]
    findings = analyze_findings(tmp_path, captures)
    assert finding_hosts(findings, TYPES) == {("icmp-tunnel", "192.168.154.131"),
                                              ("encrypted-dns", "192.168.20.211")}  # fmt: skip


@pytest.mark.suricata
def test_ordinary_icmp_and_tls_captures_raise_nothing(tmp_path: Path) -> None:
    captures = [*sorted(SV.glob("ipv6-evasion/*/*.pcap")), *sorted(SV.glob("tls/*/*.pcap")),
                SV / "community-id-ipv4/input.pcap", SV / "bug-5633-gre-02/gre-sample.pcap",
                SV / "vxlan-decoder-02/vxlan.pcap"]  # fmt: skip
    assert len(captures) >= 10
    assert finding_hosts(analyze_findings(tmp_path, captures), TYPES) == set()
