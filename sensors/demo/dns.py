"""DNS message encoders: one question, answers pointing back at it by compression."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from sensors.demo import wire

TYPE_A = 1
TYPE_CNAME = 5
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33

RCODE_NXDOMAIN = 3

# An answer record: its type and its already encoded RDATA.
Record = tuple[int, bytes]


def encode_name(name: str) -> bytes:
    """Return name as DNS labels; raise ValueError for labels that DNS cannot carry."""
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"invalid DNS label {label!r} in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def query(ident: int, name: str, qtype: int) -> bytes:
    """Return a recursive query for name."""
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, 1)


def answer(
    ident: int,
    name: str,
    qtype: int,
    records: Sequence[Record],
    *,
    ttl: int = 300,
    rcode: int = 0,
) -> bytes:
    """Return a response to query(ident, name, qtype) carrying records for name."""
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(records), 0, 0)
    body = encode_name(name) + struct.pack("!HH", qtype, 1)
    for rtype, rdata in records:
        body += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata
    return header + body


def a_record(ip: str) -> Record:
    """Return an A record for ip."""
    return TYPE_A, wire.ip_bytes(ip)


def txt_record(text: str) -> Record:
    """Return a TXT record holding text in strings of at most 255 bytes."""
    raw = text.encode("ascii")
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return TYPE_TXT, b"".join(bytes([len(chunk)]) + chunk for chunk in chunks)
