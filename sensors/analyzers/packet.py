"""Packet analyzers: sans-IO detectors over layer-2 packets that Suricata's EVE misses.

They get dissected scapy packets (ARP, DHCP, LLMNR, NBT-NS, mDNS: what the capture's
narrow filter lets through, see :mod:`sensors.capture`), not EVE records, so they have a
registry and a set of their own; findings are the same EVE-shaped records as every
other analyzer's. Time is the packets' capture time, never the wall clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
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


class PacketAnalyzer(Protocol):
    """A detector over dissected packets; findings are serialized EVE ``finding`` records."""

    name: str

    def init(self) -> None: ...

    def process(self, packets: Sequence[Packet]) -> list[bytes]: ...

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

    def process(self, packets: Sequence[Packet]) -> list[bytes]:
        """Findings of every analyzer for this batch."""
        findings: list[bytes] = []
        if packets:
            for analyzer in self.analyzers:
                findings.extend(self._call(analyzer, "process", packets))
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
