"""Synthetic layer-2 traffic for the packet analyzers: ARP, DHCP, LLMNR, NBT-NS, mDNS.

Frames are built with scapy (documentation addresses, locally administered MACs) and
either written to a pcap or dissected back through :func:`sensors.capture.dissect`, so
analyzers see exactly what the capture path would hand them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.layers.llmnr import LLMNRResponse
from scapy.layers.netbios import NBNS_ADD_ENTRY, NBNSHeader, NBNSQueryResponse
from scapy.packet import Packet
from scapy.utils import wrpcap

from sensors.analyzers.packet import ArpClaim
from sensors.capture import Frame, dissect, scapy_layers

BROADCAST = "ff:ff:ff:ff:ff:ff"
T0 = 1_700_000_000.0


def mac(n: int) -> str:
    """A locally administered unicast MAC."""
    return f"02:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}"


def arp(op: int, hwsrc: str, psrc: str, pdst: str, *, hwdst: str = "00:00:00:00:00:00",
        dst: str = BROADCAST) -> Packet:  # fmt: skip
    """An Ethernet ARP request (op 1) or reply (op 2)."""
    return Ether(src=hwsrc, dst=dst) / ARP(op=op, hwsrc=hwsrc, psrc=psrc, hwdst=hwdst, pdst=pdst)


def dhcp_reply(kind: str, server: str, server_mac: str, client_mac: str, yiaddr: str, *,
               router: str, dns: str = "192.0.2.53", server_id: str | None = None,
               src: str | None = None) -> Packet:  # fmt: skip
    """A DHCP OFFER or ACK from ``server`` (``src`` differs when a relay forwards it)."""
    options: list[Any] = [("message-type", kind), ("server_id", server_id or server),
                          ("lease_time", 3600), ("subnet_mask", "255.255.255.0"),
                          ("router", router), ("name_server", dns), "end"]  # fmt: skip
    chaddr = bytes.fromhex(client_mac.replace(":", "")) + b"\x00" * 10
    return (Ether(src=server_mac, dst=client_mac) / IP(src=src or server, dst=yiaddr)
            / UDP(sport=67, dport=68)
            / BOOTP(op=2, yiaddr=yiaddr, siaddr=server, chaddr=chaddr, xid=0x1234)
            / DHCP(options=options))  # fmt: skip


def llmnr_answer(src: str, src_mac: str, dst: str, name: str, address: str) -> Packet:
    """An LLMNR response: ``name`` is at ``address``."""
    return (Ether(src=src_mac, dst=mac(0xFFF)) / IP(src=src, dst=dst) / UDP(sport=5355, dport=50000)
            / LLMNRResponse(id=7, qr=1, qd=DNSQR(qname=name),
                            an=DNSRR(rrname=name, type="A", rdata=address, ttl=30)))  # fmt: skip


def nbns_answer(src: str, src_mac: str, dst: str, name: str, address: str, *,
                wins: bool = False) -> Packet:  # fmt: skip
    """An NBT-NS name query response (from a WINS server: recursion available set)."""
    flags = 0x58 if wins else 0x50
    return (Ether(src=src_mac, dst=mac(0xFFF)) / IP(src=src, dst=dst) / UDP(sport=137, dport=137)
            / NBNSHeader(NAME_TRN_ID=9, RESPONSE=1, OPCODE=0, NM_FLAGS=flags, ANCOUNT=1)
            / NBNSQueryResponse(RR_NAME=name.upper(), SUFFIX=0x4141,
                                ADDR_ENTRY=[NBNS_ADD_ENTRY(NB_ADDRESS=address)]))  # fmt: skip


def mdns_answer(src: str, src_mac: str, name: str, address: str) -> Packet:
    """A multicast mDNS response: ``name``.local is at ``address``."""
    return (Ether(src=src_mac, dst="01:00:5e:00:00:fb") / IP(src=src, dst="224.0.0.251")
            / UDP(sport=5353, dport=5353)
            / DNS(qr=1, aa=1, an=DNSRR(rrname=f"{name}.local", type="A", rdata=address,
                                       ttl=120)))  # fmt: skip


def timed(frames: Sequence[Packet], *, start: float = T0, step: float = 1.0) -> list[Packet]:
    """Give frames capture times ``start``, ``start + step``, ..."""
    for i, frame in enumerate(frames):
        frame.time = start + i * step
    return list(frames)


def dissected(frames: Sequence[Packet]) -> list[Packet | ArpClaim]:
    """The frames as the capture path hands them to analyzers (bytes, then dissected:
    ARP as claims read from its bytes, the rest by scapy)."""
    with ExitStack() as scapy:
        return dissect([Frame(1, float(f.time), bytes(f)) for f in frames], scapy)


def sniffed(frames: Sequence[Packet]) -> list[Packet]:
    """The frames as live capture hands them to analyzers (scapy dissects every one)."""
    out: list[Packet] = []
    with scapy_layers():
        for frame in frames:
            packet = Ether(bytes(frame))
            packet.time = frame.time
            out.append(packet)
    return out


def write_pcap(path: Path, frames: Sequence[Packet]) -> Path:
    """Write the frames (with their times) to a pcap file."""
    wrpcap(str(path), list(frames))
    return path
