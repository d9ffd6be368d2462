"""The country and AS tables: as the ``geoip2fast`` package holds them, and compact.

The package keeps each table (country, AS) as a root index over chunks of Python lists:
the first address of every network in one sorted sequence of integers (IPv4 and IPv6
alike, IPv6 as 128-bit numbers), its network length and a value id (a name). About 100
MiB of objects. :class:`CompactTables` holds the same sequence as flat arrays of machine
integers (17 MiB), the entries below 2**32 in one and the high and low 64 bits of the
others in two more, searched so as to give exactly the entry the package's search gives;
it writes and reads them as one binary file (see ``appliance.traffic.geo`` for where).
"""

from __future__ import annotations

import bisect
import contextlib
import io
import itertools
import operator
import os
import struct
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: Country code used for addresses the database does not place (private, reserved).
UNKNOWN = "--"
#: The package's first 16 country entries are special, private and reserved networks.
_SPECIAL_COUNTRIES = 16

_V4_END = 1 << 32
_LOW64 = (1 << 64) - 1
#: A 4-byte unsigned array type ("I" nearly everywhere; "L" where "I" is not 4 bytes).
_U32 = "I" if array("I").itemsize == 4 else "L"
_ID_TYPES = {1: "B", 2: "H", 4: _U32}
#: The file: this header, then per table (country, AS) the first addresses below 2**32
#: (4 bytes each), the high and low 64 bits of the others (8 and 8), the network lengths
#: (1), the value ids (1, 2 or 4), where each name ends (4) and the names (UTF-8, one after
#: the other); native byte order. Header: magic, format, byte order, CRC-32 of all that
#: follows, then per table: entries below 2**32, the others, bytes per id, names, bytes
#: of the names.
MAGIC = b"SWGEO\r\n\x1a"
FORMAT = 1
_ORDER = 1 if array("H", [1]).tobytes() == b"\x01\x00" else 2
_HEADER = struct.Struct("<8sIII" + "QQQQQ" * 2)


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is registered: ISO country code (or ``--``) and AS name ("" unknown)."""

    country: str
    asn: str


NOWHERE = Place(UNKNOWN, "")


class Lookup(Protocol):
    def place(self, n: int, bits: int) -> Place: ...


def asn_label(name: Any) -> str:
    """An AS name as places show it: at most 120 characters, IANA's reserved ones none."""
    asn = str(name)[:120]
    return "" if asn == "IANA.ORG" else asn


class PackageTables:
    """The package's two-level sorted tables (a root index, then chunks), read once.

    The source of truth: :class:`CompactTables` is built from these and answers alike.
    """

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
        return Place(code, asn_label(self.asn_names[hit]) if hit is not None else "")


class FlatTable:
    """One table as flat arrays: the networks' first addresses in one sorted sequence,
    split into those below 2**32 (``v4``) and the high and low 64 bits of the others."""

    __slots__ = ("v4", "high", "low", "netlens", "ids")

    def __init__(self, v4: array[int], high: array[int], low: array[int],
                 netlens: array[int], ids: array[int]) -> None:  # fmt: skip
        self.v4, self.high, self.low, self.netlens, self.ids = v4, high, low, netlens, ids

    @classmethod
    def of(cls, table: tuple[Any, Any, Any, Any], names: int) -> FlatTable:
        """A table of :class:`PackageTables` flattened; ValueError if a flat search of it
        could answer otherwise than the two-level one (or it does not fit the arrays)."""
        index, firsts, netlens, ids = (list(part) for part in table)
        if not index or not len(index) == len(firsts) == len(netlens) == len(ids):
            raise ValueError("the root index and the chunks do not match")
        for root, chunk, lens, values in zip(index, firsts, netlens, ids):
            if not chunk or chunk[0] != root or not len(chunk) == len(lens) == len(values):
                raise ValueError("a chunk does not start at its root entry")
        flat = list(itertools.chain.from_iterable(firsts))
        if not all(map(operator.lt, flat, itertools.islice(flat, 1, None))):
            raise ValueError("the first addresses are not strictly increasing")
        if flat[0] < 0 or flat[-1] >> 128:
            raise ValueError("a first address is not a 128-bit number")
        all_ids = list(itertools.chain.from_iterable(ids))
        top = max(all_ids)
        if min(all_ids) < 0 or top >= names:
            raise ValueError("a value id is not a name")
        split = bisect.bisect_left(flat, _V4_END)
        size = next(size for size in _ID_TYPES if top >> (8 * size) == 0)
        return cls(array(_U32, flat[:split]), array("Q", [n >> 64 for n in flat[split:]]),
                   array("Q", [n & _LOW64 for n in flat[split:]]),
                   array("B", itertools.chain.from_iterable(netlens)),
                   array(_ID_TYPES[size], all_ids))  # fmt: skip

    def arrays(self) -> tuple[array[int], ...]:
        return self.v4, self.high, self.low, self.netlens, self.ids

    def find(self, n: int, bits: int) -> int | None:
        """As :meth:`PackageTables._find`: the entry is the one ``bisect_right`` over the
        whole sequence gives (the last below 2**32 when no higher one is at or below)."""
        v4 = self.v4
        if n < _V4_END:
            i = bisect.bisect_right(v4, n) - 1
            if i < 0:
                return None
            first = v4[i]
        else:
            high, top = self.high, n >> 64
            end = bisect.bisect_right(high, top)
            start = end  # the run of entries whose high half is n's: [start, end)
            if end and high[end - 1] == top:
                start = end - 1
                if start and high[start - 1] == top:
                    start = bisect.bisect_left(high, top, 0, start)
            k = bisect.bisect_right(self.low, n & _LOW64, start, end)
            if k:
                i, first = len(v4) + k - 1, high[k - 1] << 64 | self.low[k - 1]
            elif v4:
                i, first = len(v4) - 1, v4[-1]
            else:
                return None
        if n >= first + (1 << (bits - self.netlens[i])):
            return None
        return self.ids[i]


class Names:
    """A table's names, each decoded when first asked for (the AS table has 72,000)."""

    __slots__ = ("blob", "ends", "_decoded")

    def __init__(self, blob: bytes, ends: array[int]) -> None:
        self.blob, self.ends = blob, ends
        self._decoded: dict[int, str] = {}

    @classmethod
    def of(cls, names: list[str]) -> Names:
        encoded = [name.encode("utf-8") for name in names]
        return cls(b"".join(encoded), array(_U32, itertools.accumulate(map(len, encoded))))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> str:
        name = self._decoded.get(i)
        if name is None:
            start = self.ends[i - 1] if i > 0 else 0
            name = self._decoded[i] = self.blob[start : self.ends[i]].decode("utf-8")
        return name


def _read_array(stream: io.BufferedReader, code: str, count: int) -> array[int]:
    values = array(code, [0]) * count
    if stream.readinto(values) != len(values) * values.itemsize:
        raise ValueError("truncated")
    return values


class CompactTables:
    """Both tables as flat arrays, with the names resolved: what the cache file holds."""

    def __init__(self, cc: FlatTable, cc_names: Names, asn: FlatTable,
                 asn_names: Names) -> None:  # fmt: skip
        self.cc, self.cc_names, self.asn, self.asn_names = cc, cc_names, asn, asn_names

    @classmethod
    def of(cls, tables: PackageTables) -> CompactTables:
        """``tables`` converted; ValueError if the result might answer otherwise."""
        cc_names = [code or "" for code in tables.cc_names]  # special ones: "", not placed
        asn_names = [asn_label(name) for name in tables.asn_names]
        return cls(FlatTable.of(tables.cc, len(cc_names)), Names.of(cc_names),
                   FlatTable.of(tables.asn, len(asn_names)), Names.of(asn_names))  # fmt: skip

    def place(self, n: int, bits: int) -> Place:
        found = self.cc.find(n, bits)
        code = self.cc_names[found] if found is not None else ""
        if len(code) != 2:
            return NOWHERE
        hit = self.asn.find(n, bits)
        return Place(code, self.asn_names[hit] if hit is not None else "")

    def write(self, path: Path) -> None:
        """Write the file atomically (a temporary file beside it, then a rename)."""
        shape: list[int] = []
        sections: list[array[int] | bytes] = []
        for table, names in ((self.cc, self.cc_names), (self.asn, self.asn_names)):
            shape += [len(table.v4), len(table.high), table.ids.itemsize, len(names),
                      len(names.blob)]  # fmt: skip
            sections += [*table.arrays(), names.ends, names.blob]
        crc = 0
        for section in sections:
            crc = zlib.crc32(section, crc)
        import tempfile  # only here: it imports shutil and random, 10 ms

        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".geo-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_HEADER.pack(MAGIC, FORMAT, _ORDER, crc, *shape))
                for section in sections:
                    out.write(section)
                out.flush()
                os.fsync(out.fileno())  # whole before it takes the name, even after a crash
            os.chmod(temporary, 0o644)  # public data, for any user sharing the directory
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    @classmethod
    def read(cls, path: Path) -> CompactTables:
        """The tables in a file; ValueError if it is not a whole one of this format."""
        with path.open("rb") as stream:
            head = stream.read(_HEADER.size)
            if len(head) != _HEADER.size:
                raise ValueError("truncated header")
            magic, version, order, crc, *shape = _HEADER.unpack(head)
            if (magic, version, order) != (MAGIC, FORMAT, _ORDER):
                raise ValueError("not a file of this format")
            tables = (shape[:5], shape[5:])
            if any(ids not in _ID_TYPES for _, _, ids, _, _ in tables):
                raise ValueError("bad id size")
            size = sum(4 * v4 + 16 * v6 + (1 + ids) * (v4 + v6) + 4 * count + blob
                       for v4, v6, ids, count, blob in tables)  # fmt: skip
            if os.fstat(stream.fileno()).st_size != _HEADER.size + size:
                raise ValueError("truncated or overlong")
            parts: list[Any] = []
            check = 0
            for v4, v6, ids, count, blob in tables:
                arrays = [_read_array(stream, _U32, v4), _read_array(stream, "Q", v6),
                          _read_array(stream, "Q", v6), _read_array(stream, "B", v4 + v6),
                          _read_array(stream, _ID_TYPES[ids], v4 + v6),
                          _read_array(stream, _U32, count)]  # fmt: skip
                text = stream.read(blob)
                for values in arrays:
                    check = zlib.crc32(values, check)
                check = zlib.crc32(text, check)
                ends = arrays.pop()
                if len(text) != blob or (ends[-1] if ends else 0) != blob:
                    raise ValueError("the names do not end where they should")
                parts += [FlatTable(*arrays), Names(text, ends)]
            if check != crc:
                raise ValueError("checksum mismatch")
        return cls(*parts)
