"""ARP spoofing: the real poisoning capture through ``spanwatch analyze``, benign captures
through the packet pass, and each signal on synthetic ARP traffic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from appliance.cli import main as spanwatch_main
from appliance.config import ArpSpoofConfig
from appliance.store import EventQuery, open_store
from sensors.analyzers.arp_spoof import ArpSpoofAnalyzer
from tests.helpers import cli, l2
from tests.helpers.cli import REPO

POISON = cli.testdata_dir() / "pcaps" / "arp-spoofing" / "chrissanders_arppoison.pcapng"
SPOOFER = "00:25:b3:bf:91:ee"
GW, VICTIM, ATTACKER_IP = "192.0.2.1", "192.0.2.10", "192.0.2.66"
GW_MAC, VICTIM_MAC, ATTACKER = l2.mac(1), l2.mac(10), l2.mac(0x66)


def run(frames: list[Any], **cfg: Any) -> list[dict[str, Any]]:
    """The findings, the same whether ARP comes read from its bytes (capture files) or as
    scapy dissected it (live capture)."""
    timed = l2.timed(frames)
    found = []
    for packets in (l2.dissected(timed), l2.sniffed(timed)):
        analyzer = ArpSpoofAnalyzer(ArpSpoofConfig(**cfg))
        analyzer.init()
        out = analyzer.process(packets)
        found.append([orjson.loads(f) for f in out + analyzer.shutdown()])
    assert found[0] == found[1]
    return found[0]


# -- production path -------------------------------------------------------------------------


@pytest.mark.suricata
def test_the_poisoning_capture_names_the_spoofing_mac(
    appliance_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["analyze", "--json", "--config", str(appliance_config), "--rules",
            str(REPO / "config" / "rules"), "--checksum", "none", str(POISON)]  # fmt: skip
    assert spanwatch_main(argv) == 0
    summary = json.loads(capsys.readouterr().out)["captures"][0]
    assert [f for f in summary["findings"] if f["type"] == "arp-spoofing"] == [
        {"type": "arp-spoofing", "category": "credential-access", "severity": 1,
         "src_ip": "172.16.0.105", "dest_ip": "172.16.0.1"}]  # fmt: skip
    data_dir = appliance_config.parent / "data"
    store = open_store(data_dir / "spanwatch.db", readonly=True)
    try:
        (finding,) = store.events(EventQuery(event_type="finding"))
    finally:
        store.close()
    assert finding["src_mac"] == SPOOFER
    evidence = finding["finding"]["evidence"]
    assert evidence["signals"] == ["contradiction"]
    assert evidence["impersonated_ips"] == ["172.16.0.1"]
    assert evidence["poisoned_hosts"] == ["172.16.0.107"]
    assert finding["timestamp"].startswith("2010-07-16T03:39:47.122706")
    assert "172.16.0.1" in finding["finding"]["explanation"]["vi"]


# -- signals ---------------------------------------------------------------------------------


def test_a_mac_claiming_an_address_it_asks_for_is_a_spoofer() -> None:
    (finding,) = run([
        l2.arp(2, ATTACKER, GW, VICTIM, hwdst=VICTIM_MAC, dst=VICTIM_MAC),  # unsolicited
        l2.arp(1, ATTACKER, ATTACKER_IP, GW),  # asks for the address it claimed
    ])  # fmt: skip
    assert (finding["src_ip"], finding["dest_ip"], finding["src_mac"]) == (ATTACKER_IP, GW,
                                                                          ATTACKER)  # fmt: skip
    assert finding["finding"]["severity"] == 1
    assert finding["finding"]["evidence"]["poisoned_hosts"] == [VICTIM]


def test_an_address_flip_flopping_between_two_macs_blames_the_one_with_more_addresses() -> None:
    frames = [
        l2.arp(1, GW_MAC, GW, VICTIM),  # the gateway owns GW
        l2.arp(1, ATTACKER, ATTACKER_IP, "192.0.2.20"),  # the attacker's own address
        l2.arp(2, ATTACKER, GW, VICTIM, hwdst=VICTIM_MAC, dst=VICTIM_MAC),
        l2.arp(1, GW_MAC, GW, "192.0.2.30"),  # the gateway answers again: A, B, A
    ]
    (finding,) = run(frames)
    evidence = finding["finding"]["evidence"]
    assert finding["src_mac"] == ATTACKER and finding["dest_mac"] == GW_MAC
    assert evidence["signals"] == ["flip-flop"]
    assert evidence["legitimate_macs"] == {GW: GW_MAC}


def test_one_change_of_mac_is_a_failover_not_an_attack() -> None:
    frames = [l2.arp(1, l2.mac(2), "192.0.2.5", VICTIM), l2.arp(1, l2.mac(2), "192.0.2.5", GW),
              l2.arp(2, l2.mac(3), "192.0.2.5", "192.0.2.5"),  # the standby takes over
              l2.arp(1, l2.mac(3), "192.0.2.5", VICTIM)]  # fmt: skip
    assert run(frames) == []


def test_a_gateway_named_by_dhcp_changing_mac_is_reported_at_once() -> None:
    frames = [
        l2.dhcp_reply("ack", GW, GW_MAC, VICTIM_MAC, VICTIM, router=GW),
        l2.arp(1, GW_MAC, GW, VICTIM),
        l2.arp(2, ATTACKER, GW, VICTIM, hwdst=VICTIM_MAC, dst=VICTIM_MAC),
    ]
    (finding,) = run(frames)
    assert finding["finding"]["evidence"]["signals"] == ["gateway-takeover"]
    assert (finding["src_mac"], finding["dest_ip"]) == (ATTACKER, GW)
    assert run(frames[1:]) == []  # without the DHCP clue it is one change


def test_a_gratuitous_arp_flood_is_reported_once_per_window() -> None:
    frames = [l2.arp(2, ATTACKER, f"192.0.2.{i % 5 + 100}", f"192.0.2.{i % 5 + 100}")
              for i in range(80)]  # fmt: skip
    analyzer = ArpSpoofAnalyzer(ArpSpoofConfig())
    found = analyzer.process(l2.dissected(l2.timed(frames, step=0.1)))
    assert len(found) == 1
    finding = orjson.loads(found[0])
    assert finding["finding"]["evidence"]["signals"] == ["gratuitous-flood"]
    assert finding["finding"]["severity"] == 2
    assert finding["finding"]["evidence"]["gratuitous_arps"] == 30
    # Announcements at an ordinary pace (RFC 5227: two, seconds apart) are not a flood.
    assert run([l2.arp(1, ATTACKER, "192.0.2.7", "192.0.2.7") for _ in range(5)]) == []


def test_many_addresses_on_one_mac_and_the_allow_list() -> None:
    frames = [l2.arp(2, ATTACKER, f"192.0.2.{i}", VICTIM, hwdst=VICTIM_MAC) for i in range(20)]
    (finding,) = run(frames)
    assert finding["finding"]["evidence"]["signals"] == ["many-addresses"]
    assert run(frames, allowed_macs=[ATTACKER.upper()]) == []
    assert run(frames[:16]) == []  # 16 addresses is the documented limit


def test_probes_broadcasts_and_solicited_replies_claim_nothing() -> None:
    frames = [
        l2.arp(1, VICTIM_MAC, "0.0.0.0", VICTIM),  # RFC 5227 probe
        l2.arp(1, VICTIM_MAC, VICTIM, GW),
        l2.arp(2, GW_MAC, GW, VICTIM, hwdst=VICTIM_MAC, dst=VICTIM_MAC),
        l2.arp(1, GW_MAC, GW, VICTIM),
        l2.arp(2, VICTIM_MAC, VICTIM, GW, hwdst=GW_MAC, dst=GW_MAC),
    ]
    assert run(frames) == []


def test_state_is_forgotten_after_the_window() -> None:
    analyzer = ArpSpoofAnalyzer(ArpSpoofConfig(window_seconds=60))
    first = l2.timed([l2.arp(2, ATTACKER, GW, VICTIM, hwdst=VICTIM_MAC)])
    later = l2.timed([l2.arp(1, ATTACKER, ATTACKER_IP, GW)], start=l2.T0 + 600)
    assert analyzer.process(l2.dissected(first)) == []
    assert analyzer.process(l2.dissected(later)) == []  # the claim fell out of the window
    assert set(analyzer._hosts) == {ATTACKER}
    assert analyzer._bindings.keys() == {ATTACKER_IP}
