"""The packet path: the raw-byte prefilter (link types, VLANs, fragments, pcapng), its speed
on the largest corpus capture, the scapy layer filter, and the offline packet pass."""

from __future__ import annotations

import struct
import time
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest
from scapy.config import conf
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import RawPcapReader

from appliance.config import AppConfig
from appliance.store import EventQuery, open_store
from sensors.analyzers.packet import ArpClaim, arp_claim
from sensors.capture import (
    Frame,
    analyze_capture_packets,
    dissect,
    read_frames,
    scapy_layers,
    wanted,
)
from sensors.runner import RunStats
from tests.helpers import cli, l2

DATA = cli.testdata_dir()
LARGEST = DATA / "pcaps" / "dos" / "stopddos_pkt.TCP.synflood.spoofed.pcap"
POISON = DATA / "pcaps" / "arp-spoofing" / "chrissanders_arppoison.pcapng"
ARP_BODY = bytes(ARP(psrc="192.0.2.1", pdst="192.0.2.2"))


def udp4(sport: int, dport: int, **ip: int) -> bytes:
    return bytes(IP(src="192.0.2.1", dst="192.0.2.2", **ip) / UDP(sport=sport, dport=dport))


def pcap(path: Path, linktype: int, frames: list[tuple[float, bytes]], *, nanos: bool = False,
         endian: str = "<") -> Path:  # fmt: skip
    """A pcap file written by hand (any link type, either byte order and resolution)."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for ts, data in frames:
        frac = round((ts % 1) * (1e9 if nanos else 1e6))
        out.append(struct.pack(endian + "IIII", int(ts), frac, len(data), len(data)) + data)
    path.write_bytes(b"".join(out))
    return path


def pcapng(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    """A pcapng file with one Ethernet interface in nanoseconds (if_tsresol 9)."""

    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3x", 9, 1, 9)
                 + struct.pack("<HH", 0, 0))]  # fmt: skip
    for ts, data in frames:
        stamp = round(ts * 1e9)
        out.append(block(6, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data),
                                        len(data)) + data))  # fmt: skip
    path.write_bytes(b"".join(out))
    return path


# -- the prefilter ------------------------------------------------------------------------------


def test_the_prefilter_passes_what_the_bpf_filter_passes() -> None:
    eth = bytes(Ether(src=l2.mac(1), dst=l2.mac(2), type=0x0800))
    assert wanted(1, bytes(Ether(type=0x0806)) + ARP_BODY)
    assert wanted(1, bytes(Ether() / Dot1Q(vlan=7) / Dot1Q(vlan=8) / ARP()))
    assert wanted(1, eth + udp4(50000, 5355)) and wanted(1, eth + udp4(67, 68))
    assert not wanted(1, eth + udp4(50000, 53))
    assert not wanted(1, eth + bytes(IP(dst="192.0.2.2") / TCP(sport=137, dport=445)))
    assert not wanted(1, eth + udp4(137, 137, frag=100))  # a later fragment has no ports
    v6 = bytes(Ether() / IPv6(dst="ff02::fb") / UDP(sport=5353, dport=5353))
    assert wanted(1, v6)
    assert wanted(101, udp4(68, 67)) and wanted(228, udp4(68, 67))
    assert wanted(0, struct.pack("<I", 2) + udp4(5353, 5353))  # BSD loopback, AF_INET
    sll = b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x06"
    assert wanted(113, sll + ARP_BODY)
    assert not wanted(147, bytes(Ether(type=0x0806)) + ARP_BODY)  # a link type we do not read
    assert not wanted(1, b"\x00" * 13)


def test_link_types_byte_orders_and_resolutions_keep_their_times(tmp_path: Path) -> None:
    arp_frame = bytes(Ether(type=0x0806)) + ARP_BODY
    noise = bytes(Ether() / IP() / TCP())
    frames = [(1_700_000_000.25, noise), (1_700_000_001.5, arp_frame), (1_700_000_002.0, noise)]
    for path in (pcap(tmp_path / "le.pcap", 1, frames),
                 pcap(tmp_path / "be.pcap", 1, frames, endian=">", nanos=True),
                 pcapng(tmp_path / "ns.pcapng", frames)):  # fmt: skip
        (frame,) = read_frames(path)
        assert (frame.linktype, frame.data) == (1, arp_frame)
        assert frame.ts == pytest.approx(1_700_000_001.5, abs=1e-6)
    sll = b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x06" + ARP_BODY
    (frame,) = read_frames(pcap(tmp_path / "sll.pcap", 113, [(1.0, sll), (2.0, sll[:10])]))
    assert frame.linktype == 113


def test_the_fast_path_agrees_with_the_full_check(tmp_path: Path) -> None:
    from sensors.demo import write_demo_capture

    demo = tmp_path / "demo.pcap"
    write_demo_capture(demo, seed=3, minutes=5)
    with RawPcapReader(str(demo)) as reader:
        expected = [data for data, _ in reader if wanted(1, data)]
    assert expected and [f.data for f in read_frames(demo)] == expected


def test_non_matching_traffic_costs_under_0_2_s_per_100k_packets() -> None:
    with RawPcapReader(str(LARGEST)) as reader:
        packets = sum(1 for _ in reader)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        assert sum(1 for _ in read_frames(LARGEST)) == 0
        best = min(best, time.perf_counter() - start)
    per_100k = best * 100_000 / packets
    print(f"prefilter: {packets} packets in {best * 1000:.1f} ms = {per_100k:.3f} s per 100k")
    assert per_100k < 0.2


def test_truncated_files_yield_the_frames_before_the_cut(tmp_path: Path) -> None:
    arp_frame = bytes(Ether(type=0x0806)) + ARP_BODY
    whole = pcap(tmp_path / "a.pcap", 1, [(1.0, arp_frame), (2.0, arp_frame)]).read_bytes()
    (tmp_path / "cut.pcap").write_bytes(whole[:-10])
    assert len(list(read_frames(tmp_path / "cut.pcap"))) == 1
    whole = pcapng(tmp_path / "a.pcapng", [(1.0, arp_frame), (2.0, arp_frame)]).read_bytes()
    (tmp_path / "cut.pcapng").write_bytes(whole[:-10])
    assert len(list(read_frames(tmp_path / "cut.pcapng"))) == 1


# -- scapy -----------------------------------------------------------------------------------


def test_the_layer_filter_is_lifted_after_the_pass() -> None:
    assert not conf.layers.filtered
    frame = bytes(Ether() / IP() / TCP(dport=80) / Raw(b"GET / HTTP/1.1\r\n\r\n"))
    with scapy_layers():
        assert conf.layers.filtered
        assert not Ether(frame).haslayer(TCP)  # not one of the analyzers' layers
    assert not conf.layers.filtered
    assert Ether(frame).haslayer(TCP)


def test_arp_is_read_from_its_bytes_as_scapy_reads_it() -> None:
    captures = sorted(DATA.glob("pcaps/*/*.pcap*")) + sorted(DATA.glob("suricata-verify/**/*.pcap"))
    frames = [f for c in captures for f in read_frames(c) if f.linktype == 1]
    tagged = Ether(src=l2.mac(1)) / Dot1Q(vlan=7) / ARP(op=2, hwsrc=l2.mac(1), psrc="192.0.2.1",
                                                        pdst="192.0.2.2")  # fmt: skip
    other = Ether() / ARP(ptype=0x86DD, plen=16)  # not IPv4: no analyzer reads it
    frames += [Frame(1, 1.5, bytes(tagged)), Frame(1, 2.5, bytes(other))]
    with ExitStack() as scapy:
        claims = [p for p in dissect(frames, scapy) if isinstance(p, ArpClaim)]
    expected = []
    for frame in frames:
        arp = Ether(frame.data).getlayer(ARP)
        if arp is not None and (claim := arp_claim(arp.original, frame.ts)) is not None:
            expected.append(claim)
    assert len(expected) > 100 and claims == expected
    assert claims[-1] == ArpClaim(1.5, 2, l2.mac(1), "192.0.2.1", "192.0.2.2")


# -- the offline pass into the store ---------------------------------------------------------------


def test_no_packet_finding_on_the_demo_and_the_benign_corpus(tmp_path: Path) -> None:
    from sensors.analyzers.packet import load_packet_analyzers
    from sensors.capture import analyze_packets
    from sensors.demo import write_demo_capture

    demo = write_demo_capture(tmp_path / "demo.pcap", seed=7).path
    benign = sorted(DATA.glob("suricata-verify/**/*.pcap")) + sorted(
        p for p in DATA.glob("pcaps/*/*.pcap*") if "arp-spoofing" not in p.parts
    )
    assert len(benign) > 100
    fired = {}
    for capture in [demo, *benign]:
        findings = analyze_packets(capture, load_packet_analyzers(AppConfig()))
        if findings:
            fired[capture.name] = [orjson.loads(f)["finding"]["type"] for f in findings]
    assert fired == {}


def test_the_packet_pass_has_a_source_per_analysis_and_stores_once(tmp_path: Path) -> None:
    cfg = AppConfig(data_dir=tmp_path / "data")
    store = open_store(cfg.store_path)
    try:
        first, again, other = RunStats(), RunStats(), RunStats()
        analyze_capture_packets(cfg, store, POISON, b"/runs/a/0", first)
        analyze_capture_packets(cfg, store, POISON, b"/runs/a/0", again)
        analyze_capture_packets(cfg, store, POISON, b"/runs/b/0", other)
        assert (first.findings, first.stored, again.stored, other.stored) == (1, 1, 0, 1)
        assert first.source_ids == again.source_ids != other.source_ids
        (finding,) = store.events(EventQuery(event_type="finding", source_ids=first.source_ids))
        assert finding["src_mac"] == "00:25:b3:bf:91:ee"
        assert orjson.loads(orjson.dumps(finding))["finding"]["type"] == "arp-spoofing"
    finally:
        store.close()


def test_no_packet_analyzer_enabled_means_no_pass(tmp_path: Path) -> None:
    off = {"enabled": False}
    cfg = AppConfig(data_dir=tmp_path / "data",
                    analyzers={"arp_spoof": off, "rogue_dhcp": off, "name_poisoning": off})  # type: ignore[arg-type]  # fmt: skip
    store = open_store(cfg.store_path)
    try:
        stats = RunStats()
        analyze_capture_packets(cfg, store, POISON, b"x", stats)
        assert stats.source_ids == [] and stats.findings == 0
    finally:
        store.close()
