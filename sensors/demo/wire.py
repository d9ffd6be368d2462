"""Byte encoders for Ethernet, ARP, IPv4, TCP, UDP and ICMP frames.

The demo capture is built from bytes rather than scapy layers: building a scapy
packet costs about a millisecond here, which would make a few thousand packets
take seconds. The encoders compute real checksums so that any reader accepts them.
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10

BROADCAST_MAC = b"\xff" * 6


@lru_cache(maxsize=4096)
def mac_bytes(text: str) -> bytes:
    """Return the six bytes of a colon-separated MAC address."""
    return bytes(int(part, 16) for part in text.split(":"))


@lru_cache(maxsize=4096)
def ip_bytes(address: str) -> bytes:
    """Return the four bytes of a dotted-quad IPv4 address."""
    return socket.inet_aton(address)


def checksum(data: bytes) -> int:
    """Return the Internet checksum (RFC 1071) of data.

    The ones' complement sum of 16-bit words equals the big-endian integer of the
    data modulo 0xffff, which Python computes in C instead of a per-word loop.
    """
    if len(data) % 2:
        data += b"\x00"
    value = int.from_bytes(data, "big")
    total = value % 0xFFFF
    if total == 0 and value != 0:
        total = 0xFFFF
    return ~total & 0xFFFF


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    """Return an Ethernet II frame."""
    return dst + src + struct.pack("!H", ethertype) + payload


def arp(op: int, sender_mac: bytes, sender_ip: str, target_mac: bytes, target_ip: str) -> bytes:
    """Return an ARP packet for Ethernet/IPv4 (op 1 request, 2 reply)."""
    header = struct.pack("!HHBBH", 1, ETH_IPV4, 6, 4, op)
    return header + sender_mac + ip_bytes(sender_ip) + target_mac + ip_bytes(target_ip)


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int, ttl: int) -> bytes:
    """Return an IPv4 packet with the don't-fragment bit set and a valid checksum."""
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident & 0xFFFF,
        0x4000,
        ttl,
        proto,
        0,
        ip_bytes(src),
        ip_bytes(dst),
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    return ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, length)


def tcp(
    src: str,
    dst: str,
    ports: tuple[int, int],
    seq: int,
    ack: int,
    flags: int,
    *,
    window: int,
    payload: bytes = b"",
    options: bytes = b"",
) -> bytes:
    """Return a TCP segment (header, options and payload) with a valid checksum."""
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    offset = (20 + len(options)) // 4
    header = struct.pack(
        "!HHIIBBHHH",
        ports[0],
        ports[1],
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF if flags & ACK else 0,
        offset << 4,
        flags,
        window,
        0,
        0,
    )
    segment = header + options + payload
    value = checksum(_pseudo_header(src, dst, PROTO_TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", value) + segment[18:]


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """Return a UDP datagram with a valid checksum."""
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    value = checksum(_pseudo_header(src, dst, PROTO_UDP, length) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", value) + datagram[8:]


def icmp_echo(kind: int, ident: int, seq: int, payload: bytes) -> bytes:
    """Return an ICMP echo request (kind 8) or reply (kind 0)."""
    message = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    return message[:2] + struct.pack("!H", checksum(message)) + message[4:]


def tcp_syn_options(*, mss: int = 1460, wscale: int | None = 8, sack: bool = True) -> bytes:
    """Return SYN options in the order Linux sends them (MSS, SACK, window scale)."""
    options = struct.pack("!BBH", 2, 4, mss)
    if sack:
        options += b"\x01\x01\x04\x02"
    if wscale is not None:
        options += struct.pack("!BBBB", 1, 3, 3, wscale)
    return options
