"""Country and AS lookups come from data installed with the package: they work offline,
and every process but the first reads them from a compact cache file."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import appliance.traffic.geo as geo
from appliance.traffic.geo import (
    DATA_FILE,
    NOWHERE,
    GeoDatabase,
    Place,
    cache_dir,
    cache_file,
    package_tables,
)
from appliance.traffic.geo_tables import CompactTables, Lookup, PackageTables
from tests.helpers.cli import REPO

#: Addresses with known places (IPv4, IPv6, private, outside every AS block), and others.
KNOWN = {"8.8.8.8": Place("US", "GOOGLE"), "113.160.0.1": Place("VN", "VNPT Corp"),
         "2402:800::1": Place("VN", "Viettel Group"), "10.1.2.3": NOWHERE,
         "::1": NOWHERE, "::ffff:8.8.8.8": NOWHERE}  # fmt: skip
SAMPLE = ["1.1.1.1", "9.9.9.9", "114.13.116.92", "185.199.108.1", "2001:4860:4860::8888",
          "2606:4700::1111", "2a00:1450:4001::1", "255.255.255.255", "0.0.0.0", "fe80::1",
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", *KNOWN]  # fmt: skip


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("geo-cache")


@pytest.fixture(autouse=True)
def _cache_here(module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This module's databases share one cache of their own, never the user's."""
    monkeypatch.setenv("SPANWATCH_CACHE_DIR", str(module_cache))


@pytest.fixture(scope="module")
def reference() -> PackageTables:
    """The package's own tables: the answers the cache must give."""
    return package_tables()


def _answers(db: Lookup) -> dict[str, Place]:
    found = {}
    for ip in SAMPLE:
        n = geo.address_int(ip)
        assert n is not None
        found[ip] = db.place(*n)
    return found


def _cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


_PROBE = """
import json, socket
from appliance.traffic.geo import GeoDatabase
try:
    socket.create_connection(("192.0.2.1", 80), timeout=1)
    online = True
except OSError:
    online = False
db = GeoDatabase()
print(json.dumps({"online": online, "places": {ip: [p.country, p.asn] for ip, p in
      ((ip, db.lookup(ip)) for ip in ("8.8.8.8", "113.160.0.1", "2402:800::1", "10.1.2.3"))}}))
"""


def test_lookups_work_with_no_network_at_all() -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to run a lookup without a network")
    done = subprocess.run([unshare, "--net", sys.executable, "-c", _PROBE], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["online"] is False  # a namespace with no interface but loopback (down)
    assert result["places"] == {
        "8.8.8.8": ["US", "GOOGLE"],
        "113.160.0.1": ["VN", "VNPT Corp"],
        "2402:800::1": ["VN", "Viettel Group"],
        "10.1.2.3": ["--", ""],
    }


def test_private_reserved_and_malformed_addresses_have_no_place() -> None:
    db = GeoDatabase()
    for ip in ("192.168.1.1", "172.16.0.1", "127.0.0.1", "192.0.2.10", "224.0.0.251",
               "255.255.255.255", "fe80::1", "::1", "not-an-ip", "", "1.2.3"):  # fmt: skip
        assert db.lookup(ip) == NOWHERE, ip


def test_the_as_of_an_address_outside_every_as_block_is_unknown() -> None:
    # The package's own lookup returns the previous block's AS for such addresses.
    db = GeoDatabase()
    place = db.lookup("114.13.116.92")
    assert place.country == "ID"
    assert isinstance(place, Place)


def test_a_broken_data_file_gives_unknown_places_not_an_error() -> None:
    db = GeoDatabase(data_file="no-such-file.dat.gz")
    assert db.lookup("8.8.8.8") == NOWHERE
    assert db.failed


def test_the_first_database_builds_the_cache_and_the_next_only_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: PackageTables
) -> None:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPANWATCH_CACHE_DIR", str(folder))
    first = GeoDatabase()
    assert {ip: first.lookup(ip) for ip in KNOWN} == KNOWN
    source = geo._locate(DATA_FILE)
    assert _cache_files(folder) == [cache_file(source, folder).name]
    version = importlib.metadata.version("geoip2fast")
    assert cache_file(source, folder).name.startswith(f"geo-{version}-geoip2fast-asn-ipv6-")

    def no_package(*args: object, **kwargs: object) -> None:
        raise AssertionError("the package was loaded although the cache was there")

    monkeypatch.setattr(geo, "package_tables", no_package)
    later = GeoDatabase()
    assert _answers(later) == _answers(first) == _answers(reference)
    assert not later.failed
    assert isinstance(later._tables, CompactTables)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_cache_file_is_built_again(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: PackageTables
) -> None:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPANWATCH_CACHE_DIR", str(folder))
    path = cache_file(geo._locate(DATA_FILE), folder)
    CompactTables.of(reference).write(path)
    good = path.read_bytes()
    path.write_bytes({"truncated": good[: len(good) // 2], "garbage": os.urandom(len(good)),
                      "empty": b""}[damage])  # fmt: skip
    db = GeoDatabase()
    assert _answers(db) == _answers(reference)
    assert not db.failed
    assert _answers(CompactTables.read(path)) == _answers(reference)  # a whole file again


def test_a_cache_dir_that_cannot_be_written_still_gives_the_right_places(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    reference: PackageTables,
) -> None:
    caplog.set_level(logging.DEBUG, logger=geo.__name__)
    if os.geteuid() == 0:  # root writes into read-only directories: one that cannot exist
        (tmp_path / "a-file").write_text("")
        folder = tmp_path / "a-file" / "cache"
    else:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
    monkeypatch.setenv("SPANWATCH_CACHE_DIR", str(folder))
    db = GeoDatabase()
    assert _answers(db) == _answers(reference)
    assert not db.failed
    assert not folder.exists() or _cache_files(folder) == []
    assert "Cannot write the country/AS cache" in caplog.text
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG]  # no noise


def test_tables_that_do_not_fit_the_compact_layout_are_used_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: PackageTables
) -> None:
    # The pinned package's tables always fit: only a stand-in can refuse them.
    def refuse(tables: PackageTables) -> CompactTables:
        raise ValueError("does not fit")

    monkeypatch.setenv("SPANWATCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(CompactTables, "of", refuse)
    db = GeoDatabase()
    assert _answers(db) == _answers(reference)
    assert isinstance(db._tables, PackageTables)
    assert _cache_files(tmp_path) == []


def test_a_new_data_file_gets_a_new_cache_file_and_the_old_one_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("SPANWATCH_CACHE_DIR", str(folder))
    source = tmp_path / DATA_FILE
    shutil.copy2(geo._locate(DATA_FILE), source)
    before = cache_file(source, folder)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1))
    after = cache_file(source, folder)
    assert before != after
    before.write_bytes(b"an older package's")
    other = folder / "geo-1.2.2-geoip2fast-asn-7-7-v1.bin"  # another data file's: kept
    other.write_bytes(b"")
    assert GeoDatabase(data_file=str(source)).lookup("8.8.8.8") == KNOWN["8.8.8.8"]
    assert _cache_files(folder) == sorted([after.name, other.name])


def test_the_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPANWATCH_CACHE_DIR", "CACHE_DIRECTORY", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/home/someone")
    assert cache_dir() == Path("/home/someone/.cache/spanwatch")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored, as the spec says
    assert cache_dir() == Path("/home/someone/.cache/spanwatch")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache_dir() == Path("/xdg/spanwatch")
    monkeypatch.setenv("CACHE_DIRECTORY", "/var/cache/spanwatch:/var/cache/other")
    assert cache_dir() == Path("/var/cache/spanwatch")
    monkeypatch.setenv("SPANWATCH_CACHE_DIR", "/srv/cache")
    assert cache_dir() == Path("/srv/cache")
