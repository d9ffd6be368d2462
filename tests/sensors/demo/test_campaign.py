"""Tests for the campaign capture: determinism, the timeline, and the story packet by packet."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import scapy.layers.l2  # noqa: F401  (binds Ether to DLT_EN10MB so PcapReader dissects)
from scapy.layers.dns import DNS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapReader, RawPcapReader

from appliance.cli import main as spanwatch_main
from sensors.demo import DemoSummary
from sensors.demo.campaign import (
    ATTACKER,
    BASTION,
    C2,
    C2_NAME,
    CAMPAIGN_START,
    EXFIL_BYTES,
    EXFIL_CHUNK,
    GUESSES,
    INTRUSION_MINUTES,
    MIN_MINUTES,
    SCANNED_PORTS,
    STOLEN_USER,
    plan,
    write_campaign_capture,
)
from sensors.demo.network import SERVER_NET

SYN, RST, ACK = 0x02, 0x04, 0x10
PHASES = ("ssh_sweep", "bastion_port_scan", "ssh_brute_force", "ssh_login", "c2_beacon",
          "dns_exfiltration")  # fmt: skip
INSIDE = ipaddress.ip_network("10.0.0.0/8")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return write_campaign_capture(tmp_path_factory.mktemp("campaign") / "campaign.pcap")


@dataclass
class Story:
    """What the capture shows, gathered in one pass over its packets."""

    first: Any = None
    packets: int = 0
    swept: set[str] = field(default_factory=set)
    scanned_ports: set[int] = field(default_factory=set)
    open_ports: set[int] = field(default_factory=set)
    ssh_sessions: set[int] = field(default_factory=set)
    client_banners: Counter[bytes] = field(default_factory=Counter)
    sshd_logs: Counter[str] = field(default_factory=Counter)
    beacon_starts: list[float] = field(default_factory=list)
    hellos_with_sni: int = 0
    exfil_names: list[str] = field(default_factory=list)
    exfil_types: set[int] = field(default_factory=set)
    attacker_peers: set[str] = field(default_factory=set)
    c2_peers: set[str] = field(default_factory=set)


def _read_story(path: Path) -> Story:
    story = Story()
    with PcapReader(str(path)) as reader:
        story.first = next(iter(reader))
    # Dissect only the packets of the story (STYLE 58): to or from the attacker or the C2
    # server, and the bastion's datagrams; the ordinary traffic is two thirds of the file.
    wanted = {socket.inet_aton(ATTACKER), socket.inet_aton(C2)}
    bastion = socket.inet_aton(BASTION.ip)
    with RawPcapReader(str(path)) as raw:
        for data, meta in raw:
            story.packets += 1
            src, dst = data[26:30], data[30:34]
            is_ipv4 = data[12:14] == b"\x08\x00"
            if is_ipv4 and (src in wanted or dst in wanted or (src == bastion and data[23] == 17)):
                packet = Ether(data)
                packet.time = meta.sec + meta.usec / 1e6
                _note(story, packet)
    return story


def _note(story: Story, packet: Any) -> None:
    src, dst = packet[IP].src, packet[IP].dst
    if ATTACKER in (src, dst):
        story.attacker_peers.add(dst if src == ATTACKER else src)
    if C2 in (src, dst):
        story.c2_peers.add(dst if src == C2 else src)
    if TCP in packet:
        _note_tcp(story, packet, src, dst)
    elif UDP in packet and src == BASTION.ip:
        _note_udp(story, packet)


def _note_tcp(story: Story, packet: Any, src: str, dst: str) -> None:
    tcp = packet[TCP]
    flags, payload = int(tcp.flags), bytes(tcp.payload)
    if src == ATTACKER and flags == SYN and tcp.window == 1024:  # a scanner's probe
        if tcp.dport == 22:
            story.swept.add(dst)
        if dst == BASTION.ip:
            story.scanned_ports.add(tcp.dport)
    elif src == ATTACKER and flags == SYN and dst == BASTION.ip:  # a real connection
        story.ssh_sessions.add(tcp.sport)
    elif src == BASTION.ip and dst == ATTACKER and flags == SYN | ACK:
        story.open_ports.add(tcp.sport)
    elif src == BASTION.ip and dst == C2 and flags == SYN:
        story.beacon_starts.append(float(packet.time))
    if src == ATTACKER and payload.startswith(b"SSH-2.0-"):
        story.client_banners[payload.strip()] += 1
    if dst == C2 and payload[:1] == b"\x16" and C2_NAME.encode() in payload:
        story.hellos_with_sni += 1


def _note_udp(story: Story, packet: Any) -> None:
    udp = packet[UDP]
    if udp.dport == 514:
        text = bytes(udp.payload).decode()
        story.sshd_logs[text.split(": ", 1)[1].split(" from ")[0]] += 1
    elif udp.dport == 53 and DNS in packet and packet[DNS].qd:
        question = packet[DNS].qd[0]
        name = question.qname.decode().rstrip(".")
        if name.endswith("." + C2_NAME):
            story.exfil_names.append(name)
            story.exfil_types.add(question.qtype)


@pytest.fixture(scope="module")
def story(campaign: DemoSummary) -> Story:
    return _read_story(campaign.path)


def _phase(summary: DemoSummary, name: str) -> Any:
    return next(item for item in summary.scenarios if item.name == name)


def test_same_seed_writes_the_same_bytes(campaign: DemoSummary, tmp_path: Path) -> None:
    again = write_campaign_capture(tmp_path / "again.pcap", seed=1)
    assert again.path.read_bytes() == campaign.path.read_bytes()
    assert again == dataclasses.replace(campaign, path=again.path)


def test_other_seed_writes_other_bytes_with_the_same_story(tmp_path: Path) -> None:
    one = write_campaign_capture(tmp_path / "one.pcap", seed=1, minutes=MIN_MINUTES)
    two = write_campaign_capture(tmp_path / "two.pcap", seed=2, minutes=MIN_MINUTES)
    assert one.path.read_bytes() != two.path.read_bytes()
    assert [(p.name, p.attacker, p.victim) for p in one.attacks] == [
        (p.name, p.attacker, p.victim) for p in two.attacks
    ]


def test_the_phases_follow_each_other_after_a_quiet_start(campaign: DemoSummary) -> None:
    assert [item.name for item in campaign.attacks] == list(PHASES)
    sweep, scan, guesses, login, beacon, exfil = (_phase(campaign, n) for n in PHASES)
    assert sweep.first_seen - campaign.start > 39 * 60  # the quiet history
    assert campaign.end - sweep.first_seen < INTRUSION_MINUTES * 60  # within the last hour
    assert sweep.last_seen < scan.first_seen < scan.last_seen < guesses.first_seen
    assert guesses.first_seen < login.first_seen < guesses.last_seen + 60
    assert login.last_seen - login.first_seen > 200  # one long session
    assert login.last_seen < beacon.first_seen < exfil.first_seen
    assert exfil.last_seen < beacon.last_seen  # the implant keeps calling during and after
    assert 89 * 60 < campaign.duration < 90 * 60


def test_the_capture_stays_small(campaign: DemoSummary) -> None:
    assert campaign.packets < 20_000
    assert campaign.path.stat().st_size < 5_000_000
    ordinary = sum(item.packets for item in campaign.scenarios if not item.is_attack)
    assert ordinary > 3_000  # a background to hide in


def test_first_packet_reads_back_as_ethernet(story: Story, campaign: DemoSummary) -> None:
    assert not isinstance(story.first, Raw)
    assert isinstance(story.first, Ether)
    assert story.packets == campaign.packets


def test_reconnaissance_sweeps_the_subnet_then_scans_the_bastion(story: Story) -> None:
    assert story.swept == {str(address) for address in SERVER_NET.hosts()}
    assert len(story.scanned_ports) == SCANNED_PORTS and 22 in story.scanned_ports
    assert story.open_ports == {22}  # the only port of the bastion that answers the attacker


def test_the_attacker_guesses_passwords_until_one_works(story: Story) -> None:
    assert len(story.ssh_sessions) == GUESSES + 1
    assert story.client_banners == Counter({b"SSH-2.0-libssh_0.9.6": GUESSES + 1})
    failed = sum(n for text, n in story.sshd_logs.items() if text.startswith("Failed password"))
    assert GUESSES <= failed <= 3 * GUESSES
    assert story.sshd_logs[f"Accepted password for {STOLEN_USER}"] == 1


def test_the_bastion_beacons_every_minute_with_little_jitter(story: Story) -> None:
    starts = story.beacon_starts
    assert len(starts) >= 30 and story.hellos_with_sni == len(starts)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # 60 s +/- 5%, plus the lookup of the C2 name before some check-ins (under a second).
    assert all(56.9 < gap < 64.1 for gap in gaps), gaps


def test_the_bastion_exfiltrates_in_encoded_dns_names(story: Story) -> None:
    data_names = [name for name in story.exfil_names if name != C2_NAME]
    assert len(data_names) == EXFIL_BYTES // EXFIL_CHUNK == len(set(data_names))
    assert story.exfil_types == {1}  # A queries
    for name in data_names:
        first, second = name.split(".")[:2]
        assert len(first) == len(second) == 60 and first.isalnum()


def test_only_the_bastion_talks_to_the_attacker_beyond_the_scan(story: Story) -> None:
    assert story.attacker_peers <= {str(a) for a in SERVER_NET.hosts()}
    assert story.c2_peers == {BASTION.ip}


def test_every_phase_fits_the_shortest_window(tmp_path: Path) -> None:
    summary = write_campaign_capture(tmp_path / "short.pcap", minutes=MIN_MINUTES)
    assert all(item.packets > 0 for item in summary.scenarios)
    start_us = int(CAMPAIGN_START * 1e6)
    timeline = plan(start_us, start_us + MIN_MINUTES * 60_000_000)
    assert timeline.sweep_us >= start_us + 10 * 60_000_000
    assert _phase(summary, "ssh_sweep").first_seen * 1e6 >= timeline.sweep_us
    assert _phase(summary, "dns_exfiltration").last_seen < _phase(summary, "c2_beacon").last_seen


def test_fewer_minutes_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_MINUTES} minutes"):
        write_campaign_capture(tmp_path / "x.pcap", minutes=MIN_MINUTES - 1)


def test_demo_capture_command_writes_the_campaign(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "cli.pcap"
    argv = ["demo-capture", str(out), "--scenario", "campaign", "--minutes", str(MIN_MINUTES),
            "--data-dir", str(tmp_path / "data")]  # fmt: skip
    assert spanwatch_main(argv) == 0
    printed = capsys.readouterr().out
    assert "dns_exfiltration" in printed and ATTACKER in printed
    assert (
        out.read_bytes()
        == write_campaign_capture(tmp_path / "x.pcap", minutes=MIN_MINUTES).path.read_bytes()
    )
    assert spanwatch_main([*argv[:-2], "--minutes", str(MIN_MINUTES - 1)]) == 2
