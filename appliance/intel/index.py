"""Constant-time lookups of indicators, for matching every EVE record.

Exact values (addresses, domains, URLs, hashes, JA3) are dict keys. Networks become a
sorted list of disjoint address intervals, each labelled with its most specific
network, so an address needs one binary search whatever the number of networks.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable

from appliance.intel.indicator import Indicator

_CACHE_MAX = 65536
_HASH_TYPES = ("md5", "sha1", "sha256")


class IndicatorIndex:
    """Indicators by type, ready for matching; the first feed to list a value wins."""

    def __init__(self, indicators: Iterable[Indicator]) -> None:
        self._ips: dict[str, Indicator] = {}
        self._domains: dict[str, Indicator] = {}
        self._urls: dict[str, Indicator] = {}
        self._hashes: dict[str, Indicator] = {}
        self._ja3: dict[str, Indicator] = {}
        self._networks: dict[str, Indicator] = {}
        self.counts: Counter[str] = Counter()
        self.duplicates = 0
        for ind in indicators:
            self._add(ind)
        spans: dict[int, list[tuple[int, int, Indicator]]] = {4: [], 6: []}
        for ind in self._networks.values():
            net = ipaddress.ip_network(ind.value)
            spans[net.version].append((int(net.network_address), int(net.broadcast_address), ind))
        self._ranges = {version: _Ranges(spans[version]) for version in (4, 6)}
        self._ip_cache: dict[str, Indicator | None] = {}

    def _add(self, ind: Indicator) -> None:
        if ind.type == "ip":
            keys, table = _ip_keys(ind.value), self._ips
        elif ind.type == "url":
            keys, table = [url_key(ind.value)], self._urls
        elif ind.type == "cidr":
            keys, table = [ind.value], self._networks
        elif ind.type in _HASH_TYPES:
            keys, table = [ind.value], self._hashes
        else:
            keys, table = [ind.value], self._domains if ind.type == "domain" else self._ja3
        if keys[0] in table:
            self.duplicates += 1
            return
        for key in keys:
            table[key] = ind
        self.counts[ind.type] += 1

    def __len__(self) -> int:
        return sum(self.counts.values())

    @property
    def has_addresses(self) -> bool:
        """Whether any address or network is listed."""
        return bool(self._ips) or bool(self._networks)

    @property
    def has_domains(self) -> bool:
        """Whether any domain is listed."""
        return bool(self._domains)

    @property
    def has_urls(self) -> bool:
        """Whether any URL is listed."""
        return bool(self._urls)

    @property
    def has_hashes(self) -> bool:
        """Whether any file hash is listed."""
        return bool(self._hashes)

    @property
    def has_ja3(self) -> bool:
        """Whether any JA3 fingerprint is listed."""
        return bool(self._ja3)

    def match_ip(self, address: str) -> Indicator | None:
        """The address or most specific network listing ``address`` (EVE's spelling)."""
        try:
            return self._ip_cache[address]  # one lookup for the addresses seen before
        except KeyError:
            pass
        hit = self._ips.get(address)
        if hit is None and self._networks:
            try:
                parsed = ipaddress.ip_address(address)
            except ValueError:
                pass
            else:
                hit = self._ranges[parsed.version].find(int(parsed))
        if len(self._ip_cache) >= _CACHE_MAX:
            self._ip_cache.clear()
        self._ip_cache[address] = hit
        return hit

    def match_domain(self, name: str) -> Indicator | None:
        """The listed domain that is ``name`` or one of its parent domains."""
        name = name.lower().rstrip(".")
        table = self._domains
        hit = table.get(name)
        dot = name.find(".")
        while hit is None and dot >= 0:
            hit = table.get(name[dot + 1 :])
            dot = name.find(".", dot + 1)
        return hit

    def match_url(self, host: str, target: str) -> Indicator | None:
        """The listed URL requested as ``target`` (path and query) on ``host``.

        A URL listed without a query also matches a request with one.
        """
        if target.startswith(("http://", "https://")):  # a proxy's absolute form
            return self._urls.get(url_key(target))
        key = _strip_port(host.lower()) + target
        hit = self._urls.get(key)
        if hit is None and "?" in target:
            hit = self._urls.get(key[: key.index("?")])
        return hit

    def match_hash(self, value: str) -> Indicator | None:
        """The listed MD5, SHA-1 or SHA-256 ``value``."""
        return self._hashes.get(value.lower())

    def match_ja3(self, value: str) -> Indicator | None:
        """The listed JA3 fingerprint ``value``."""
        return self._ja3.get(value.lower())


def url_key(url: str) -> str:
    """``host/path?query`` of a URL: scheme and port do not take part in matching."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    host, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    return _strip_port(host.lower()) + path


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def _ip_keys(value: str) -> list[str]:
    """An address as indicators spell it and as Suricata prints it (IPv6 in full)."""
    address = ipaddress.ip_address(value)
    keys = [str(address)]
    if address.version == 6:
        keys.append(address.exploded)
    return keys


class _Ranges:
    """Disjoint [start, end] intervals labelled with the innermost network."""

    def __init__(self, networks: list[tuple[int, int, Indicator]]) -> None:
        """Split nested networks into disjoint pieces (networks never overlap partly)."""
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.labels: list[Indicator] = []
        stack: list[tuple[int, Indicator]] = []
        pos = 0
        for start, end, ind in sorted(networks, key=lambda n: (n[0], -n[1])):
            while stack and stack[-1][0] < start:
                pos = self._close(stack, pos)
            if stack and pos < start:
                self._add(pos, start - 1, stack[-1][1])
            pos = start
            stack.append((end, ind))
        while stack:
            pos = self._close(stack, pos)

    def _close(self, stack: list[tuple[int, Indicator]], pos: int) -> int:
        end, ind = stack.pop()
        if pos <= end:
            self._add(pos, end, ind)
        return end + 1

    def _add(self, start: int, end: int, ind: Indicator) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.labels.append(ind)

    def find(self, address: int) -> Indicator | None:
        """The innermost network holding ``address``."""
        i = bisect_right(self.starts, address) - 1
        if i >= 0 and address <= self.ends[i]:
            return self.labels[i]
        return None
