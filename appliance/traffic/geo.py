"""Country and autonomous system of an address, offline.

The data is GeoLite2-derived (country and AS names, IPv4 and IPv6) as shipped inside the
``geoip2fast`` package from PyPI (pinned): installing spanwatch installs it, and nothing is
fetched at run time. Loading takes about 0.4 s and 110 MiB, so it happens once per
process, on the first lookup. Floods with spoofed sources make every address new, so a
lookup is two binary searches on integers over the package's tables (about 2 µs), with a
bounded cache in front.
"""

from __future__ import annotations

import bisect
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: The data file inside the package: country and ASN names, IPv4 and IPv6.
DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
#: Country code used for addresses the database does not place (private, reserved).
UNKNOWN = "--"
#: The package's first 16 country entries are special, private and reserved networks.
_SPECIAL_COUNTRIES = 16


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is registered: ISO country code (or ``--``) and AS name ("" unknown)."""

    country: str
    asn: str


NOWHERE = Place(UNKNOWN, "")


def address_int(ip: str) -> tuple[int, int] | None:
    """An address as (integer, bits: 32 or 128), None if it is not one."""
    try:
        if ":" in ip:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big"), 128
        if ip.count(".") == 3:
            return int.from_bytes(socket.inet_aton(ip), "big"), 32
    except OSError:
        pass
    return None


class _Tables:
    """The package's two-level sorted tables (a root index, then chunks), read once."""

    def __init__(self, module: Any) -> None:
        names = [n.split(":")[0] for n in module.mainListNamesCountry]
        self.cc_names = [None if i < _SPECIAL_COUNTRIES else n for i, n in enumerate(names)]
        self.cc = (module.mainIndex, module.mainListFirstIP, module.mainListNetlength,
                   module.mainListIDCountryCodes)  # fmt: skip
        self.asn_names = module.mainListNamesASN
        self.asn = (module.mainIndexASN, module.mainListFirstIPASN, module.mainListNetlengthASN,
                    module.mainListIDASN)  # fmt: skip

    @staticmethod
    def _find(table: tuple[Any, Any, Any, Any], n: int, bits: int) -> int | None:
        """The value id of the network holding ``n``, if one does."""
        index, firsts, netlens, ids = table
        root = bisect.bisect_right(index, n) - 1
        if root < 0:
            return None
        chunk = bisect.bisect_right(firsts[root], n) - 1
        if chunk < 0 or n >= firsts[root][chunk] + (1 << (bits - netlens[root][chunk])):
            return None
        return int(ids[root][chunk])

    def place(self, n: int, bits: int) -> Place:
        found = self._find(self.cc, n, bits)
        code = self.cc_names[found] if found is not None else None
        if code is None or len(code) != 2:
            return NOWHERE
        hit = self._find(self.asn, n, bits)
        asn = str(self.asn_names[hit])[:120] if hit is not None else ""
        return Place(code, "" if asn == "IANA.ORG" else asn)


class GeoDatabase:
    """Lookups with a bounded cache; thread-safe loading."""

    def __init__(self, data_file: str = DATA_FILE) -> None:
        self._data_file = data_file
        self._tables: _Tables | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, Place] = {}
        self.failed = False

    def _load(self) -> _Tables | None:
        with self._lock:
            if self._tables is None and not self.failed:
                try:
                    from geoip2fast import GeoIP2Fast
                    from geoip2fast import geoip2fast as module

                    # Its loader runs `ps` twice to report its memory use, which we never
                    # show: tens of milliseconds of every process start that reads traffic.
                    module.get_mem_usage = lambda: 0.0
                    GeoIP2Fast(geoip2fast_data_file=self._data_file)
                    self._tables = _Tables(module)
                except Exception:  # a broken install must not stop ingest
                    logger.exception("Cannot load the country/AS database %s.", self._data_file)
                    self.failed = True
        return self._tables

    def place(self, n: int, bits: int) -> Place:
        """:meth:`lookup` of an address as an integer of ``bits`` bits, uncached."""
        tables = self._tables or self._load()
        return NOWHERE if tables is None else tables.place(n, bits)

    def lookup(self, ip: str) -> Place:
        """Country code and AS name of ``ip``; ``--`` and "" for private or unknown ones."""
        found = self._cache.get(ip)
        if found is None:
            n = address_int(ip)
            found = NOWHERE if n is None else self.place(*n)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[ip] = found
        return found


_shared: GeoDatabase | None = None
_shared_lock = threading.Lock()


def shared_database() -> GeoDatabase:
    """The process's one database (the data is read-only, so every caller shares it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GeoDatabase()
        return _shared
