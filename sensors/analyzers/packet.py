"""Packet analyzers: sans-IO detectors over layer-2 packets that Suricata's EVE misses.

They get dissected scapy packets (ARP, DHCP, LLMNR, NBT-NS, mDNS: what the capture's
narrow filter lets through, see :mod:`sensors.capture`), not EVE records, so they have a
registry and a set of their own. ARP over Ethernet, most of what passes the filter on a
LAN, comes read straight from its fixed 28 bytes instead (an :class:`ArpClaim`): scapy
takes about 170 µs to dissect one packet. Findings are the same EVE-shaped records as
every other analyzer's. Time is the packets' capture time, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from appliance.config import AppConfig

if TYPE_CHECKING:
    from scapy.packet import Packet

logger = logging.getLogger(__name__)

#: Packet analyzers: the name of their section in ``analyzers:`` -> (module, class).
PACKET_ANALYZERS: dict[str, tuple[str, str]] = {
    "arp_spoof": ("sensors.analyzers.arp_spoof", "ArpSpoofAnalyzer"),
    "rogue_dhcp": ("sensors.analyzers.rogue_dhcp", "RogueDhcpAnalyzer"),
    "name_poisoning": ("sensors.analyzers.name_poisoning", "NamePoisoningAnalyzer"),
}

#: Destination MACs that address no one in particular.
BROADCAST_MACS = frozenset({"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"})

#: An ARP header: hardware and protocol types and lengths, opcode, sender MAC and IP,
#: target MAC and IP.
_ARP_HEAD = struct.Struct("!HHBBH6s4s6s4s")


@dataclass(frozen=True, slots=True)
class ArpClaim:
    """An Ethernet/IPv4 ARP packet: who (MAC, IP) asks for or announces which IP, when."""

    time: float
    op: int
    mac: str  # the sender's hardware address, as aa:bb:cc:dd:ee:ff
    spa: str  # sender IP
    tpa: str  # target IP


def arp_claim(arp: bytes, ts: float) -> ArpClaim | None:
    """The claim in the bytes of an ARP header; None unless it maps IPv4 to Ethernet."""
    if len(arp) < _ARP_HEAD.size:
        return None
    hwtype, ptype, hwlen, plen, op, sha, spa, _tha, tpa = _ARP_HEAD.unpack_from(arp)
    if hwtype != 1 or ptype != 0x0800 or hwlen != 6 or plen != 4:
        return None
    return ArpClaim(ts, op, sha.hex(":"), socket.inet_ntoa(spa), socket.inet_ntoa(tpa))


class PacketAnalyzer(Protocol):
    """A detector over dissected packets; findings are serialized EVE ``finding`` records."""

    name: str

    def init(self) -> None: ...

    def process(self, packets: Sequence[Packet | ArpClaim]) -> list[bytes]: ...

    def shutdown(self) -> list[bytes]: ...


class PacketAnalyzerSet:
    """Runs packet analyzers safely: an exception is logged and counted, never raised."""

    def __init__(self, analyzers: Sequence[PacketAnalyzer]) -> None:
        self.analyzers = list(analyzers)
        self.errors: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.analyzers)

    def init(self) -> None:
        """Initialise every analyzer (a failure here is a bug, so it is raised)."""
        for analyzer in self.analyzers:
            analyzer.init()

    def process(self, packets: Sequence[Packet | ArpClaim]) -> list[bytes]:
        """Findings of every analyzer for this batch (:class:`ArpClaim` items only for those
        whose ``reads_arp_claims`` is true: the others would import scapy for nothing)."""
        findings: list[bytes] = []
        dissected: list[Packet | ArpClaim] | None = None
        for analyzer in self.analyzers:
            batch = packets
            if not getattr(analyzer, "reads_arp_claims", False):
                if dissected is None:
                    dissected = [p for p in packets if not isinstance(p, ArpClaim)]
                batch = dissected
            if batch:
                findings.extend(self._call(analyzer, "process", batch))
        return findings

    def shutdown(self) -> list[bytes]:
        """Findings the analyzers still hold."""
        findings: list[bytes] = []
        for analyzer in self.analyzers:
            findings.extend(self._call(analyzer, "shutdown"))
        return findings

    def _call(self, analyzer: PacketAnalyzer, method: str, *args: Any) -> list[bytes]:
        try:
            return list(getattr(analyzer, method)(*args))
        except Exception:
            logger.exception("Packet analyzer failed: analyzer=%s method=%s.", analyzer.name,
                             method)  # fmt: skip
            self.errors[analyzer.name] = self.errors.get(analyzer.name, 0) + 1
            return []


def load_packet_analyzers(cfg: AppConfig) -> PacketAnalyzerSet:
    """The packet analyzers enabled in the configuration."""
    analyzers: list[PacketAnalyzer] = []
    for name, (module, cls) in PACKET_ANALYZERS.items():
        section = getattr(cfg.analyzers, name)
        if section.enabled:
            analyzers.append(getattr(import_module(module), cls)(section))
    return PacketAnalyzerSet(analyzers)


def eve_timestamp(seconds: float) -> str:
    """A packet's capture time as an EVE timestamp (UTC, microseconds)."""
    when = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def packet_time(packet: Packet) -> float:
    """Capture time of a packet in seconds since the epoch."""
    return float(packet.time)


def capped(items: Any, limit: int = 20) -> list[Any]:
    """The first ``limit`` items, sorted, for evidence lists."""
    return sorted(items)[:limit]


def dhcp_options(packet: Packet) -> dict[str, tuple[Any, ...]]:
    """DHCP options of a packet by scapy's names (``message-type``, ``router``, ...)."""
    from scapy.layers.dhcp import DHCP

    dhcp = packet.getlayer(DHCP)
    if dhcp is None:
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    for option in dhcp.options:
        if isinstance(option, tuple) and len(option) >= 2:
            out.setdefault(str(option[0]), tuple(option[1:]))
    return out
