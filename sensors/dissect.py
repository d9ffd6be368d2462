"""The packets of one alert or finding, dissected by Wireshark (pyshark over tshark).

On demand only (``spanwatch dissect``, the evidence page), never on the live path: tshark
costs milliseconds a packet. The packets come from the capture file an offline analysis
recorded for the event's source, or else from the sensor's pcap ring (Suricata keeps the
packets of alerting flows there). A display filter built from the event's addresses,
ports and time range selects them; each becomes a typed record of layers and fields.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import struct
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ApplianceError, CaptureError
from appliance.events import EveDecodeError, parse_timestamp
from appliance.store import EventQuery, EventStore, source_of
from appliance.suricata.render import PCAP_DIR
from sensors.analyzers.packet import eve_timestamp

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 200
#: Without a better clue, packets this long before and after the event are searched.
_BEFORE_S, _AFTER_S = 300.0, 60.0
#: Findings of the packet analyzers: the protocols their evidence travels in.
_L2_PROTOCOLS = {"arp-spoofing": "arp", "rogue-dhcp-server": "dhcp",
                 "name-poisoning": "llmnr || nbns || mdns"}  # fmt: skip
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,17})$")

FieldValue = int | str | list[int | str]


@dataclass(frozen=True, slots=True)
class Layer:
    """One protocol layer of a packet: Wireshark's field names and their values."""

    name: str
    fields: dict[str, FieldValue]


@dataclass(frozen=True, slots=True)
class DissectedPacket:
    """One packet: its number in its file, capture time, length and layers."""

    file: str
    number: int
    time: str
    length: int
    layers: list[Layer]


@dataclass(slots=True)
class Dissection:
    """The packets of one event, and how they were found."""

    event_id: int
    event_type: str
    display_filter: str
    files: list[str]
    packets: list[DissectedPacket] = field(default_factory=list)
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


def dissect_event(cfg: AppConfig, store: EventStore, event_id: int, *,
                  limit: int = DEFAULT_LIMIT) -> Dissection:  # fmt: skip
    """Dissect the packets of the stored event ``event_id`` (at most ``limit``)."""
    found = list(store.events(EventQuery(event_id=event_id, limit=1)))
    if not found:
        raise ApplianceError(f"No event with id {event_id} in the store.")
    record = found[0]
    since, until = time_range(record)
    flt = display_filter(record, since, until)
    files = packet_files(cfg, store, record, since, until)
    view = Dissection(event_id, str(record.get("event_type")), flt, [str(f) for f in files])
    view.packets, view.truncated = dissect_files(files, flt, limit)
    return view


def time_range(record: dict[str, Any]) -> tuple[float, float]:
    """Seconds since the epoch in which the event's packets were seen."""
    ts = _seconds(record.get("timestamp"))
    if ts is None:
        raise ApplianceError("The event has no valid timestamp.")
    evidence = (record.get("finding") or {}).get("evidence") or {}
    first, last = _seconds(evidence.get("first_seen")), _seconds(evidence.get("last_seen"))
    if first is not None and last is not None:
        return first - 1.0, max(last, ts) + 1.0
    start = _seconds((record.get("flow") or {}).get("start"))
    if start is not None:
        return start - 1.0, ts + _AFTER_S
    return ts - _BEFORE_S, ts + _AFTER_S


def display_filter(record: dict[str, Any], since: float, until: float) -> str:
    """A tshark display filter for the event's packets (only validated values go in)."""
    parts = [f"frame.time_epoch >= {since:.6f}", f"frame.time_epoch <= {until:.6f}"]
    l2 = _L2_PROTOCOLS.get(str((record.get("finding") or {}).get("type")))
    mac = str(record.get("src_mac") or "").lower()
    if l2 is not None:
        if _MAC.match(mac):
            parts.append(f"eth.addr == {mac}")
        return " && ".join([*parts, f"({l2})"])
    for key in ("src_ip", "dest_ip"):
        address = _address(record.get(key))
        if address is not None:
            parts.append(f"{'ipv6' if address.version == 6 else 'ip'}.addr == {address}")
    proto = str(record.get("proto") or "").lower()
    ports = [p for p in (record.get("src_port"), record.get("dest_port")) if _is_port(p)]
    if proto in ("tcp", "udp", "sctp"):
        parts += [f"{proto}.port == {port}" for port in ports] or [proto]
    elif proto in ("icmp", "ipv6-icmp"):
        parts.append("icmp" if proto == "icmp" else "icmpv6")
    return " && ".join(parts)


def packet_files(cfg: AppConfig, store: EventStore, record: dict[str, Any], since: float,
                 until: float) -> list[Path]:  # fmt: skip
    """The analysed capture of the event's source, or the pcap ring files of the range."""
    capture = store.capture_path(source_of(int(record["_id"])))
    if capture is not None:
        if not Path(capture).is_file():
            raise CaptureError(f"{capture}: the analysed capture file is no longer there")
        return [Path(capture)]
    iface = record.get("in_iface")
    if isinstance(iface, str) and iface and "/" not in iface and iface not in (".", ".."):
        dirs = [cfg.sensor_dir(iface) / PCAP_DIR]
    else:
        dirs = sorted((cfg.data_dir / "sensors").glob(f"*/{PCAP_DIR}"))
    files = [f for d in dirs for f in ring_files(d, since, until)]
    if not files:
        raise CaptureError(
            "No packets kept for this event: it comes from no analysed capture, and the pcap "
            "ring (only packets of flows that raised an alert) has no file of its time."
        )
    return files


def ring_files(directory: Path, since: float, until: float) -> list[Path]:
    """Ring files that may hold packets between ``since`` and ``until``, oldest first."""
    starts = sorted((t, f) for f in directory.glob("log.pcap*")
                    if f.is_file() and (t := _first_packet_time(f)) is not None)  # fmt: skip
    out = []
    for i, (start, path) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else math.inf
        if start <= until and end >= since:
            out.append(path)
    return out


def dissect_files(files: Sequence[Path], flt: str, limit: int) -> tuple[list[DissectedPacket],
                                                                         bool]:  # fmt: skip
    """The packets of ``files`` matching ``flt``; and whether ``limit`` cut the list."""
    out: list[DissectedPacket] = []
    for path in files:
        for packet in _tshark_packets(path, flt, limit + 1 - len(out)):
            if len(out) >= limit:
                return out, True
            out.append(_typed_packet(path, packet))
    return out, False


def _tshark_packets(path: Path, flt: str, limit: int) -> list[Any]:
    import pyshark

    packets: list[Any] = []
    with warnings.catch_warnings():
        # pyshark 0.6 uses asyncio child watchers, deprecated from Python 3.12.
        warnings.simplefilter("ignore", DeprecationWarning)
        capture = pyshark.FileCapture(str(path), display_filter=flt, use_json=True,
                                      keep_packets=False, include_raw=False)  # fmt: skip
        try:
            for packet in capture:
                packets.append(packet)
                if len(packets) >= limit:
                    break
        except Exception as err:  # tshark's own failures, reported in its words
            raise CaptureError(f"tshark could not read {path}: {err}") from err
        finally:
            capture.close()
    return packets


def _typed_packet(path: Path, packet: Any) -> DissectedPacket:
    layers = [Layer(str(layer.layer_name), _fields(getattr(layer, "_all_fields", {}) or {}))
              for layer in packet.layers]  # fmt: skip
    return DissectedPacket(
        file=str(path), number=int(packet.number),
        time=eve_timestamp(float(packet.sniff_timestamp)), length=int(packet.length),
        layers=layers,
    )  # fmt: skip


def _fields(tree: dict[str, Any]) -> dict[str, FieldValue]:
    """Wireshark's field tree flattened: a field seen more than once becomes a list."""
    out: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                add(sub_key, sub_value)
        elif isinstance(value, list):
            for item in value:
                add(key, item)
        else:
            typed = _typed(value)
            if key not in out:
                out[key] = typed
            elif isinstance(out[key], list):
                out[key].append(typed)
            else:
                out[key] = [out[key], typed]

    add("", tree)
    return out


def _typed(value: Any) -> int | str:
    text = str(value)
    return int(text) if _NUMBER.match(text) else text


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value) / 1e6
    except EveDecodeError:
        return None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value)) if value else None
    except ValueError:
        return None


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and 0 <= value <= 65535


def _first_packet_time(path: Path) -> float | None:
    """Capture time of the first packet of a pcap file (the ring writes pcap)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(40)
    except OSError:
        return None
    if len(head) < 40 or head[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return None
    sec, frac = struct.unpack_from("<II", head, 24)
    return sec + frac * (1e-9 if head[:4] == b"\x4d\x3c\xb2\xa1" else 1e-6)


def format_dissection(view: Dissection) -> str:
    """The dissection for a terminal: one block a packet, one line a field."""
    lines = [f"Event {view.event_id} ({view.event_type}): {len(view.packets)} packet(s)"
             f"{' (more not shown)' if view.truncated else ''}",
             f"  filter: {view.display_filter}", *[f"  file: {f}" for f in view.files]]  # fmt: skip
    for packet in view.packets:
        lines.append(f"#{packet.number}  {packet.time}  {packet.length} bytes")
        for layer in packet.layers:
            lines.append(f"  {layer.name}")
            for name, value in layer.fields.items():
                lines.append(f"    {name}: {value}")
    return "\n".join(lines)
