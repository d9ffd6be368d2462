"""The live sensor's packet analyzers on a SPAN port made of a veth pair in a namespace.

``spanwatch sensor --attach`` (no Suricata of its own; the packet analyzers sniff the
interface with their BPF filter) watches ``b0``; scapy, in the same namespace, sends
spoofed ARP replies and a rogue DHCP server's acknowledgement out of the other end ``a0``,
and both findings must reach the store (ARP is read from its bytes, DHCP by scapy).
The namespace, and everything running in it, is deleted afterwards; no interface of the
machine is touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.store import EventQuery, open_store
from tests.helpers.cli import spanwatch_argv

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ATTACKER, VICTIM_MAC = "02:00:00:00:00:66", "02:00:00:00:00:0a"
GATEWAY, VICTIM, ATTACKER_IP = "192.0.2.1", "192.0.2.10", "192.0.2.66"
FINDING_BUDGET_S = 30.0
#: Poisons the victim's entry for the gateway, then resolves the real gateway (as arpspoof
#: does), every half second until killed.
ROGUE_MAC, ROGUE_IP = "02:00:00:00:00:77", "192.0.2.77"
SPOOFER = f"""
import time
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.sendrecv import sendp
options = [("message-type", "ack"), ("server_id", "{ROGUE_IP}"), ("lease_time", 3600),
           ("subnet_mask", "255.255.255.0"), ("router", "{ROGUE_IP}"), "end"]
frames = [
    Ether(src="{ATTACKER}", dst="{VICTIM_MAC}") / ARP(op=2, hwsrc="{ATTACKER}", psrc="{GATEWAY}",
                                                    hwdst="{VICTIM_MAC}", pdst="{VICTIM}"),
    Ether(src="{ATTACKER}", dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc="{ATTACKER}",
                                                         psrc="{ATTACKER_IP}", pdst="{GATEWAY}"),
    Ether(src="{ROGUE_MAC}", dst="{VICTIM_MAC}") / IP(src="{ROGUE_IP}", dst="{VICTIM}")
    / UDP(sport=67, dport=68) / BOOTP(op=2, yiaddr="{VICTIM}", siaddr="{ROGUE_IP}",
                                      chaddr=bytes.fromhex("{VICTIM_MAC.replace(":", "")}"),
                                      xid=0x1234) / DHCP(options=options),
]
while True:
    sendp(frames, iface="a0", verbose=False)
    time.sleep(0.5)
"""


def _ip(*argv: str) -> None:
    proc = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)} failed: {proc.stderr.strip()}")


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with the veth pair a0 <-> b0, both up; deleted with what runs in it."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.fail("ip (iproute2) is not installed")
    ns = f"swl-{secrets.token_hex(4)}"
    _ip("netns", "add", ns)
    try:
        _ip("-n", ns, "link", "add", "a0", "type", "veth", "peer", "name", "b0")
        for dev in ("lo", "a0", "b0"):
            _ip("-n", ns, "link", "set", dev, "up")
        yield ns
    finally:
        listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in (int(p) for p in listed.stdout.split() if p.isdigit()):
            try:  # only processes this test started inside its own namespace
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _findings(db: Path) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    store = open_store(db, readonly=True)
    try:
        return list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()


def test_spoofed_arp_and_a_rogue_dhcp_server_on_the_span_port_become_findings(
    netns: str, tmp_path: Path
) -> None:
    config = tmp_path / "appliance.yaml"
    config.write_text(yaml.safe_dump({
        "sensor": {"name": "l2-lab"}, "data_dir": str(tmp_path / "data"),
        "interfaces": [{"name": "b0"}], "rules": {"local": [], "sources": []},
        "analyzers": {"rogue_dhcp": {"allowed_servers": [GATEWAY]}},
    }))  # fmt: skip
    db = tmp_path / "data" / "spanwatch.db"
    in_ns = ["ip", "netns", "exec", netns]
    with (tmp_path / "sensor.log").open("wb") as log:
        sensor = subprocess.Popen(
            [*in_ns, *spanwatch_argv("sensor", "--interface", "b0", "--attach", "--config",
                                     config)], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    spoofer = subprocess.Popen([*in_ns, sys.executable, "-c", SPOOFER],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + FINDING_BUDGET_S
        while len(found := _findings(db)) < 2 and time.monotonic() < deadline:
            assert sensor.poll() is None, (tmp_path / "sensor.log").read_text()
            time.sleep(0.2)
    finally:
        _stop(spoofer)
        code = _stop(sensor)
    log_text = (tmp_path / "sensor.log").read_text()
    by_type = {f["finding"]["type"]: f for f in found}
    assert sorted(by_type) == ["arp-spoofing", "rogue-dhcp-server"], (
        f"findings within {FINDING_BUDGET_S:.0f} s: {sorted(by_type)}\n{log_text}")
    assert len(found) == 2
    rogue = by_type["rogue-dhcp-server"]
    assert (rogue["src_mac"], rogue["src_ip"]) == (ROGUE_MAC, ROGUE_IP), rogue
    finding = by_type["arp-spoofing"]
    assert (finding["src_mac"], finding["src_ip"], finding["dest_ip"]) == (ATTACKER, ATTACKER_IP,
                                                                           GATEWAY)  # fmt: skip
    assert finding["finding"]["evidence"]["poisoned_hosts"] == [VICTIM]
    assert code == 0, log_text
    assert "Packet analyzers listening: interface=b0" in log_text
