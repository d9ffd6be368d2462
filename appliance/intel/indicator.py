"""Indicators of compromise: their types, canonical forms and inference from a bare value.

Every parser hands raw strings to :func:`normalize` (or :func:`infer_type` first, when
the feed does not say what an entry is), so an indicator compares equal to what the
sensor sees however the feed spelled it: lower-case names and hashes, no trailing dot,
compressed IP addresses, and URLs as ``scheme://host/path?query``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import get_args
from urllib.parse import urlsplit

from appliance.config import IndicatorType

#: Every indicator type, in display order.
TYPES: tuple[str, ...] = get_args(IndicatorType)
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX_RE = re.compile(r"^[0-9a-f]+$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# A network wider than this covers a whole region of the Internet: a feed error, not an
# indicator (a feed listing 0.0.0.0/0 would otherwise flag every flow).
_MIN_PREFIX = {4: 8, 6: 16}
# Defanged spellings ("evil[.]example[.]com", "hxxp://") that analysts use in reports.
_REFANG = (("[.]", "."), ("(.)", "."), ("{.}", "."), ("[dot]", "."), ("[:]", ":"),
           ("[://]", "://"), ("hxxps://", "https://"), ("hxxp://", "http://"))  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Type names used by feeds (CSV type columns, MISP, OTX) -> our type.
_ALIASES = {
    **{t: t for t in TYPES},
    "ipv4": "ip", "ipv6": "ip", "ip-src": "ip", "ip-dst": "ip", "ipv4-addr": "ip",
    "ipv6-addr": "ip", "ip_address": "ip", "ipaddress": "ip", "address": "ip",
    "network": "cidr", "subnet": "cidr", "netblock": "cidr", "ip-range": "cidr",
    "hostname": "domain", "domain-name": "domain", "fqdn": "domain", "host": "domain",
    "uri": "url", "link-url": "url",
    "filehash-md5": "md5", "hash-md5": "md5", "md5-hash": "md5",
    "sha-1": "sha1", "filehash-sha1": "sha1", "hash-sha1": "sha1",
    "sha-256": "sha256", "filehash-sha256": "sha256", "hash-sha256": "sha256",
    "ja3-fingerprint-md5": "ja3", "ja3-md5": "ja3", "ja3-hash": "ja3",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator of compromise, with the feed (and place in it) it came from."""

    type: str
    value: str
    feed: str
    line: int | None = None
    ref: str | None = None


def type_from_name(name: str) -> str | None:
    """Our type for a feed's type name (``IPv4``, ``ip-dst``, ``FileHash-SHA256``...)."""
    return _ALIASES.get(name.strip().lower().replace(" ", "-"))


def refang(value: str) -> str:
    """``value`` with defanged dots, colons and schemes restored."""
    value = value.strip()
    for old, new in _REFANG:
        if old in value or old.upper() in value:
            value = value.replace(old, new).replace(old.upper(), new)
    return value


def infer_type(value: str) -> str:
    """The type of a bare indicator; ValueError when it is none of ours."""
    value = refang(value)
    try:
        ipaddress.ip_address(value)
        return "ip"
    except ValueError:
        pass
    if _SCHEME_RE.match(value):
        return "url"
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
            return "cidr"
        except ValueError:
            return "url"
    lowered = value.lower()
    if len(lowered) in _HASH_LENGTHS and _HEX_RE.match(lowered):
        return _HASH_LENGTHS[len(lowered)]
    try:
        normalize_domain(value)
        return "domain"
    except ValueError:
        pass
    raise ValueError(f"{_short(value)} is not an IP address, network, domain, URL or hash")


def normalize(kind: str, value: str) -> tuple[str, str]:
    """The canonical (type, value) of an indicator; ValueError says what is wrong.

    The type can change where the value says more than the feed: an ``ip`` entry
    holding ``192.0.2.0/24`` is a network, a ``cidr`` of one address is an address.
    """
    value = refang(value)
    if not value:
        raise ValueError("empty indicator")
    if kind in ("ip", "cidr"):
        return _normalize_address(value)
    if kind == "domain":
        return "domain", normalize_domain(value)
    if kind == "url":
        return "url", _normalize_url(value)
    if kind in ("md5", "sha1", "sha256", "ja3"):
        return kind, _normalize_hex(kind, value)
    raise ValueError(f"unknown indicator type {kind!r}")


def normalize_domain(value: str) -> str:
    """A domain name in lower case, without a trailing dot or a leading ``*.``."""
    name = value.strip().lower().rstrip(".").removeprefix("*.")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as err:
            raise ValueError(f"{_short(value)} is not a valid international domain") from err
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(f"{_short(value)} is not a valid domain name")
    if len(labels) < 2 or labels[-1].isdigit():
        raise ValueError(f"{_short(value)} is not a domain name (it needs a dot and a name)")
    return name


def _normalize_address(value: str) -> tuple[str, str]:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as err:
        raise ValueError(f"{_short(value)} is not an IP address or network") from err
    if network.prefixlen < _MIN_PREFIX[network.version]:
        limit = _MIN_PREFIX[network.version]
        raise ValueError(f"{value} is wider than /{limit}: a feed error, not an indicator")
    address = network.network_address
    if address.is_unspecified or address.is_loopback or address.is_multicast:
        raise ValueError(f"{value} is a loopback, multicast or unspecified address")
    if network.prefixlen == network.max_prefixlen:
        return "ip", str(address)
    return "cidr", str(network)


def _normalize_url(value: str) -> str:
    if not _SCHEME_RE.match(value):
        value = "http://" + value
    try:
        parts = urlsplit(value)
        port = parts.port
        host = parts.hostname or ""
    except ValueError as err:
        raise ValueError(f"{_short(value)} is not a valid URL: {err}") from err
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{_short(value)} is not an http or https URL")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = normalize_domain(host) if host else ""
    if not host:
        raise ValueError(f"{_short(value)} has no host")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


def _normalize_hex(kind: str, value: str) -> str:
    lowered = value.lower()
    want = 32 if kind in ("md5", "ja3") else 40 if kind == "sha1" else 64
    if len(lowered) != want or not _HEX_RE.match(lowered):
        raise ValueError(f"{_short(value)} is not a {kind} hash ({want} hex digits)")
    return lowered


def _short(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")
