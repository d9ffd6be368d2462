"""TLS 1.3 handshake records as a browser and a web server send them, crafted as bytes.

Only the cleartext part is real (ClientHello with SNI and ALPN, ServerHello); what
follows is random bytes framed as application-data records, like real ciphertext.
"""

from __future__ import annotations

import random
import struct

CLIENT_CIPHERS = (
    0x1301,
    0x1302,
    0x1303,
    0xC02B,
    0xC02F,
    0xC02C,
    0xC030,
    0xCCA9,
    0xCCA8,
    0xC013,
    0xC014,
    0x009C,
    0x009D,
    0x002F,
    0x0035,
)
SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
X25519 = 0x001D


def _u16_list(values: tuple[int, ...]) -> bytes:
    return struct.pack(f"!H{len(values)}H", 2 * len(values), *values)


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _handshake(kind: int, body: bytes, record_version: int = 0x0301) -> bytes:
    message = bytes([kind]) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 0x16, record_version, len(message)) + message


def _client_extensions(sni: str, key_share: bytes) -> bytes:
    host = sni.encode("ascii")
    server_name = struct.pack("!HBH", len(host) + 3, 0, len(host)) + host
    alpn_names = b"\x02h2\x08http/1.1"
    return b"".join(
        (
            _extension(0x0000, server_name),
            _extension(0x0017, b""),
            _extension(0xFF01, b"\x00"),
            _extension(0x000A, _u16_list((X25519, 0x0017, 0x0018))),
            _extension(0x000B, b"\x01\x00"),
            _extension(0x0023, b""),
            _extension(0x0010, struct.pack("!H", len(alpn_names)) + alpn_names),
            _extension(0x0005, b"\x01\x00\x00\x00\x00"),
            _extension(0x000D, _u16_list(SIGNATURE_ALGORITHMS)),
            _extension(0x0033, struct.pack("!HHH", len(key_share) + 4, X25519, 32) + key_share),
            _extension(0x002D, b"\x01\x01"),
            _extension(0x002B, b"\x04\x03\x04\x03\x03"),
        )
    )


def client_hello(sni: str, session_id: bytes, rng: random.Random) -> bytes:
    """Return a ClientHello record offering TLS 1.3 and 1.2 for server name sni."""
    extensions = _client_extensions(sni, rng.randbytes(32))
    body = (
        struct.pack("!H", 0x0303)
        + rng.randbytes(32)
        + bytes([len(session_id)])
        + session_id
        + _u16_list(CLIENT_CIPHERS)
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    return _handshake(1, body)


def server_hello(session_id: bytes, rng: random.Random) -> bytes:
    """Return a TLS 1.3 ServerHello and the middlebox-compatibility ChangeCipherSpec."""
    extensions = _extension(0x002B, b"\x03\x04") + _extension(
        0x0033, struct.pack("!HH", X25519, 32) + rng.randbytes(32)
    )
    body = (
        struct.pack("!H", 0x0303)
        + rng.randbytes(32)
        + bytes([len(session_id)])
        + session_id
        + struct.pack("!HB", 0x1301, 0)
        + struct.pack("!H", len(extensions))
        + extensions
    )
    return _handshake(2, body, 0x0303) + change_cipher_spec()


def change_cipher_spec() -> bytes:
    """Return the one-byte ChangeCipherSpec record TLS 1.3 peers send for compatibility."""
    return b"\x14\x03\x03\x00\x01\x01"


def application_data(rng: random.Random, *sizes: int) -> bytes:
    """Return application-data records of the given payload sizes filled with random bytes."""
    return b"".join(struct.pack("!BHH", 0x17, 0x0303, size) + rng.randbytes(size) for size in sizes)
