"""Country and autonomous system of an address, offline.

The data is GeoLite2-derived (country and ASN, IPv4 and IPv6) as shipped inside the
``geoip2fast`` package from PyPI: installing spanwatch installs it, and nothing is fetched
at run time. Loading takes about 0.4 s and 110 MiB, so it happens once per process, on the
first lookup of a public address.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: The data file inside the package: country and ASN names, IPv4 and IPv6.
DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
#: Country code used for addresses the database does not place (private, reserved).
UNKNOWN = "--"


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is registered: ISO country code (or ``--``) and AS name ("" unknown)."""

    country: str
    asn: str


_NOWHERE = Place(UNKNOWN, "")


class GeoDatabase:
    """Lookups with a bounded cache; thread-safe loading."""

    def __init__(self, data_file: str = DATA_FILE) -> None:
        self._data_file = data_file
        self._reader: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, Place] = {}
        self.failed = False

    def _load(self) -> Any:
        with self._lock:
            if self._reader is None and not self.failed:
                try:
                    from geoip2fast import GeoIP2Fast

                    self._reader = GeoIP2Fast(geoip2fast_data_file=self._data_file)
                except Exception:  # a broken install must not stop ingest
                    logger.exception("Cannot load the country/AS database %s.", self._data_file)
                    self.failed = True
        return self._reader

    def lookup(self, ip: str) -> Place:
        """Country code and AS name of ``ip``; ``--`` and "" for private or unknown ones."""
        found = self._cache.get(ip)
        if found is not None:
            return found
        found = self._resolve(ip)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[ip] = found
        return found

    def _resolve(self, ip: str) -> Place:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return _NOWHERE
        if not address.is_global:
            return _NOWHERE
        reader = self._reader or self._load()
        if reader is None:
            return _NOWHERE
        try:
            result = reader.lookup(ip)
        except Exception:  # the library raises its own error types for odd input
            logger.debug("Country lookup failed for %s.", ip)
            return _NOWHERE
        code = str(getattr(result, "country_code", "") or UNKNOWN)
        if len(code) != 2 or not code.isalpha():
            code = UNKNOWN
        asn = str(getattr(result, "asn_name", "") or "")
        return Place(code.upper(), "" if asn == "IANA.ORG" else asn[:120])


_shared: GeoDatabase | None = None
_shared_lock = threading.Lock()


def shared_database() -> GeoDatabase:
    """The process's one database (the data is read-only, so every caller shares it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GeoDatabase()
        return _shared
