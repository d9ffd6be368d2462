"""Country and autonomous system of an address, offline.

The data is GeoLite2-derived (country and AS names, IPv4 and IPv6) as shipped inside the
``geoip2fast`` package from PyPI (pinned): installing spanwatch installs it, and nothing is
fetched at run time. The package's own loader unpickles big lists of Python integers (0.3 s
of CPU and 110 MiB), so the first process to need the data converts its tables into a
cache file of flat machine integers (see :mod:`appliance.traffic.geo_tables`; about 1 s
and 160 MiB at peak, once), and every later process reads that file in about 20 ms, for a
process of about 33 MiB in all (15 MiB of it Python and this module's imports). The file's
name carries the package's version and the data file's size and time, so an upgrade builds
a new one; it lives in ``$SPANWATCH_CACHE_DIR``, else in systemd's ``$CACHE_DIRECTORY``
(``CacheDirectory=`` of the units), else in ``$XDG_CACHE_HOME/spanwatch`` or
``~/.cache/spanwatch``. A file that is missing, damaged or of another format is built again;
one that cannot be written leaves the process with the tables it built. Floods with spoofed
sources make every address new, so a lookup is binary searches on integers (about 3 µs),
with a bounded cache in front.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import socket
import threading
from pathlib import Path

from appliance.paths import cache_dir
from appliance.traffic.geo_tables import (
    FORMAT,
    NOWHERE,
    UNKNOWN,
    CompactTables,
    Lookup,
    PackageTables,
    Place,
)

__all__ = ["DATA_FILE", "NOWHERE", "UNKNOWN", "GeoDatabase", "Place", "address_int",
           "cache_dir", "cache_file", "package_tables", "shared_database"]  # fmt: skip

logger = logging.getLogger(__name__)

#: The data file inside the package: country and ASN names, IPv4 and IPv6.
DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
_PACKAGE = "geoip2fast"
#: The package's module globals that hold the tables (let go once they are converted).
_PACKAGE_LISTS = ("mainIndex", "mainListFirstIP", "mainListNetlength", "mainListIDCountryCodes",
                  "mainListNamesCountry", "mainIndexASN", "mainListFirstIPASN",
                  "mainListNetlengthASN", "mainListIDASN", "mainListNamesASN")  # fmt: skip


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


def _package_dir() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)  # finds it without running it
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the {_PACKAGE} package is not installed")
    return Path(spec.origin).parent


def _locate(data_file: str) -> Path:
    """The data file, as the package looks for it: the path, else that name in the working
    directory, else in the package."""
    if os.path.isfile(data_file):
        return Path(data_file).resolve()
    if "/" not in data_file:
        for folder in (Path.cwd(), _package_dir()):
            if (folder / data_file).is_file():
                return folder / data_file
    raise FileNotFoundError(f"no data file {data_file}")


def _package_version() -> str:
    """From the name of its ``.dist-info`` (importlib.metadata takes 5-50 ms to find it)."""
    with contextlib.suppress(OSError, ModuleNotFoundError):
        with os.scandir(_package_dir().parent) as entries:
            for entry in entries:
                name, _, rest = entry.name.partition("-")
                if name == _PACKAGE and rest.endswith(".dist-info"):
                    return re.sub(r"[^\w.+]", "_", rest.removesuffix(".dist-info"))
    return "unknown"


def _stem(source: Path) -> str:
    return re.sub(r"[^\w.+-]", "_", source.name.removesuffix(".gz").removesuffix(".dat"))


def cache_file(source: Path, folder: Path) -> Path:
    """The cache file of the data file ``source``: a new package or data file, a new name."""
    stat = source.stat()
    name = f"{_package_version()}-{_stem(source)}-{stat.st_size}-{stat.st_mtime_ns}"
    return folder / f"geo-{name}-v{FORMAT}.bin"


def _prune(path: Path, source: Path) -> None:
    """Delete the cache files of ``source`` that ``path`` replaces (older packages' ones)."""
    pattern = re.compile(rf"geo-[^-]+-{re.escape(_stem(source))}-\d+-\d+-v\d+\.bin")
    for old in path.parent.iterdir():
        if old.name != path.name and pattern.fullmatch(old.name):
            with contextlib.suppress(OSError):
                old.unlink()


_package_lock = threading.Lock()


def package_tables(data_file: str = DATA_FILE, *, release: bool = False) -> PackageTables:
    """The package's own tables, read by its loader (the slow path: about 0.5 s; the
    reference the cache must agree with); with ``release``, the package lets go of them
    (they stay in the result)."""
    from geoip2fast import GeoIP2Fast
    from geoip2fast import geoip2fast as module

    # Its loader runs `ps` twice to report its memory use, which we never show: tens of
    # milliseconds of every build.
    module.get_mem_usage = lambda: 0.0
    GeoIP2Fast(geoip2fast_data_file=str(_locate(data_file)))
    tables = PackageTables(module)
    if release:  # nothing else here uses the package: its lists go with ``tables``
        for name in _PACKAGE_LISTS:
            if hasattr(module, name):
                setattr(module, name, [])
    return tables


def _build(source: Path) -> Lookup:
    # One at a time: the package keeps its tables in module globals.
    with _package_lock:
        tables = package_tables(str(source), release=True)
    try:
        return CompactTables.of(tables)
    except Exception:
        logger.warning("The country/AS tables do not fit the compact layout; using them "
                       "as they are.", exc_info=True)  # fmt: skip
        return tables


def _open(data_file: str) -> Lookup:
    """The tables of ``data_file``: from the cache, else built (and cached if possible)."""
    source = _locate(data_file)
    folder = cache_dir()
    path = cache_file(source, folder) if folder is not None else None
    if path is not None:
        try:
            return CompactTables.read(path)
        except FileNotFoundError:
            logger.debug("No country/AS cache %s yet: building it.", path)
        except Exception as error:  # damaged, cut short, another format: build it again
            logger.debug("Rebuilding the country/AS cache %s: %s", path, error)
    tables = _build(source)
    if path is not None and isinstance(tables, CompactTables):
        try:
            tables.write(path)
        except OSError as error:  # a read-only or missing directory: no cache, no harm
            logger.debug("Cannot write the country/AS cache %s (%s): using the tables "
                         "in memory.", path, error)  # fmt: skip
        except Exception:
            logger.warning("Cannot write the country/AS cache %s.", path, exc_info=True)
        else:
            _prune(path, source)
    return tables


class GeoDatabase:
    """Lookups with a bounded cache; thread-safe loading."""

    def __init__(self, data_file: str = DATA_FILE) -> None:
        self._data_file = data_file
        self._tables: Lookup | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, Place] = {}
        self.failed = False

    def _load(self) -> Lookup | None:
        with self._lock:
            if self._tables is None and not self.failed:
                try:
                    self._tables = _open(self._data_file)
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
