"""SYN and UDP floods: synthetic flow records through the analyzer set, then the DoS
captures of the corpus, and the scans and demo capture that must not look like floods."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from appliance.config import FloodConfig, NetworksConfig
from appliance.events import decode_line
from sensors.analyzers import AnalyzerSet
from sensors.analyzers.flood import FloodAnalyzer
from tests.helpers.flow_corpus import attack_captures, demo_capture, flow_corpus_run

TYPES = {"syn-flood", "udp-flood"}
TARGET, RESOLVER = "192.0.2.80", "10.0.0.53"


def flow(
    i: int, src: str, dest: str = TARGET, *, sport: int = 40000, dport: int = 80,
    proto: str = "TCP", flags: tuple[str, str] = ("02", "00"), pkts: tuple[int, int] = (1, 0),
    nbytes: tuple[int, int] = (60, 0), state: str = "new", spacing: float = 0.01,
) -> dict[str, Any]:  # fmt: skip
    """The ``i``-th flow record, ``spacing`` seconds after the previous one."""
    at = 600 + i * spacing
    start = f"2024-05-01T10:{int(at // 60):02d}:{at % 60:09.6f}+0000"
    record: dict[str, Any] = {
        "timestamp": start, "flow_id": i + 1, "event_type": "flow", "src_ip": src,
        "src_port": sport, "dest_ip": dest, "dest_port": dport, "proto": proto,
        "community_id": f"1:flood{i}=",
        "flow": {"pkts_toserver": pkts[0], "pkts_toclient": pkts[1], "bytes_toserver": nbytes[0],
                 "bytes_toclient": nbytes[1], "start": start, "end": start, "state": state},
    }  # fmt: skip
    if proto == "TCP":
        record["tcp"] = {"tcp_flags_ts": flags[0], "tcp_flags_tc": flags[1]}
    return record


def spoofed(i: int) -> str:
    return f"198.51.{100 + i // 250 % 4}.{i % 250 + 1}"


def run(records: list[dict[str, Any]], cfg: FloodConfig | None = None) -> list[dict[str, Any]]:
    """Findings of a flood analyzer fed ``records`` in batches of 100 (then shut down)."""
    analyzers = AnalyzerSet([FloodAnalyzer(cfg or FloodConfig(), NetworksConfig())])
    decoded = [decode_line(orjson.dumps(r), i) for i, r in enumerate(records)]
    raw: list[bytes] = []
    for start in range(0, len(decoded), 100):
        raw += analyzers.process(decoded[start : start + 100])
    raw += analyzers.shutdown()
    assert analyzers.errors == {}
    return [orjson.loads(item) for item in raw]


def kinds(findings: list[dict[str, Any]]) -> set[tuple[str, str | None, str | None]]:
    return {(f["finding"]["type"], f["src_ip"], f["dest_ip"]) for f in findings}


def test_a_spoofed_syn_flood_is_one_finding_about_its_target() -> None:
    # The target answers SYN/ACK; spoofed sources never complete the handshake.
    findings = run([flow(i, spoofed(i), flags=("02", "12"), pkts=(1, 2)) for i in range(1500)])
    assert kinds(findings) == {("syn-flood", None, TARGET)}
    finding = findings[0]["finding"]
    evidence = finding["evidence"]
    assert (finding["category"], finding["severity"], findings[0]["proto"]) == ("impact", 1, "TCP")
    assert evidence["half_open"] == 1500 and evidence["source_count"] == 1000
    assert evidence["dest_ports"] == [80] and evidence["half_open_share"] == 1.0
    assert len(evidence["flow_ids"]) == 20 and evidence["threshold"] == 1000


def test_one_source_flooding_one_port_is_named() -> None:
    findings = run([flow(i, "203.0.113.7", sport=1024 + i) for i in range(1200)])
    assert kinds(findings) == {("syn-flood", "203.0.113.7", TARGET)}


def test_a_port_scan_is_no_flood() -> None:
    assert run([flow(i, "203.0.113.7", dport=1 + i) for i in range(3000)]) == []


def test_too_few_half_open_or_a_busy_server_is_no_flood() -> None:
    assert run([flow(i, spoofed(i)) for i in range(900)]) == []
    # 4200 clients a minute, of which 1200 never complete: fewer than half.
    mixed = [flow(i, spoofed(i)) if i % 7 in (0, 3) else
             flow(i, spoofed(i), flags=("1b", "1b"), pkts=(6, 5), state="closed")
             for i in range(4200)]  # fmt: skip
    assert run(mixed) == []


def test_unasked_answers_from_many_reflectors_are_an_amplification_flood() -> None:
    # Suricata makes the target the client of a DNS "flow" it never sent a packet in.
    answers = [flow(i, TARGET, f"203.0.113.{i % 30 + 1}", sport=22, dport=53, proto="UDP",
                    pkts=(0, 3), nbytes=(0, 4_000)) for i in range(300)]  # fmt: skip
    findings = run(answers)
    assert kinds(findings) == {("udp-flood", None, TARGET)}
    evidence = findings[0]["finding"]["evidence"]
    assert evidence["bytes"] == 1_200_000 and evidence["source_count"] == 30
    assert evidence["source_ports"] == [53] and evidence["unanswered_share"] == 1.0
    # The same answers oriented the other way round (the reflector as the flow's source).
    reverse = [flow(i, f"203.0.113.{i % 30 + 1}", TARGET, sport=123, dport=22, proto="UDP",
                    pkts=(3, 0), nbytes=(4_000, 0)) for i in range(300)]  # fmt: skip
    assert kinds(run(reverse)) == {("udp-flood", None, TARGET)}


def test_a_busy_resolver_asking_many_servers_is_no_flood() -> None:
    lookups = [flow(i, RESOLVER, f"203.0.113.{i % 50 + 1}", sport=30000 + i, dport=53,
                    proto="UDP", pkts=(1, 1), nbytes=(80, 3_000), state="established")
               for i in range(2000)]  # fmt: skip
    late = [flow(2000 + i, RESOLVER, f"203.0.113.{i + 1}", dport=53, proto="UDP", pkts=(0, 1),
                 nbytes=(0, 1_000)) for i in range(20)]  # fmt: skip
    assert run(lookups + late) == []


def test_an_inside_server_answering_an_outside_host_far_more_than_asked_is_abused() -> None:
    abused = [flow(i, TARGET, RESOLVER, sport=5000, dport=53, proto="UDP", pkts=(1, 1),
                   nbytes=(70, 3_000), state="established") for i in range(500)]  # fmt: skip
    findings = run(abused)
    assert kinds(findings) == {("udp-flood", RESOLVER, TARGET)}
    assert "phản xạ" in findings[0]["finding"]["explanation"]["vi"]


def test_a_direct_udp_flood_but_not_a_log_stream() -> None:
    blast = [flow(i, "203.0.113.7", dport=9999, proto="UDP", pkts=(400, 0),
                  nbytes=(600_000, 0)) for i in range(1000)]  # fmt: skip
    assert kinds(run(blast)) == {("udp-flood", "203.0.113.7", TARGET)}
    syslog = [flow(i, f"10.0.1.{i % 200 + 1}", dport=514, proto="UDP", pkts=(50, 0),
                   nbytes=(20_000, 0)) for i in range(2000)]  # fmt: skip
    assert run(syslog) == []
    assert run(blast, FloodConfig(exempt_targets=[f"{TARGET}/32"])) == []


@pytest.mark.suricata
def test_the_dos_captures_are_floods_of_their_target() -> None:
    run_ = flow_corpus_run()
    dos = {c.name.split(".")[0]: c for c in attack_captures("dos")}
    synflood, amplification = dos["stopddos_pkt"], dos["stopddos_amp"]
    assert run_.summary(synflood, TYPES) == {("syn-flood", None, "10.10.10.10")}
    assert run_.summary(amplification, TYPES) == {("udp-flood", None, "10.10.10.10")}
    syn = run_.full("syn-flood")[0]["finding"]["evidence"]
    assert syn["half_open"] > 30_000 and syn["source_count"] > 30_000
    udp = run_.full("udp-flood")[0]["finding"]["evidence"]
    assert udp["source_ports"] == [53] and udp["source_count"] == 38


@pytest.mark.suricata
def test_scans_and_the_demo_capture_are_no_floods() -> None:
    run_ = flow_corpus_run()
    for capture in [*attack_captures("portscan"), demo_capture()]:
        assert run_.summary(capture, TYPES) == set(), capture.name
