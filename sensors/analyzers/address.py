"""Address tests for the flow analyzers: membership in configured networks, group addresses."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

#: Results remembered per address set; flows repeat the same few thousand addresses.
_CACHE_LIMIT = 65_536


class AddressSet:
    """Membership of IP address strings (as Suricata logs them) in a list of CIDRs."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        # (network, mask) as integers: a few hundred ns a test, against microseconds
        # for ipaddress objects.
        self._v4 = [(int(n.network_address), int(n.netmask)) for n in networks if n.version == 4]
        self._v6 = [(int(n.network_address), int(n.netmask)) for n in networks if n.version == 6]
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._v4 or self._v6)

    def __contains__(self, address: object) -> bool:
        if address.__class__ is str:  # the usual case, answered from the cache
            hit = self._cache.get(address)  # type: ignore[call-overload]
            if hit is not None:
                return hit
        if not isinstance(address, str) or not (self._v4 or self._v6):
            return False
        hit = self._cache.get(address)
        if hit is None:
            hit = self._test(address)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[address] = hit
        return hit

    def _test(self, address: str) -> bool:
        parsed = address_value(address)
        return parsed is not None and self.holds(parsed)

    def holds(self, parsed: tuple[int, bool]) -> bool:
        """Membership of an address parsed by :func:`address_value` (no cache)."""
        value, v6 = parsed
        for net, mask in self._v6 if v6 else self._v4:
            if value & mask == net:
                return True
        return False


def address_value(address: str) -> tuple[int, bool] | None:
    """An address as (integer, is IPv6), parsed once for several sets; None if invalid."""
    try:
        if ":" in address:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big"), True
        return int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big"), False
    except (OSError, ValueError):
        return None


#: First three characters of IPv4 multicast addresses (224.0.0.0/4).
_MULTICAST_V4 = frozenset(str(octet) for octet in range(224, 240))


def is_group_address(address: str) -> bool:
    """Multicast or broadcast: traffic to it is not aimed at one host."""
    head = address[:3]
    if head in _MULTICAST_V4:
        return head == address.split(".", 1)[0]  # not e.g. 22.4.x.x
    return address == "255.255.255.255" or head[:2] in ("ff", "FF")
