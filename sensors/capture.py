"""Packets for the packet analyzers, live from a SPAN interface or from a capture file.

Only a sliver of the traffic matters to them (ARP, DHCP, LLMNR, NBT-NS, mDNS), so it is
selected before scapy sees it: live by a BPF filter in the kernel, offline by checking
the raw bytes of each record (link type, EtherType, IP protocol, UDP ports) straight from
the mapped file, at under a microsecond per packet. ARP over Ethernet, most of what is
left on a LAN, is read from its fixed 28 bytes; scapy dissects the rest (imported only
when there is some), with its layer list narrowed to what the analyzers read. Findings go
into the store under a source of their own, with ids derived from their content, like EVE
findings.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import select
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config import AppConfig
from appliance.errors import StoreError
from appliance.events import EveDecodeError, EveRecord, decode_line
from appliance.store import EventStore, event_id, open_store
from sensors.analyzers.packet import ArpClaim, PacketAnalyzerSet, arp_claim, load_packet_analyzers
from sensors.eve.reader import fingerprint_of

if TYPE_CHECKING:
    from scapy.packet import Packet

    from sensors.runner import RunStats

logger = logging.getLogger(__name__)

#: What the packet analyzers read: ARP, DHCP, LLMNR, NBT-NS and mDNS.
BPF_FILTER = "arp or (udp and (port 67 or port 68 or port 5355 or port 137 or port 5353))"
UDP_PORTS = frozenset({67, 68, 137, 5353, 5355})
_BATCH = 1024
_MAX_PENDING = 500
#: How often a live capture waiting for frames looks whether it should stop.
_STOP_POLL_S = 0.5
_ARP, _IPV4, _IPV6 = b"\x08\x06", b"\x08\x00", b"\x86\xdd"
_VLANS = frozenset({b"\x81\x00", b"\x88\xa8", b"\x91\x00"})
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
                b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}  # fmt: skip
_PCAPNG_SHB = 0x0A0D0D0A
_ETHERNET, _NULL, _RAW, _SLL, _LOOP, _IPV4_LINK, _IPV6_LINK, _SLL2 = 1, 0, 101, 113, 108, 228, \
    229, 276  # fmt: skip
_filter_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame the packet analyzers want, not yet dissected."""

    linktype: int
    ts: float
    data: bytes


# -- selecting frames on raw bytes ---------------------------------------------------------


def _ethernet_type(frame: bytes) -> tuple[bytes, int]:
    """EtherType of an Ethernet frame (past VLAN tags) and where its payload starts."""
    etype, offset = frame[12:14], 14
    while etype in _VLANS and len(frame) >= offset + 4:
        etype, offset = frame[offset + 2 : offset + 4], offset + 4
    return etype, offset


def wanted(linktype: int, frame: bytes) -> bool:
    """Whether the BPF filter above would pass this frame (any link type scapy dissects)."""
    if linktype == _ETHERNET:
        etype, offset = _ethernet_type(frame)
    elif linktype == _SLL:
        etype, offset = frame[14:16], 16
    elif linktype == _SLL2:
        etype, offset = frame[0:2], 20
    elif linktype in (_NULL, _LOOP) and len(frame) > 4:
        family = max(frame[0], frame[3])  # host byte order: AF_INET 2, AF_INET6 10/24/28/30
        etype, offset = (_IPV4 if family == 2 else _IPV6 if family in (10, 24, 28, 30) else b""), 4
    elif linktype in (_RAW, _IPV4_LINK, _IPV6_LINK) and frame:
        etype, offset = (_IPV4 if frame[0] >> 4 == 4 else _IPV6), 0
    else:
        return False
    return _l3_wanted(etype, frame, offset)


def _l3_wanted(etype: bytes, frame: bytes, offset: int) -> bool:
    if etype == _ARP:
        return True
    if etype == _IPV4 and len(frame) >= offset + 20:
        if frame[offset + 9] != 17 or (frame[offset + 6] & 0x1F or frame[offset + 7]):
            return False  # not UDP, or a later fragment (no ports)
        ports = offset + (frame[offset] & 15) * 4
    elif etype == _IPV6 and len(frame) >= offset + 48:
        if frame[offset + 6] != 17:
            return False
        ports = offset + 40
    else:
        return False
    if len(frame) < ports + 4:
        return False
    return (frame[ports] << 8 | frame[ports + 1]) in UDP_PORTS or (
        frame[ports + 2] << 8 | frame[ports + 3]
    ) in UDP_PORTS


def read_frames(path: Path) -> Iterator[Frame]:
    """The wanted frames of a pcap or pcapng file, in file order."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] in _PCAP_MAGICS:
            yield from _pcap_frames(data)
        elif len(data) >= 12 and int.from_bytes(data[:4], "little") == _PCAPNG_SHB:
            yield from _pcapng_frames(data)
        else:
            logger.warning("%s is neither pcap nor pcapng; no packet analysis.", path)


def _rejected(data: mmap.mmap, start: int, end: int, etype: bytes, next6: int, proto: int) -> bool:
    """Whether an Ethernet frame is surely unwanted, from fields read with its record header."""
    if etype == _IPV4:
        if proto != 17 or end > len(data):
            return True
        udp = start + 14 + (data[start + 14] & 15) * 4
        return udp + 4 > end or not (
            (data[udp] << 8 | data[udp + 1]) in UDP_PORTS
            or (data[udp + 2] << 8 | data[udp + 3]) in UDP_PORTS
        )
    if etype == _IPV6:
        return next6 != 17
    return etype != _ARP and etype not in _VLANS


def _pcap_frames(data: mmap.mmap) -> Iterator[Frame]:
    endian, unit = _PCAP_MAGICS[data[:4]]
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    head = struct.Struct(endian + "IIII").unpack_from
    # Caplen, EtherType, IPv6 next header and IPv4 protocol of an Ethernet frame at once.
    quick = struct.Struct(endian + "8xI16x2s6xB2xB").unpack_from
    size, pos, fast_end = len(data), 24, len(data) - 40 if linktype == _ETHERNET else -1
    while pos <= fast_end:
        caplen, etype, next6, proto = quick(data, pos)
        start, pos = pos + 16, pos + 16 + caplen
        if _rejected(data, start, pos, etype, next6, proto):
            continue
        if pos <= size and wanted(_ETHERNET, frame := data[start:pos]):
            sec, frac = head(data, start - 16)[:2]
            yield Frame(_ETHERNET, sec + frac * unit, frame)
    while pos + 16 <= size:  # the last records, and link types other than Ethernet
        sec, frac, caplen, _ = head(data, pos)
        start, pos = pos + 16, pos + 16 + caplen
        if pos <= size and wanted(linktype, frame := data[start:pos]):
            yield Frame(linktype, sec + frac * unit, frame)


def _pcapng_frames(data: mmap.mmap) -> Iterator[Frame]:
    size, pos, endian = len(data), 0, "<"
    interfaces: list[tuple[int, float, float]] = []  # (link type, time unit, offset)
    # Of an enhanced packet block: length, interface, caplen, EtherType, next header, protocol.
    quick = struct.Struct("<4xII8xI16x2s6xB2xB").unpack_from
    while pos + 12 <= size:
        btype = int.from_bytes(data[pos : pos + 4], "little" if endian == "<" else "big")
        if btype == 6 and pos + 52 <= size:
            length, ifid, caplen, etype, next6, proto = quick(data, pos)
            if (
                ifid < len(interfaces)
                and interfaces[ifid][0] == _ETHERNET
                and 28 + caplen <= length
                and _rejected(data, pos + 28, pos + 28 + caplen, etype, next6, proto)
            ):
                pos += length  # the common case, decided without slicing the frame
                continue
        elif btype == _PCAPNG_SHB:
            endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            quick = struct.Struct(endian + "4xII8xI16x2s6xB2xB").unpack_from
            interfaces = []
        (length,) = struct.unpack_from(endian + "I", data, pos + 4)
        if length < 12 or pos + length > size:
            return  # truncated (inspect_capture has said so)
        if btype == 1:
            interfaces.append(_interface(data, pos, length, endian))
        elif btype in (6, 2):  # enhanced packet, obsolete packet
            ifid, high, low, caplen = struct.unpack_from(
                endian + ("I" if btype == 6 else "H2x") + "III", data, pos + 8
            )
            if ifid < len(interfaces) and 28 + caplen <= length:
                linktype, unit, offset = interfaces[ifid]
                if wanted(linktype, frame := data[pos + 28 : pos + 28 + caplen]):
                    yield Frame(linktype, ((high << 32) | low) * unit + offset, frame)
        pos += length


def _interface(data: mmap.mmap, pos: int, length: int, endian: str) -> tuple[int, float, float]:
    """(link type, seconds per timestamp unit, time offset) of an interface block."""
    linktype = struct.unpack_from(endian + "H", data, pos + 8)[0]
    unit, offset, opt = 1e-6, 0.0, pos + 16
    while opt + 4 <= pos + length - 4:
        code, olen = struct.unpack_from(endian + "HH", data, opt)
        if code == 0:
            break
        if code == 9 and olen >= 1:  # if_tsresol
            value = data[opt + 4]
            unit = 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        elif code == 14 and olen == 8:  # if_tsoffset
            offset = float(struct.unpack_from(endian + "q", data, opt + 4)[0])
        opt += 4 + (olen + 3) // 4 * 4
    return linktype, unit, offset


# -- dissecting ------------------------------------------------------------------------------


def _layers() -> list[Any]:
    """The scapy layers the analyzers read, imported piecemeal (with scapy.layers.l2)."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
    from scapy.layers.llmnr import _LLMNR, LLMNRQuery, LLMNRResponse
    from scapy.layers.netbios import NBNSHeader, NBNSQueryRequest, NBNSQueryResponse

    return [Ether, Dot1Q, Dot1AD, CookedLinux, CookedLinuxV2, Loopback, ARP, IP, IPv6, UDP,
            BOOTP, DHCP, DNS, _LLMNR, LLMNRQuery, LLMNRResponse, NBNSHeader, NBNSQueryRequest,
            NBNSQueryResponse]  # fmt: skip


@contextmanager
def scapy_layers() -> Iterator[None]:
    """Dissect only the analyzers' layers while inside (scapy's ``conf.layers.filter``).

    The filter is process-wide, so it is lifted again on the way out: a process that also
    dissects other traffic with scapy (a test run, a shell) finds scapy as it was.
    """
    from scapy.config import conf

    layers = _layers()
    with _filter_lock:
        owned = not conf.layers.filtered
        if owned:
            conf.layers.filter(layers)
    try:
        yield
    finally:
        if owned:
            with _filter_lock:
                conf.layers.unfilter()


def dissect(frames: Sequence[Frame], scapy: ExitStack) -> list[Packet | ArpClaim]:
    """What the packet analyzers read of ``frames``: ARP over Ethernet as claims read from
    its bytes, the rest as scapy packets with their capture times. Scapy is imported and
    its layers narrowed (:func:`scapy_layers`, entered on ``scapy``) at the first frame
    that needs it: a capture with only ARP never pays the import (over half a second)."""
    out: list[Packet | ArpClaim] = []
    num2layer: Any = None
    for frame in frames:
        data = frame.data
        if frame.linktype == _ETHERNET:
            etype, offset = _ethernet_type(data)
            if etype == _ARP:
                claim = arp_claim(data[offset:], frame.ts)
                if claim is not None:
                    out.append(claim)
                continue  # ARP of other protocols: no analyzer reads it
        if num2layer is None:
            num2layer = _scapy_layers_of(scapy)
        cls = num2layer.get(frame.linktype)
        if cls is None:
            continue
        packet = cls(data)
        packet.time = frame.ts
        out.append(packet)
    return out


def _scapy_layers_of(scapy: ExitStack) -> Any:
    """Scapy's link-layer classes by link type, within :func:`scapy_layers` (entered once)."""
    from scapy.config import conf

    if not conf.layers.filtered:
        scapy.enter_context(scapy_layers())
    return conf.l2types.num2layer


# -- findings into the store -------------------------------------------------------------------


class FindingWriter:
    """Stores packet findings under one source, with content-derived (idempotent) ids."""

    def __init__(self, store: EventStore, sensor: str, fingerprint: bytes, label: str) -> None:
        self.store, self.sensor = store, sensor
        self.source = store.source_id(fingerprint, label)

    def write(self, raws: Sequence[bytes]) -> int:
        """Store findings; returns how many were new."""
        records: list[EveRecord] = []
        base = event_id(self.source, 0)
        for raw in raws:
            offset = int.from_bytes(hashlib.sha256(raw).digest()[:5], "big")
            try:
                records.append(decode_line(raw, base | offset))
            except EveDecodeError:
                logger.exception("A packet analyzer emitted an invalid finding: %r.", raw[:200])
        return self.store.add_events(records, self.sensor) if records else 0


def analyze_packets(path: Path, analyzers: PacketAnalyzerSet) -> list[bytes]:
    """Run the packet analyzers over a capture file; their findings.

    A capture this reader cannot walk costs its packet findings, not the analysis: what
    Suricata made of it stands, and the problem is logged.
    """
    analyzers.init()
    findings: list[bytes] = []
    try:
        frames = read_frames(path)
        with ExitStack() as scapy:
            while batch := list(islice(frames, _BATCH)):
                findings += analyzers.process(dissect(batch, scapy))
    except (OSError, ValueError, struct.error, IndexError):
        logger.exception("Packet analysis of %s stopped early.", path)
    return findings + analyzers.shutdown()


def analyze_capture_packets(cfg: AppConfig, store: EventStore, path: Path, namespace: bytes,
                            stats: RunStats,
                            findings: list[bytes] | None = None) -> None:  # fmt: skip
    """The packet pass of an offline analysis: findings stored, their source in ``stats``.

    The source derives from the analysis (``namespace``) and the capture's path, as the
    EVE findings' source derives from the EVE file's, so it is new for each analysis.
    ``findings`` are those of :func:`analyze_packets` when the caller ran it already (in a
    thread, while Suricata read the capture).
    """
    analyzers = load_packet_analyzers(cfg)
    if not analyzers:
        return
    base = fingerprint_of(b"packets:" + hashlib.sha256(bytes(path.resolve())).digest(), namespace)
    # Named after the analysis (its output folder) too: appliance.runs finds it by that.
    label = f"{namespace.decode('utf-8', 'replace')}#packet-findings:{path}"
    writer = FindingWriter(store, cfg.sensor.name, fingerprint_of(b"findings:" + base), label)
    stats.source_ids.append(writer.source)
    if findings is None:
        findings = analyze_packets(path, analyzers)
    stats.stored += writer.write(findings)
    stats.findings += len(findings)
    if findings:
        logger.info("Packet analyzers: %d findings in %s.", len(findings), path)


# -- live ----------------------------------------------------------------------------------------


class LivePacketCapture:
    """Sniffs the packet analyzers' traffic on one interface and stores their findings.

    The kernel's BPF filter passes what they read; the frames are then read as a capture
    file's are: ARP from its bytes, the rest by scapy.
    """

    def __init__(self, cfg: AppConfig, interface: str, stop: threading.Event) -> None:
        self.cfg, self.iface, self.stop = cfg, interface, stop
        self.analyzers = load_packet_analyzers(cfg)

    def start(self) -> threading.Thread | None:
        """Run in a thread of its own; None when no packet analyzer is enabled."""
        if not self.analyzers:
            return None
        if not Path("/sys/class/net", self.iface).exists():
            # An attached sensor may read the EVE of an interface of another namespace.
            logger.warning("No interface %s here: packet analyzers (ARP, DHCP, name "
                           "poisoning) are off for it.", self.iface)  # fmt: skip
            return None
        thread = threading.Thread(target=self._run, name=f"packets-{self.iface}", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            self.run()
        except Exception:
            logger.exception("Packet analyzers stopped on interface=%s.", self.iface)

    def run(self) -> None:
        """Sniff with the BPF filter until ``stop``; findings are stored batch by batch."""
        from scapy.config import conf

        store = open_store(self.cfg.store_path)
        try:
            name = f"{self.cfg.sensor.name}\0{self.iface}".encode()
            writer = FindingWriter(store, self.cfg.sensor.name,
                                   fingerprint_of(b"findings:" + fingerprint_of(name, b"packets")),
                                   f"{self.iface}#packet-findings")  # fmt: skip
            with scapy_layers():
                sock = conf.L2listen(iface=self.iface, filter=BPF_FILTER)
                logger.info("Packet analyzers listening: interface=%s filter=%r.", self.iface,
                            BPF_FILTER)  # fmt: skip
                try:
                    self._loop(sock, writer)
                finally:
                    sock.close()
        finally:
            store.close()

    def _loop(self, sock: Any, writer: FindingWriter) -> None:
        """Batch by batch (``ingest.batch_seconds``), the frames the filter passed, read as
        a capture file's are (ARP from its bytes, scapy for the rest)."""
        from scapy.config import conf

        self.analyzers.init()
        linktype = conf.l2types.layer2num.get(sock.LL, _ETHERNET)
        seconds = self.cfg.ingest.batch_seconds
        pending: list[bytes] = []
        with ExitStack() as scapy:  # narrowed already (run): never entered again
            while not self.stop.is_set():
                frames = self._receive(sock, linktype, seconds)
                found = self.analyzers.process(dissect(frames, scapy)) if frames else []
                pending = self._store(writer, pending + found)
        self._store(writer, pending + self.analyzers.shutdown())

    def _receive(self, sock: Any, linktype: int, seconds: float) -> list[Frame]:
        """The frames that arrive within ``seconds`` (less once ``stop`` is set)."""
        frames: list[Frame] = []
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], min(left, _STOP_POLL_S))[0]:
                continue
            _cls, data, ts = sock.recv_raw()
            if data is not None:  # None: a frame this host sent
                frames.append(Frame(linktype, float(ts) if ts else time.time(), data))
        return frames

    def _store(self, writer: FindingWriter, findings: list[bytes]) -> list[bytes]:
        """Store findings; what the store refused waits for the next batch (a few hundred)."""
        if not findings:
            return []
        try:
            writer.write(findings)
            return []
        except StoreError as err:
            logger.warning("Packet findings not stored yet (%d waiting): %s", len(findings), err)
            return findings[-_MAX_PENDING:]
