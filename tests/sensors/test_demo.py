"""Tests for the demo capture generator, including a real Suricata run over its output."""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import scapy.layers.l2  # noqa: F401  (binds Ether to DLT_EN10MB so PcapReader dissects)
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapReader, RawPcapReader

from sensors.demo import DemoSummary, main_demo_capture, write_demo_capture

ET_OPEN = Path("/work/shared/data/rules/et-open")
SURICATA_CONFIG = Path("/etc/suricata/suricata.yaml")
TEST_RULE = (
    'alert http any any -> any any (msg:"SPANWATCH TEST HTTP request to /spanwatch-test"; '
    'http.uri; content:"/spanwatch-test"; sid:9000001; rev:1;)'
)
# ET Open signatures the web_exploit scenario is built to trigger, with the attacker side.
ET_SIDS = {2011465: "203.0.113.66", 2013053: "203.0.113.66", 2100498: "10.10.1.11"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    path = tmp_path_factory.mktemp("demo") / "demo.pcap"
    return write_demo_capture(path)


def _et_rules(sids: set[int]) -> list[str]:
    """Copy the wanted ET Open rules out of the shipped rule files (test-only)."""
    found: dict[int, str] = {}
    for rules_file in sorted(ET_OPEN.glob("*.rules")):
        for line in rules_file.read_text(encoding="utf-8").splitlines():
            match = re.search(r"\bsid:(\d+);", line)
            if line.startswith("alert") and match and int(match.group(1)) in sids:
                found[int(match.group(1))] = line
    assert set(found) == sids, f"missing ET Open rules: {sids - set(found)}"
    return [found[sid] for sid in sorted(sids)]


def suricata_argv(pcap: Path, rules: Path, log_dir: Path) -> list[str]:
    return [
        "suricata",
        "-c",
        str(SURICATA_CONFIG),
        "-k",
        "none",
        "--runmode",
        "single",
        "--set",
        "vars.address-groups.HOME_NET=[10.10.0.0/16]",
        "-S",
        str(rules),
        "-l",
        str(log_dir),
        "-r",
        str(pcap),
    ]


@pytest.fixture(scope="module")
def eve(demo: DemoSummary, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    log_dir = tmp_path_factory.mktemp("suricata")
    rules = log_dir / "test.rules"
    rules.write_text("\n".join([TEST_RULE, *_et_rules(set(ET_SIDS))]) + "\n", encoding="utf-8")
    subprocess.run(
        suricata_argv(demo.path, rules, log_dir), check=True, capture_output=True, timeout=60
    )
    lines = (log_dir / "eve.json").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_same_seed_writes_the_same_bytes(demo: DemoSummary, tmp_path: Path) -> None:
    again = write_demo_capture(tmp_path / "again.pcap", seed=1)
    assert again.path.read_bytes() == demo.path.read_bytes()
    assert again == dataclasses.replace(demo, path=again.path)


def test_other_seed_writes_other_bytes(tmp_path: Path) -> None:
    one = write_demo_capture(tmp_path / "one.pcap", seed=1, minutes=5)
    two = write_demo_capture(tmp_path / "two.pcap", seed=2, minutes=5)
    assert one.path.read_bytes() != two.path.read_bytes()


def test_summary_matches_the_file(demo: DemoSummary) -> None:
    with RawPcapReader(str(demo.path)) as reader:
        stamps = [meta.sec * 1_000_000 + meta.usec for _, meta in reader]
    assert len(stamps) == demo.packets
    assert 3_000 < demo.packets < 10_000
    assert stamps == sorted(stamps)
    assert 29 * 60 < demo.duration < 31 * 60
    assert {item.name for item in demo.attacks} == {
        "port_scan",
        "subnet_sweep",
        "ssh_brute_force",
        "test_request",
        "web_exploit",
        "dns_tunnel",
        "ftp_cleartext_login",
        "http_basic_auth",
        "beacon",
    }
    ordinary = sum(item.packets for item in demo.scenarios if not item.is_attack)
    assert ordinary > demo.packets / 2
    assert all(item.packets > 0 and item.indicators for item in demo.scenarios)


def test_first_packet_reads_back_as_ethernet(demo: DemoSummary) -> None:
    with PcapReader(str(demo.path)) as reader:
        first = next(iter(reader))
    assert not isinstance(first, Raw)
    assert isinstance(first, Ether)


def test_sampled_packets_have_valid_checksums(demo: DemoSummary) -> None:
    checked: collections.Counter[str] = collections.Counter()
    with RawPcapReader(str(demo.path)) as reader:
        sample = [data for number, (data, _) in enumerate(reader) if number % 40 == 0]
    for data in sample:
        packet = Ether(data)
        for layer in (IP, TCP, UDP, ICMP):
            if layer in packet:
                stated = packet[layer].chksum
                del packet[layer].chksum
                assert Ether(bytes(packet))[layer].chksum == stated, packet.summary()
                packet = Ether(data)
                checked[layer.__name__] += 1
    assert set(checked) == {"IP", "TCP", "UDP", "ICMP"}


def test_short_capture_still_holds_every_attack(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "short.pcap"
    assert main_demo_capture([str(out), "--minutes", "3", "--seed", "7"]) == 0
    printed = capsys.readouterr().out
    assert "Wrote " in printed and "ssh_brute_force" in printed
    summary = write_demo_capture(tmp_path / "again.pcap", seed=7, minutes=3)
    assert summary.path.read_bytes() == out.read_bytes()
    assert all(item.packets > 0 for item in summary.attacks)
    assert summary.duration < 4 * 60


def test_minutes_below_one_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="minutes"):
        write_demo_capture(tmp_path / "x.pcap", minutes=0)


@pytest.mark.suricata
def test_suricata_logs_every_protocol(eve: list[dict[str, Any]]) -> None:
    types = collections.Counter(event["event_type"] for event in eve)
    assert {"flow", "dns", "http", "tls", "ssh", "smb", "ftp", "dhcp"} <= set(types)
    assert "anomaly" not in types
    hosts = {event["http"].get("hostname") for event in eve if event["event_type"] == "http"}
    assert {"intranet.gov.example", "updates.example.org", "198.51.100.77"} <= hosts
    snis = {event["tls"].get("sni") for event in eve if event["event_type"] == "tls"}
    assert "www.example.com" in snis and None not in snis


@pytest.mark.suricata
def test_suricata_sees_the_attacks(eve: list[dict[str, Any]]) -> None:
    alerts = [event for event in eve if event["event_type"] == "alert"]
    sids = collections.Counter(event["alert"]["signature_id"] for event in alerts)
    assert sids[9000001] == 1
    for sid, attacker in ET_SIDS.items():
        assert [a["src_ip"] for a in alerts if a["alert"]["signature_id"] == sid] == [attacker]
    tunnel = [
        event
        for event in eve
        if event["event_type"] == "dns"
        and event["dns"]["type"] == "query"
        and event["src_ip"] == "10.10.20.117"
        and event["dns"]["rrname"].endswith(".t.example.org")
    ]
    assert len(tunnel) == 150 and {event["dns"]["rrtype"] for event in tunnel} == {"TXT"}
    brute = [
        event
        for event in eve
        if event["event_type"] == "ssh" and event["src_ip"] == "198.51.100.23"
    ]
    assert len(brute) == 40
