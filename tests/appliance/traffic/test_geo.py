"""Country and AS lookups come from data installed with the package: they work offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from appliance.traffic.geo import NOWHERE, GeoDatabase, Place
from tests.helpers.cli import REPO

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
    assert result["places"] == {"8.8.8.8": ["US", "GOOGLE"], "113.160.0.1": ["VN", "VNPT Corp"],
                                "2402:800::1": ["VN", "Viettel Group"], "10.1.2.3": ["--", ""]}


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
