"""The compact tables answer exactly as the package's own tables do, and their file is
read back whole or refused."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appliance.traffic.geo import package_tables
from appliance.traffic.geo_tables import (
    FORMAT,
    MAGIC,
    NOWHERE,
    CompactTables,
    Lookup,
    PackageTables,
    Place,
)

V4_END = 1 << 32


@pytest.fixture(scope="module")
def reference() -> PackageTables:
    return package_tables()


@pytest.fixture(scope="module")
def compact(reference: PackageTables) -> CompactTables:
    return CompactTables.of(reference)


def _answer(tables: Lookup, n: int, bits: int) -> Place | str:
    try:
        return tables.place(n, bits)
    except Exception as error:  # the package's search can fail: the same way, then
        return type(error).__name__


def _entries(table: tuple[Any, Any, Any, Any]) -> list[tuple[int, int]]:
    """(first address, network length) of every network, in order."""
    _, firsts, netlens, _ = table
    return [(f, n) for chunk, lens in zip(firsts, netlens) for f, n in zip(chunk, lens)]


def _neighbourhood(first: int, netlen: int) -> list[tuple[int, int]]:
    """Addresses around a network's two ends, each with the bits of its family (and, below
    2**32, also as a 128-bit address: ::a.b.c.d)."""
    family = 32 if first < V4_END else 128
    end = first + (1 << max(family - netlen, 0))
    probes = []
    for n in (first - 1, first, first + 1, end - 1, end, end + 1):
        if 0 <= n < 1 << 128:
            probes.append((n, 32 if n < V4_END and family == 32 else 128))
            if n < V4_END:
                probes.append((n, 128))
    return probes


def _probes(tables: PackageTables, rng: random.Random) -> list[tuple[int, int]]:
    probes: set[tuple[int, int]] = set()
    for n in (0, 1, 255, V4_END - 1, V4_END, V4_END + 1, (1 << 64) - 1, 1 << 64, (1 << 64) + 1,
              0xFFFF << 32, (0xFFFF << 32) | 0x08080808, 1 << 127, (1 << 128) - 2,
              (1 << 128) - 1):  # fmt: skip
        probes.add((n, 128))
        if n < V4_END:
            probes.add((n, 32))
    for _ in range(2000):
        v4 = rng.getrandbits(32)
        probes |= {(v4, 32), (v4, 128), ((0xFFFF << 32) | v4, 128)}  # also ::a.b.c.d, mapped
        probes.add((rng.getrandbits(128), 128))
        probes.add(((0x2 << 124) | rng.getrandbits(125), 128))  # 2000::/3, where most are
    for table in (tables.cc, tables.asn):
        entries = _entries(table)
        v6 = [i for i, (first, _) in enumerate(entries) if first >= V4_END]
        # Every 199th network, the ends of both parts, and the networks sharing their high
        # 64 bits with a neighbour (where the low half decides).
        sample = {*range(0, len(entries), 199), *range(5), *range(len(entries) - 5, len(entries)),
                  *range(v6[0] - 5, v6[0] + 5)}  # fmt: skip
        sample |= {i for i in v6[1:] if entries[i][0] >> 64 == entries[i - 1][0] >> 64}
        sample |= {i - 1 for i in v6[1:] if entries[i][0] >> 64 == entries[i - 1][0] >> 64}
        for i in sample:
            probes.update(_neighbourhood(*entries[i]))
    return sorted(probes)


def test_the_compact_tables_answer_as_the_package_tables_do(
    reference: PackageTables, compact: CompactTables, tmp_path: Path
) -> None:
    path = tmp_path / "geo.bin"
    compact.write(path)
    read = CompactTables.read(path)
    probes = _probes(reference, random.Random(20261125))
    assert len(probes) > 30_000
    expected = [_answer(reference, n, bits) for n, bits in probes]
    for table in (compact, read):
        wrong = [(hex(n), bits, want, got) for (n, bits), want in zip(probes, expected)
                 if (got := _answer(table, n, bits)) != want]  # fmt: skip
        assert wrong[:10] == []
    assert sum(p != NOWHERE for p in expected) > 10_000  # the probes do find networks
    assert sum(isinstance(p, Place) and p.asn != "" for p in expected) > 10_000


def _module(entries: list[tuple[int, int, int]], chunk: int = 3) -> SimpleNamespace:
    """A package-like module of ``entries`` (first, netlen, country id) in both tables."""
    chunks = [entries[i : i + chunk] for i in range(0, len(entries), chunk)]
    firsts = [[e[0] for e in c] for c in chunks]
    netlens = [[e[1] for e in c] for c in chunks]
    ids = [[e[2] for e in c] for c in chunks]
    specials = [f"{i:02}:special" for i in range(1, 16)] + ["99:not found"]
    return SimpleNamespace(
        mainListNamesCountry=[*specials, "AA:A", "BB:B", "CC:C", "DDD:not a code", "EE:E"],
        mainIndex=[c[0] for c in firsts], mainListFirstIP=firsts, mainListNetlength=netlens,
        mainListIDCountryCodes=ids,
        mainListNamesASN=["IANA.ORG", "AS-ONE", "x" * 200, "AS\nTWO", "AS-FOUR"],
        mainIndexASN=[c[0] for c in firsts], mainListFirstIPASN=firsts,
        mainListNetlengthASN=netlens, mainListIDASN=[[i % 5 for i in c] for c in ids],
    )  # fmt: skip


def _synthetic(variant: str = "both") -> list[tuple[int, int, int]]:
    """Networks where the flat search has its edge cases: IPv6 ones sharing their high 64
    bits (runs of 1, 2 and 5), one at 2**32 exactly (not in "gap": there, addresses from
    2**32 up fall to the last IPv4 network, which holds them as 128-bit addresses), one at
    the very top; "no v4": no network below 2**32."""
    v4 = [(0, 8, 1), (0x01000000, 24, 16), (0x0A000000, 8, 2), (0x7F000000, 8, 17),
          (0xC0A80000, 16, 18), (0xFFFFFF00, 24, 20)]  # fmt: skip
    high = 0x2001_0DB8_0000_0000
    v6 = [(V4_END, 96, 16), (high << 64, 64, 17), ((high + 1) << 64, 80, 18),
          (((high + 1) << 64) | 1 << 40, 80, 19), (((high + 2) << 64) | 5, 128, 5)]  # fmt: skip
    v6 += [(((high + 3) << 64) | i << 56, 72, 16 + i % 4) for i in range(5)]
    v6 += [((1 << 128) - (1 << 64), 64, 17), ((1 << 128) - 1, 128, 18)]
    if variant == "gap":
        v6 = v6[1:]
    return (v4 if variant != "no v4" else []) + v6


@pytest.mark.parametrize("variant", ["both", "no v4", "gap"])
def test_edge_cases_of_the_flat_search_answer_as_the_package_tables_do(
    variant: str, tmp_path: Path
) -> None:
    reference = PackageTables(_module(_synthetic(variant)))
    compact = CompactTables.of(reference)
    compact.write(tmp_path / "geo.bin")
    read = CompactTables.read(tmp_path / "geo.bin")
    rng = random.Random(7)
    probes = {p for first, netlen, _ in _synthetic() for p in _neighbourhood(first, netlen)}
    probes |= {(rng.getrandbits(32), 32) for _ in range(500)}
    probes |= {((0x2001_0DB8_0000_0000 + rng.randrange(5)) << 64 | rng.getrandbits(64), 128)
               for _ in range(500)}  # fmt: skip
    answers = {p: _answer(reference, *p) for p in probes}
    assert {p: _answer(compact, *p) for p in probes} == answers
    assert {p: _answer(read, *p) for p in probes} == answers
    high = 0x2001_0DB8_0000_0000
    assert compact.place((high << 64) | 5, 128) == Place("BB", "x" * 120)  # cut at 120
    assert compact.place(((high + 1) << 64) | 1, 128) == Place("CC", "AS\nTWO")
    assert compact.place((high + 2) << 64 | 5, 128) == NOWHERE  # a special network
    assert compact.place((high + 3) << 64 | 3 << 56, 128) == NOWHERE  # "DDD": not a code
    if variant != "no v4":
        assert compact.place(0xFFFFFF01, 32) == Place("EE", "")  # IANA.ORG: no AS name
        assert compact.place(0x01000001, 32) == Place("AA", "AS-ONE")
    if variant == "gap":
        assert compact.place(V4_END + 1, 128) == Place("EE", "")


@pytest.mark.parametrize("fault", ["unsorted", "chunk off its root", "id without a name"])
def test_tables_a_flat_search_could_misread_are_refused(fault: str) -> None:
    module = _module(_synthetic())
    if fault == "unsorted":
        module.mainListFirstIP[1][0], module.mainListFirstIP[1][1] = (
            module.mainListFirstIP[1][1], module.mainListFirstIP[1][0])  # fmt: skip
        module.mainIndex[1] = module.mainListFirstIP[1][0]
    elif fault == "chunk off its root":
        module.mainIndex[1] -= 1
    else:
        module.mainListIDCountryCodes[0][0] = 99
    with pytest.raises(ValueError):
        CompactTables.of(PackageTables(module))


def _damage(data: bytes, how: str) -> bytes:
    head = struct.calcsize("<8sIII")
    match how:
        case "empty":
            return b""
        case "header cut":
            return data[:20]
        case "truncated":
            return data[: len(data) // 2]
        case "one byte short":
            return data[:-1]
        case "one byte more":
            return data + b"\0"
        case "garbage":
            return random.Random(1).randbytes(len(data))
        case "other magic":
            return b"NOTGEO\r\n" + data[8:]
        case "other format":
            return MAGIC + struct.pack("<I", FORMAT + 1) + data[12:]
        case "a flipped bit":
            middle = head + (len(data) - head) // 2
            return data[:middle] + bytes([data[middle] ^ 4]) + data[middle + 1 :]
        case "ids of another size":
            size = struct.unpack_from("<Q", data, head + 16)[0]
            return data[: head + 16] + struct.pack("<Q", size * 2) + data[head + 24 :]
    raise AssertionError(how)


DAMAGE = ["empty", "header cut", "truncated", "one byte short", "one byte more", "garbage",
          "other magic", "other format", "a flipped bit", "ids of another size"]  # fmt: skip


def test_a_damaged_file_is_refused(compact: CompactTables, tmp_path: Path) -> None:
    path = tmp_path / "geo.bin"
    compact.write(path)
    good = path.read_bytes()
    for how in DAMAGE:
        path.write_bytes(_damage(good, how))
        with pytest.raises(ValueError):
            CompactTables.read(path)
    path.write_bytes(good)
    assert CompactTables.read(path).place(0x08080808, 32) == Place("US", "GOOGLE")


def test_a_write_leaves_no_temporary_file_and_replaces_the_old(
    compact: CompactTables, tmp_path: Path
) -> None:
    path = tmp_path / "sub" / "geo.bin"
    path.parent.mkdir()
    path.write_bytes(b"old")
    compact.write(path)
    assert [p.name for p in path.parent.iterdir()] == ["geo.bin"]
    assert CompactTables.read(path).place(0x08080808, 32) == Place("US", "GOOGLE")
