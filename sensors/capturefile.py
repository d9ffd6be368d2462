"""Checking a capture file before analysis: format, packet count, time span, truncation.

Only record headers are read (about a microsecond per packet), so a bad file is refused
with a clear message before Suricata starts and before anything reaches the store.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import CaptureError

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_PCAPNG_PACKET_BLOCKS = {2, 3, 6}  # obsolete packet, simple packet, enhanced packet


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """What the headers of a capture file say."""

    path: Path
    format: str
    packets: int
    size: int
    first_ts: float | None  # earliest packet time (None: no packet has one)
    last_ts: float | None  # latest packet time


def inspect_capture(path: Path) -> CaptureInfo:
    """Validate ``path`` as a pcap or pcapng file; raise :class:`CaptureError` if it is not."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise CaptureError(f"{path}: not a regular file")
        with open(path, "rb") as fh:
            if size == 0:
                raise CaptureError(f"{path}: the file is empty")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _inspect(path, data, size)
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None


def _inspect(path: Path, data: mmap.mmap, size: int) -> CaptureInfo:
    magic = data[:4]
    if magic in _PCAP_MAGICS:
        return _inspect_pcap(path, data, size)
    if magic == _PCAPNG_SHB:
        return _inspect_pcapng(path, data, size)
    for signature, (kind, how) in _ARCHIVES.items():
        if data[: len(signature)] == signature:
            raise CaptureError(f"{path}: {kind}, not a capture; {how} first (Suricata reads "
                               "pcap and pcapng files only)")  # fmt: skip
    raise CaptureError(f"{path}: not a pcap or pcapng capture (unknown file signature)")


#: Signatures of what captures often come packed in, and how to unpack them.
_ARCHIVES = {
    b"\x1f\x8b": ("gzip-compressed", "decompress it (gunzip)"),
    b"\x28\xb5\x2f\xfd": ("zstd-compressed", "decompress it (unzstd)"),
    b"\xfd7zXZ\x00": ("xz-compressed", "decompress it (unxz)"),
    b"BZh": ("bzip2-compressed", "decompress it (bunzip2)"),
    b"\x04\x22\x4d\x18": ("lz4-compressed", "decompress it (unlz4)"),
    b"PK\x03\x04": ("a zip archive", "extract it (unzip; malware traffic samples often come "
                   "in zips protected by a password such as 'infected')"),
}


def _inspect_pcap(path: Path, data: mmap.mmap, size: int) -> CaptureInfo:
    endian, per_second = _PCAP_MAGICS[data[:4]]
    if size < 24:
        raise CaptureError(f"{path}: truncated pcap file header ({size} bytes)")
    header = struct.Struct(endian + "III").unpack_from  # seconds, fraction, captured length
    pos, packets = 24, 0
    # The time span, as capinfos reports it (captures are not always in time order), kept
    # as (seconds, fraction) pairs in the loop: a float per packet cost a third of it.
    first, last = (1 << 32, 0), (-1, 0)
    while pos < size:
        if pos + 16 > size:
            raise _truncated(path, packets, pos)
        stamp = header(data, pos)
        caplen = stamp[2]
        if caplen > 0x4000000:
            raise CaptureError(f"{path}: corrupt record header after packet {packets} "
                               f"(offset {pos}, length {caplen})")  # fmt: skip
        pos += 16 + caplen
        if pos > size:
            raise _truncated(path, packets, pos - 16 - caplen)
        packets += 1
        if stamp < first:
            first = stamp
        if stamp > last:
            last = stamp
    if packets == 0:
        raise CaptureError(f"{path}: the capture holds no packets")
    return CaptureInfo(path, "pcap", packets, size, first[0] + first[1] / per_second,
                       last[0] + last[1] / per_second)  # fmt: skip


def _inspect_pcapng(path: Path, data: mmap.mmap, size: int) -> CaptureInfo:
    if size < 12:
        raise CaptureError(f"{path}: truncated pcapng section header")
    bom = data[8:12]
    endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else None
    if endian is None:
        raise CaptureError(f"{path}: corrupt pcapng section header (byte-order magic)")
    header = struct.Struct(endian + "II")
    pos, packets = 0, 0
    units: list[float] = []  # seconds per timestamp unit, by interface of the section
    first = last = None
    while pos < size:
        if pos + 12 > size:
            raise _truncated(path, packets, pos)
        block_type, length = header.unpack_from(data, pos)
        if block_type == 0x0A0D0D0A:
            bom = data[pos + 8 : pos + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            header = struct.Struct(endian + "II")
            block_type, length = header.unpack_from(data, pos)
            units = []
        if length < 12 or length % 4:
            raise CaptureError(f"{path}: corrupt pcapng block after packet {packets} "
                               f"(offset {pos}, length {length})")  # fmt: skip
        if pos + length > size:
            raise _truncated(path, packets, pos)
        if block_type == 1:
            units.append(_pcapng_unit(data, pos, length, endian))
        elif block_type in _PCAPNG_PACKET_BLOCKS:
            packets += 1
            if block_type != 3 and length >= 24:  # simple packets carry no time
                if block_type == 6:
                    iface, high, low = struct.unpack_from(endian + "III", data, pos + 8)
                else:  # obsolete packet block: 16-bit interface id and drop count
                    iface, _drops, high, low = struct.unpack_from(endian + "HHII", data, pos + 8)
                unit = units[iface] if iface < len(units) else 1e-6
                ts = ((high << 32) | low) * unit
                first = ts if first is None else min(first, ts)
                last = ts if last is None else max(last, ts)
        pos += length
    if packets == 0:
        raise CaptureError(f"{path}: the capture holds no packets")
    return CaptureInfo(path, "pcapng", packets, size, first, last)


def _pcapng_unit(data: mmap.mmap, pos: int, length: int, endian: str) -> float:
    """Seconds per timestamp unit of an interface description block (``if_tsresol``,
    option 9; microseconds when absent or unreadable)."""
    opt, end = pos + 16, pos + length - 4
    while opt + 4 <= end:
        code, size = struct.unpack_from(endian + "HH", data, opt)
        if code == 0:
            break
        if code == 9 and size >= 1 and opt + 5 <= end:
            value = data[opt + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value
        opt += 4 + (size + 3) // 4 * 4
    return 1e-6


def _truncated(path: Path, packets: int, offset: int) -> CaptureError:
    return CaptureError(
        f"{path}: the capture is truncated after packet {packets} (at byte {offset}); "
        "repair it (e.g. `editcap in out`, `pcapfix`) or cut it at the last whole packet"
    )
