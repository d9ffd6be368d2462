"""A center and two remote sensors in network namespaces, over a WAN that fails.

Three namespaces the test creates: the center (``spanwatch center``, HTTPS) and two sensor
sites, each joined to the center by its own veth link. Each sensor follows the EVE file
Suricata wrote for a real capture (``spanwatch ingest --follow``, shipping with
``center.remote.url``), enrolled with ``spanwatch sensor enroll`` and approved with
``spanwatch sensors approve``. The EVE files grow in three steps while site A's link is
cut and the center is SIGKILLed and restarted; afterwards the center's store must hold
the union of both files, record for record: nothing missing, nothing twice.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.center.registry import SensorRegistry
from appliance.config import AppConfig, load_config
from appliance.events import decode_line
from appliance.service import Service
from appliance.suricata import command, render
from sensors.analyzers import REGISTRY
from sensors.analyzers.cleartext import redact_credentials
from tests.helpers.center import make_cert
from tests.helpers.cli import REPO, run_spanwatch, spanwatch_argv
from tests.helpers.eve import assert_same_records, canonical, count_stored, stored_records

pytestmark = [pytest.mark.netns, pytest.mark.suricata, pytest.mark.slow]

# A SYN scan (thousands of flows) and an FTP password crack (passwords redacted at the sensor).
CAPTURES = {"site-a": "portscan/chrissanders_synscan.pcapng",
            "site-b": "brute-force/markofu_ftp-crack.pcap"}
LINKS = {"site-a": ("10.97.1.1", "10.97.1.2"), "site-b": ("10.97.2.1", "10.97.2.2")}
PORT = 8444


def _run(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")


def _netns(ns: str, *argv: str | os.PathLike[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *map(str, argv)]


def _wait(ready: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(0.2)
    return value


class Lab:
    """The namespaces, their links and the processes started in them."""

    def __init__(self, root: Path) -> None:
        tag = secrets.token_hex(3)
        self.root = root
        self.center = f"swcc-{tag}"
        self.sites = {name: f"sws{name[-1]}-{tag}" for name in LINKS}
        self.procs: list[subprocess.Popen[bytes]] = []

    def build(self) -> None:
        for ns in (self.center, *self.sites.values()):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        for name, ns in self.sites.items():
            here, there = LINKS[name]
            dev = f"c{name[-1]}"
            _run("ip", "link", "add", dev, "netns", self.center,
                 "type", "veth", "peer", "name", "up0", "netns", ns)  # fmt: skip
            _run("ip", "-n", self.center, "addr", "add", f"{here}/24", "dev", dev)
            _run("ip", "-n", ns, "addr", "add", f"{there}/24", "dev", "up0")
            _run("ip", "-n", self.center, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "up0", "up")

    def link(self, name: str, up: bool) -> None:
        _run("ip", "-n", self.sites[name], "link", "set", "up0", "up" if up else "down")

    def spawn(self, ns: str, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.root / log).open("ab") as out:
            proc = subprocess.Popen(_netns(ns, *argv), stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def teardown(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for ns in (self.center, *self.sites.values()):
            listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in (int(p) for p in listed.stdout.split() if p.isdigit()):
                try:
                    os.kill(pid, signal.SIGKILL)  # only what this test started in its namespace
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    built = Lab(tmp_path)
    try:
        built.build()
        yield built
    finally:
        built.teardown()


def _write_config(path: Path, data: dict[str, Any]) -> Path:
    base = {"networks": {"home": ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]},
            "analyzers": {name: {"enabled": False} for name in REGISTRY},
            "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []}}
    path.write_text(yaml.safe_dump({**base, **data}), encoding="utf-8")
    return path


def _eve_of(capture: Path, out: Path, suricata_bin: str) -> list[bytes]:
    """The EVE lines Suricata writes for ``capture``."""
    cfg = AppConfig.model_validate({"data_dir": str(out)})
    config = render.write_suricata_config(out / "suricata.yaml", cfg, log_dir=out,
                                          rule_files=[REPO / "config" / "rules" / "local.rules"])
    argv = command.offline_argv(suricata_bin, config, capture, out, runmode="single")
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return [line for line in (out / "eve.json").read_bytes().split(b"\n") if line.strip()]


def _expected(lines: list[bytes]) -> Counter[str]:
    """What a sensor stores of these lines (passwords redacted as at every sensor)."""
    return Counter(canonical(redact_credentials(decode_line(line, i)).raw)
                   for i, line in enumerate(lines))  # fmt: skip


def test_two_sites_ship_through_a_cut_link_and_a_killed_center(
    lab: Lab, tmp_path: Path, testdata: Path, suricata_bin: str
) -> None:
    cert, key = make_cert(tmp_path / "tls", *(here for here, _ in LINKS.values()))
    center_yaml = _write_config(tmp_path / "center.yaml", {
        "sensor": {"name": "center"}, "data_dir": str(tmp_path / "center"),
        "center": {"enabled": True, "bind": f"0.0.0.0:{PORT}", "tls_cert": str(cert),
                   "tls_key": str(key), "max_past_days": 0},
    })  # fmt: skip
    center_argv = spanwatch_argv("center", "--config", center_yaml)
    center = lab.spawn(lab.center, center_argv, "center.log")
    lines: dict[str, list[bytes]] = {}
    eves: dict[str, Path] = {}
    site_yaml: dict[str, Path] = {}
    for name, capture in CAPTURES.items():
        lines[name] = _eve_of(testdata / "pcaps" / capture, tmp_path / f"{name}-suricata",
                              suricata_bin)  # fmt: skip
        assert len(lines[name]) > 50
        eves[name] = tmp_path / f"{name}-eve.json"
        eves[name].write_bytes(b"")
        site_yaml[name] = _write_config(tmp_path / f"{name}.yaml", {
            "sensor": {"name": name}, "data_dir": str(tmp_path / name),
            "ingest": {"batch_size": 25},
            "center": {"remote": {"url": f"https://{LINKS[name][0]}:{PORT}", "ca_file": str(cert),
                                  "timeout_seconds": 2, "backoff_max_seconds": 1}},
        })  # fmt: skip
    _wait(lambda: b"Ingest API on port" in (tmp_path / "center.log").read_bytes(), 60, "the center")

    # Enrolment: each sensor asks from its site; the admin approves the printed fingerprint.
    for name, ns in lab.sites.items():
        out = subprocess.run(_netns(ns, *spanwatch_argv("sensor", "enroll", "--config",
                                                        site_yaml[name])),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        fp = re.search(r"fingerprint=(\S+)", out.stdout)
        assert fp is not None and "status=pending" in out.stdout
        done = run_spanwatch("sensors", "approve", name, "--fingerprint", fp.group(1),
                             "--config", center_yaml, "-q")  # fmt: skip
        assert done.returncode == 0, done.stderr

    def feed(part: int) -> None:
        for name, all_lines in lines.items():
            third = len(all_lines) // 3 + 1
            chunk = all_lines[part * third:(part + 1) * third]
            with eves[name].open("ab") as out:
                out.write(b"".join(line + b"\n" for line in chunk))

    for name, ns in lab.sites.items():
        lab.spawn(ns, spanwatch_argv("ingest", "--follow", eves[name], "--config",
                                     site_yaml[name]), f"{name}.log")  # fmt: skip
    feed(0)
    expected_first = sum(len(v) // 3 + 1 for v in lines.values())
    store = tmp_path / "center" / "spanwatch.db"
    _wait(lambda: count_stored(store) >= expected_first, 90, "the first third at the center")

    lab.link("site-a", up=False)  # the WAN link of site A fails
    feed(1)
    time.sleep(3)  # site B ships meanwhile; site A buffers
    center.send_signal(signal.SIGKILL)
    center.wait()
    feed(2)
    time.sleep(2)
    lab.spawn(lab.center, center_argv, "center.log")
    time.sleep(2)
    lab.link("site-a", up=True)

    expected = _expected(lines["site-a"]) + _expected(lines["site-b"])
    total = sum(expected.values())
    _wait(lambda: count_stored(store) >= total, 120, f"{total} records at the center")
    time.sleep(1)  # anything still in flight would be a duplicate: give it the time to land
    assert_same_records(expected, stored_records(store))

    listed = run_spanwatch("sensors", "list", "--json", "--config", center_yaml, "-q")
    assert listed.returncode == 0, listed.stderr
    sensors = {s["name"]: s for s in json.loads(listed.stdout)["sensors"]}
    assert {"site-a", "site-b"} <= set(sensors)
    for name in LINKS:
        assert sensors[name]["kind"] == "remote" and sensors[name]["enrolment"] == "approved"
        assert sensors[name]["last_contact"] is not None
    # Each sensor enrolled with a client certificate, which the center pinned and required.
    for name in LINKS:
        assert (tmp_path / name / "center" / "client.crt").is_file()
    center_cfg = load_config(center_yaml)
    service = Service(center_cfg)
    try:
        registry = SensorRegistry(service.state)
        assert all(registry.pinned_cert(name) for name in LINKS)
    finally:
        service.close()
