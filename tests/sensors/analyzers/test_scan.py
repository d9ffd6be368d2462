"""Port scans and host sweeps: synthetic flow records through the analyzer set, then the
portscan captures of the corpus, the demo capture and ordinary traffic through ``analyze``."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from appliance.config import NetworksConfig, ScanConfig
from appliance.events import decode_line
from sensors.analyzers import AnalyzerSet
from sensors.analyzers.scan import ScanAnalyzer
from tests.helpers.flow_corpus import (
    attack_captures,
    demo_capture,
    flow_corpus_run,
    ordinary_captures,
)

TYPES = {"port-scan", "host-sweep"}
FLOW_TYPES = TYPES | {"syn-flood", "udp-flood", "data-exfiltration"}
SCANNER, TARGET = "203.0.113.66", "192.0.2.20"


def flow(
    at: float, dest: str = TARGET, port: int = 80, *, proto: str = "TCP", src: str = SCANNER,
    flags: tuple[str, str] = ("02", "00"), pkts: tuple[int, int] = (1, 0), state: str = "new",
    icmp_type: int | None = None, flow_id: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A flow record starting ``at`` seconds after 10:00 (2024-05-01 UTC)."""
    start = f"2024-05-01T10:{int(at // 60):02d}:{at % 60:09.6f}+0000"
    record: dict[str, Any] = {
        "timestamp": "2024-05-01T10:00:00.000000+0000", "flow_id": flow_id or int(at * 1000) + port,
        "event_type": "flow", "src_ip": src, "src_port": 40000, "dest_ip": dest,
        "proto": proto, "community_id": f"1:flow{flow_id or port}{dest}=",
        "flow": {"pkts_toserver": pkts[0], "pkts_toclient": pkts[1], "bytes_toserver": 60 * pkts[0],
                 "bytes_toclient": 60 * pkts[1], "start": start, "end": start, "state": state},
    }  # fmt: skip
    if proto == "TCP":
        record["tcp"] = {"tcp_flags_ts": flags[0], "tcp_flags_tc": flags[1]}
    if proto in ("TCP", "UDP"):
        record["dest_port"] = port
    if icmp_type is not None:
        record["icmp_type"] = icmp_type
    return record


#: How a closed port answers a SYN; a session that exchanged data.
REFUSED: dict[str, Any] = {"flags": ("02", "14"), "pkts": (1, 1), "state": "closed"}
SESSION: dict[str, Any] = {"flags": ("1b", "1b"), "pkts": (8, 7), "state": "closed"}


def run(records: list[dict[str, Any]], cfg: ScanConfig | None = None,
        batch: int = 100) -> list[dict[str, Any]]:  # fmt: skip
    """Findings of a scan analyzer fed ``records`` in batches (then shut down)."""
    analyzers = AnalyzerSet([ScanAnalyzer(cfg or ScanConfig(), NetworksConfig())])
    analyzers.init()
    decoded = [decode_line(orjson.dumps(r), i) for i, r in enumerate(records)]
    raw: list[bytes] = []
    for start in range(0, len(decoded), batch):
        raw += analyzers.process(decoded[start : start + batch])
    raw += analyzers.shutdown()
    assert analyzers.errors == {}
    return [orjson.loads(item) for item in raw]


def kinds(findings: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(f["finding"]["type"], f["src_ip"], f["dest_ip"]) for f in findings}


def test_a_half_open_syn_scan_is_one_port_scan_with_its_evidence() -> None:
    # Closed ports answer RST/ACK; open ones SYN/ACK, which the scanner resets.
    records = [flow(i * 0.5, port=p, **REFUSED) for i, p in enumerate(range(30, 40))]
    records += [flow(6.0, port=22, flags=("06", "12"), pkts=(2, 1), state="closed")]
    findings = run(records, batch=3)
    assert kinds(findings) == {("port-scan", SCANNER, TARGET)}
    finding = findings[0]["finding"]
    evidence = finding["evidence"]
    assert finding["category"] == "reconnaissance"
    assert evidence["port_count"] == 11 and "22/tcp" in evidence["ports"]
    assert evidence["failed_share"] == 1.0 and evidence["threshold"] == 6
    assert len(evidence["flow_ids"]) == 11 and evidence["first"].startswith("2024-05-01T10:00:00")
    assert findings[0]["timestamp"] == "2024-05-01T10:00:06.000000+0000"
    assert "quét cổng" in finding["explanation"]["vi"]


def test_flows_in_any_order_and_replayed_give_one_finding() -> None:
    records = [flow(i, port=1000 + i) for i in range(40)]
    random.Random(3).shuffle(records)
    assert len(run(records + records[:10], batch=7)) == 1


def test_stealth_probes_count_only_when_the_target_answers() -> None:
    # NULL/FIN/Xmas probes: Suricata tracks no session (flags 00); a RST answer shows a
    # closed port. Without an answer, such flows are stray RSTs (backscatter), no probes.
    answered = [flow(i, port=3390 + i, flags=("00", "00"), pkts=(1, 1)) for i in range(6)]
    assert kinds(run(answered)) == {("port-scan", SCANNER, TARGET)}
    silent = [flow(i, port=3390 + i, flags=("00", "00"), pkts=(1, 0)) for i in range(20)]
    assert run(silent) == []


def test_answers_to_spoofed_packets_are_no_scan_of_their_receiver() -> None:
    # SYN/ACKs reaching a spoofed address: Suricata makes it the client, which sent nothing.
    backscatter = [flow(i, port=1024 + i, flags=("00", "12"), pkts=(0, 1)) for i in range(30)]
    assert run(backscatter) == []


def test_five_ports_or_a_client_that_mostly_succeeds_is_no_scan() -> None:
    assert run([flow(i, port=100 + i) for i in range(5)]) == []
    # A monitoring client: 30 services of one host that answer, 8 that are down.
    records = [flow(i, port=100 + i, **SESSION) for i in range(30)]
    records += [flow(30 + i, port=200 + i) for i in range(8)]
    assert run(records) == []


def test_probes_spread_wider_than_the_window_are_no_scan() -> None:
    slow = [flow(i * 30.0, port=100 + i) for i in range(8)]  # 4 or 5 per 120 s
    assert run(slow) == []
    assert len(run(slow, ScanConfig(window_seconds=300))) == 1


def test_a_horizontal_sweep_of_one_port_and_a_ping_sweep() -> None:
    smb = [flow(i * 0.1, dest=f"192.0.2.{i}", port=445) for i in range(1, 40)]
    pings = [flow(10 + i * 0.1, dest=f"192.0.2.{i}", proto="ICMP", pkts=(1, 0), icmp_type=8)
             for i in range(1, 40)]  # fmt: skip
    findings = run(smb + pings)
    assert kinds(findings) == {("host-sweep", SCANNER, None)}
    by_service = {f["finding"]["evidence"]["service"]: f for f in findings}
    assert set(by_service) == {"445/tcp", "ICMP echo"}
    assert by_service["445/tcp"]["dest_port"] == 445
    assert by_service["445/tcp"]["finding"]["evidence"]["host_count"] == 39
    assert by_service["445/tcp"]["finding"]["evidence"]["networks"] == ["192.0.2.0/24"]


def test_pings_that_are_answered_are_monitoring_not_a_sweep() -> None:
    pings = [flow(i, dest=f"192.0.2.{i}", proto="ICMP", pkts=(1, 1), state="established",
                  icmp_type=8) for i in range(1, 60)]  # fmt: skip
    assert run(pings) == []


def test_udp_scans_count_unanswered_datagrams_but_not_traceroute() -> None:
    udp = [flow(i, port=500 + i, proto="UDP", pkts=(1, 0)) for i in range(10)]
    assert kinds(run(udp)) == {("port-scan", SCANNER, TARGET)}
    # An ICMP port unreachable joins the flow but leaves it "new": still no UDP answer.
    unreachable = [flow(i, port=500 + i, proto="UDP", pkts=(1, 1)) for i in range(10)]
    assert kinds(run(unreachable)) == {("port-scan", SCANNER, TARGET)}
    traceroute = [flow(i, port=33434 + i, proto="UDP", pkts=(1, 0)) for i in range(30)]
    assert run(traceroute) == []


def test_exempt_scanners_and_multicast_are_ignored() -> None:
    records = [flow(i, port=100 + i) for i in range(20)]
    assert run(records, ScanConfig(exempt_sources=["203.0.113.0/24"])) == []
    ssdp = [flow(i, dest="239.255.255.250", port=1900 + i, proto="UDP") for i in range(20)]
    assert run(ssdp) == []


def test_an_inside_scanner_is_more_severe_than_the_internet() -> None:
    outside = run([flow(i, port=100 + i) for i in range(10)])
    inside = run([flow(i, src="10.1.2.3", port=100 + i) for i in range(10)])
    assert outside[0]["finding"]["severity"] == 3
    assert inside[0]["finding"]["severity"] == 2


@pytest.mark.suricata
def test_the_portscan_captures_that_hold_a_scan_are_found() -> None:
    """The SYN scans of one host (1000, 29 and 7 ports, the last mixing connect, SYN,
    FIN, NULL and Xmas probes) are port scans; nmap's host discovery before its -sV probes
    (connect() to 80/tcp of 7 hosts) is a sweep. OS fingerprinting (16 probes to three
    ports) and the VNC scanner (one session) are no scan by their flows."""
    run_ = flow_corpus_run()
    found = set()
    for capture in attack_captures("portscan"):
        found |= {(capture.name, *f) for f in run_.summary(capture, TYPES)}
    assert found == {
        ("chrissanders_synscan.pcapng", "port-scan", "172.16.0.8", "64.13.134.52"),
        ("markofu_portscan.pcap", "port-scan", "10.100.25.14", "10.100.18.12"),
        ("ndpi_tcp_scan.pcapng", "port-scan", "192.168.1.178", "192.168.1.2"),
        ("zeek_nmap-vsn.pcap", "host-sweep", "192.168.1.71", None),
    }
    synscan = run_.full("port-scan", "172.16.0.8")[0]["finding"]["evidence"]
    assert synscan["port_count"] == 1000 and synscan["failed_share"] == 1.0


@pytest.mark.suricata
def test_the_demo_scan_and_sweeps_are_found_and_nothing_else() -> None:
    run_ = flow_corpus_run()
    assert run_.summary(demo_capture(), FLOW_TYPES) == {
        ("port-scan", "203.0.113.66", "10.10.1.20"), ("host-sweep", "203.0.113.66", None)}
    sweeps = {f["finding"]["evidence"]["service"]: f["finding"]["evidence"]
              for f in run_.full("host-sweep", "203.0.113.66")}  # fmt: skip
    assert set(sweeps) == {"445/tcp", "ICMP echo"}
    assert sweeps["445/tcp"]["host_count"] == 254
    assert sweeps["ICMP echo"]["networks"] == ["10.10.1.0/24"]
    scan = run_.full("port-scan", "203.0.113.66")[0]["finding"]["evidence"]
    assert scan["port_count"] == 200


@pytest.mark.suricata
def test_ordinary_traffic_raises_no_scan_flood_or_upload() -> None:
    run_ = flow_corpus_run()
    captures = ordinary_captures()
    assert {str(c): run_.summary(c, FLOW_TYPES) for c in captures} == {
        str(c): set() for c in captures}
