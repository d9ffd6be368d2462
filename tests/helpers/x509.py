"""Minimal DER X.509 certificates for tests: the structure parsers read, no real signature."""

from __future__ import annotations

import base64
import ipaddress


def der(tag: int, content: bytes) -> bytes:
    """One DER element."""
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _seq(*parts: bytes) -> bytes:
    return der(0x30, b"".join(parts))


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(x) for x in dotted.split("."))
    body = bytearray([40 * first + second])
    for value in rest:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body.extend(reversed(chunk))
    return der(0x06, bytes(body))


def name(**attributes: str) -> bytes:
    """An X.509 Name from attributes C, O, CN (in that order when given)."""
    oids = {"C": "2.5.4.6", "O": "2.5.4.10", "CN": "2.5.4.3"}
    rdns = [
        der(0x31, _seq(_oid(oids[key]), der(0x0C, value.encode())))
        for key, value in attributes.items()
    ]
    return _seq(*rdns)


def certificate(
    *,
    subject: bytes,
    issuer: bytes,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> bytes:
    """A DER certificate with the given names and, when any is given, a SAN extension."""
    algorithm = _seq(_oid("1.2.840.113549.1.1.11"), der(0x05, b""))
    validity = _seq(der(0x17, b"240101000000Z"), der(0x17, b"250101000000Z"))
    key = _seq(_seq(_oid("1.2.840.113549.1.1.1"), der(0x05, b"")), der(0x03, b"\x00\x00"))
    fields = [der(0xA0, der(0x02, b"\x02")), der(0x02, b"\x01\x23"), algorithm, issuer,
              validity, subject, key]  # fmt: skip
    if dns_names or ip_addresses:
        general = [der(0x82, n.encode()) for n in dns_names]
        general += [der(0x87, ipaddress.ip_address(a).packed) for a in ip_addresses]
        san = _seq(_oid("2.5.29.17"), der(0x04, _seq(*general)))
        basic = _seq(_oid("2.5.29.19"), der(0x01, b"\xff"), der(0x04, _seq()))
        fields.append(der(0xA3, _seq(basic, san)))
    return _seq(_seq(*fields), algorithm, der(0x03, b"\x00" + b"\x01" * 16))


def certificate_b64(**kwargs: object) -> str:
    """:func:`certificate` as Suricata logs it in EVE (base64)."""
    return base64.b64encode(certificate(**kwargs)).decode()  # type: ignore[arg-type]
