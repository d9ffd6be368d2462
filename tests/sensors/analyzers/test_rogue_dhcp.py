"""Rogue DHCP servers: a second server answering through ``spanwatch analyze``, the
allow-list, relayed answers and repeats on synthetic DHCP traffic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from appliance.cli import main as spanwatch_main
from appliance.config import RogueDhcpConfig
from sensors.analyzers.rogue_dhcp import RogueDhcpAnalyzer
from tests.helpers import l2
from tests.helpers.cli import REPO

SERVER, SERVER_MAC = "192.0.2.2", l2.mac(2)
ROGUE, ROGUE_MAC = "192.0.2.200", l2.mac(0x200)
CLIENT_MAC = l2.mac(0x10)


def offers() -> list[Any]:
    """The real server answers two clients, then a rogue answers one with its own gateway."""
    return [
        l2.dhcp_reply("offer", SERVER, SERVER_MAC, CLIENT_MAC, "192.0.2.10", router="192.0.2.1"),
        l2.dhcp_reply("ack", SERVER, SERVER_MAC, CLIENT_MAC, "192.0.2.10", router="192.0.2.1"),
        l2.dhcp_reply("offer", ROGUE, ROGUE_MAC, l2.mac(0x11), "192.0.2.11", router=ROGUE,
                      dns=ROGUE),  # fmt: skip
        l2.dhcp_reply("ack", ROGUE, ROGUE_MAC, l2.mac(0x11), "192.0.2.11", router=ROGUE,
                      dns=ROGUE),  # fmt: skip
    ]


def run(frames: list[Any], **cfg: Any) -> list[dict[str, Any]]:
    analyzer = RogueDhcpAnalyzer(RogueDhcpConfig(**cfg))
    analyzer.init()
    out = analyzer.process(l2.dissected(l2.timed(frames)))
    return [orjson.loads(f) for f in out + analyzer.shutdown()]


@pytest.mark.suricata
def test_a_second_dhcp_server_is_reported_through_analyze(
    tmp_path: Path, appliance_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = l2.write_pcap(tmp_path / "dhcp.pcap", l2.timed(offers()))
    argv = ["analyze", "--json", "--config", str(appliance_config), "--rules",
            str(REPO / "config" / "rules"), "--checksum", "none", str(capture)]  # fmt: skip
    assert spanwatch_main(argv) == 0
    findings = json.loads(capsys.readouterr().out)["captures"][0]["findings"]
    assert findings == [{"type": "rogue-dhcp-server", "category": "credential-access",
                         "severity": 1, "src_ip": ROGUE, "dest_ip": "192.0.2.11"}]  # fmt: skip
    # The same capture with the rogue allowed: nothing to report.
    data = yaml.safe_load(appliance_config.read_text())
    data["analyzers"] = {"rogue_dhcp": {"allowed_servers": [SERVER, ROGUE_MAC]}}
    appliance_config.write_text(yaml.safe_dump(data))
    assert spanwatch_main(argv) == 0
    assert json.loads(capsys.readouterr().out)["captures"][0]["findings"] == []


def test_the_finding_names_server_clients_and_what_it_handed_out() -> None:
    (finding,) = run(offers())
    assert (finding["src_mac"], finding["dest_mac"]) == (ROGUE_MAC, l2.mac(0x11))
    evidence = finding["finding"]["evidence"]
    assert evidence["messages"] == {"offer": 1}  # raised at its first answer
    assert evidence["routers"] == [ROGUE] and evidence["dns_servers"] == [ROGUE]
    assert evidence["other_servers"][0]["server_id"] == SERVER
    assert finding["finding"]["confidence"] == 0.65  # first-seen rule, different gateway
    assert ROGUE in finding["finding"]["explanation"]["en"]


def test_with_an_allow_list_any_other_server_is_rogue_even_alone() -> None:
    (finding,) = run(offers()[2:], allowed_servers=[SERVER])
    assert finding["src_ip"] == ROGUE
    assert finding["finding"]["confidence"] == 0.9
    assert run(offers()[:2], allowed_servers=[SERVER]) == []
    assert run(offers()[:2], allowed_servers=[SERVER_MAC]) == []


def test_one_server_and_its_relays_are_not_rogue() -> None:
    relayed = [l2.dhcp_reply("offer", SERVER, l2.mac(1), l2.mac(i), f"198.51.100.{i}",
                             router="198.51.100.1", src="198.51.100.1")
               for i in range(10, 20)]  # fmt: skip
    assert run(offers()[:2] + relayed) == []


def test_a_rogue_is_reported_once_per_window() -> None:
    frames = offers() + offers()[2:] * 3
    assert len(run(frames)) == 1
    analyzer = RogueDhcpAnalyzer(RogueDhcpConfig(window_seconds=60))
    assert len(analyzer.process(l2.dissected(l2.timed(offers())))) == 1
    later = l2.timed(offers()[2:], start=l2.T0 + 3600)
    assert len(analyzer.process(l2.dissected(later))) == 1
