"""X.509 server certificates: the names a certificate is valid for, and host name matching.

Suricata 7 logs a certificate's subject and issuer as text but not its subject
alternative names (SANs), which are what clients check today (RFC 6125; the CA/Browser
Forum baseline requirements make the SAN mandatory and the common name optional). With
``certificate`` among the EVE tls fields Suricata logs the DER certificate in base64,
and :func:`certificate_names` reads the names from it with a minimal DER walker: only
the structure of tbsCertificate, no signature checks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

_SAN_OID = bytes.fromhex("551d11")  # 2.5.29.17 subjectAltName
_CN_OID = bytes.fromhex("550403")  # 2.5.4.3 commonName
_SEQUENCE, _SET, _OID, _OCTETS, _BOOLEAN = 0x30, 0x31, 0x06, 0x04, 0x01
_VERSION, _EXTENSIONS = 0xA0, 0xA3
_DNS_NAME, _IP_ADDRESS = 0x82, 0x87
_BMP_STRING, _UNIVERSAL_STRING = 0x1E, 0x1C
# A CN value in Suricata's DN text ends at the next ", <attribute>=".
_CN_TEXT = re.compile(r"(?:^|, )CN=(.*?)(?=, [A-Za-z][A-Za-z0-9.]*=|$)")


@dataclass(frozen=True)
class CertificateNames:
    """The names in a certificate, as clients compare them with the server name."""

    common_names: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    #: Issuer and subject are the same name, byte for byte.
    is_self_issued: bool

    def all_names(self) -> list[str]:
        """Every name, SANs first (for evidence)."""
        return [*self.dns_names, *self.ip_addresses, *self.common_names]


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    if pos + 2 > end:
        raise ValueError("truncated DER element")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("DER element overruns its container")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        tag, value_start, value_end = _tlv(data, pos, end)
        yield tag, value_start, value_end
        pos = value_end


def _text(tag: int, value: bytes) -> str:
    if tag == _BMP_STRING:
        return value.decode("utf-16-be", "replace")
    if tag == _UNIVERSAL_STRING:
        return value.decode("utf-32-be", "replace")
    return value.decode("utf-8", "replace")


def _common_names(data: bytes, start: int, end: int) -> list[str]:
    names = []
    for _, rdn_start, rdn_end in _children(data, start, end):  # SET per RDN
        for _, atv_start, atv_end in _children(data, rdn_start, rdn_end):
            parts = list(_children(data, atv_start, atv_end))
            if len(parts) == 2 and parts[0][0] == _OID:
                (_, oid_s, oid_e), (tag, val_s, val_e) = parts
                if data[oid_s:oid_e] == _CN_OID:
                    names.append(_text(tag, data[val_s:val_e]))
    return names


def _alt_names(data: bytes, start: int, end: int) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses of the subjectAltName extension, if there is one."""
    dns: list[str] = []
    ips: list[str] = []
    for _, ext_start, ext_end in _children(data, start, end):
        parts = list(_children(data, ext_start, ext_end))
        if not parts or parts[0][0] != _OID or data[parts[0][1] : parts[0][2]] != _SAN_OID:
            continue
        tag, oct_s, oct_e = parts[-1]
        if tag != _OCTETS:
            raise ValueError("subjectAltName without an OCTET STRING")
        _, seq_s, seq_e = _tlv(data, oct_s, oct_e)
        for name_tag, name_s, name_e in _children(data, seq_s, seq_e):
            if name_tag == _DNS_NAME:
                dns.append(data[name_s:name_e].decode("ascii", "replace"))
            elif name_tag == _IP_ADDRESS and name_e - name_s in (4, 16):
                ips.append(str(ipaddress.ip_address(data[name_s:name_e])))
    return dns, ips


def certificate_names(der: bytes) -> CertificateNames:
    """The names of a DER certificate; raises ValueError when it is not one."""
    _, cert_s, cert_e = _tlv(der, 0, len(der))
    tag, tbs_s, tbs_e = _tlv(der, cert_s, cert_e)
    if tag != _SEQUENCE:
        raise ValueError("not an X.509 certificate")
    fields = list(_children(der, tbs_s, tbs_e))
    if fields and fields[0][0] == _VERSION:
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
    if len(fields) < 6 or fields[2][0] != _SEQUENCE or fields[4][0] != _SEQUENCE:
        raise ValueError("X.509 tbsCertificate has too few fields")
    issuer, subject = fields[2], fields[4]
    dns: list[str] = []
    ips: list[str] = []
    for tag, start, end in fields[6:]:
        if tag == _EXTENSIONS:
            _, seq_s, seq_e = _tlv(der, start, end)
            dns, ips = _alt_names(der, seq_s, seq_e)
    return CertificateNames(
        common_names=tuple(_common_names(der, subject[1], subject[2])),
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
        is_self_issued=der[issuer[1] : issuer[2]] == der[subject[1] : subject[2]],
    )


def common_names_of(dn: str) -> tuple[str, ...]:
    """The CN values of a distinguished name as Suricata writes it ("C=US, O=X, CN=y")."""
    return tuple(match.group(1) for match in _CN_TEXT.finditer(dn))


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if ":" not in value and not value.replace(".", "").isdigit():
        return None  # a host name: the common case, without an exception
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


def _matches_pattern(host: str, pattern: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if pattern == host:
        return True
    # RFC 6125 6.4.3 as browsers apply it: "*" only as the whole left-most label, matching
    # exactly one label, and not directly under a top-level domain ("*.com").
    if not pattern.startswith("*.") or pattern.count(".") < 2:
        return False
    label, dot, rest = host.partition(".")
    return bool(label and dot) and rest == pattern[2:]


def matches_hostname(host: str, names: CertificateNames) -> bool:
    """Whether a client asking for ``host`` (the SNI) accepts a certificate with ``names``.

    DNS names in the SAN take precedence; the common name counts only when the
    certificate has no DNS SAN at all (RFC 6125 6.4.4).
    """
    host = host.rstrip(".").lower()
    address = _ip(host)
    if address is not None:
        by_cn = () if names.dns_names or names.ip_addresses else names.common_names
        return any(_ip(value) == address for value in (*names.ip_addresses, *by_cn))
    candidates = names.dns_names or names.common_names
    return any(_matches_pattern(host, pattern) for pattern in candidates)
