"""LLMNR / NBT-NS / mDNS poisoning: a Responder-like host through ``spanwatch analyze``,
and the cases that must stay quiet (own name, WINS, allow-list) on synthetic answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from appliance.cli import main as spanwatch_main
from appliance.config import NamePoisoningConfig
from sensors.analyzers.name_poisoning import NamePoisoningAnalyzer
from tests.helpers import l2
from tests.helpers.cli import REPO

POISONER, POISONER_MAC = "192.0.2.66", l2.mac(0x66)
VICTIM, HOST = "192.0.2.10", "192.0.2.20"


def responder() -> list[Any]:
    """What Responder answers when clients look up mistyped or missing names."""
    return [
        l2.llmnr_answer(POISONER, POISONER_MAC, VICTIM, "fileserver1", POISONER),
        l2.nbns_answer(POISONER, POISONER_MAC, VICTIM, "wpad", POISONER),
        l2.llmnr_answer(POISONER, POISONER_MAC, "192.0.2.11", "wpad", POISONER),
        l2.mdns_answer(POISONER, POISONER_MAC, "printr", POISONER),
    ]


def run(frames: list[Any], **cfg: Any) -> list[dict[str, Any]]:
    analyzer = NamePoisoningAnalyzer(NamePoisoningConfig(**cfg))
    analyzer.init()
    out = analyzer.process(l2.dissected(l2.timed(frames)))
    return [orjson.loads(f) for f in out + analyzer.shutdown()]


@pytest.mark.suricata
def test_a_responder_is_reported_through_analyze(
    tmp_path: Path, appliance_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = l2.write_pcap(tmp_path / "responder.pcap", l2.timed(responder()))
    argv = ["analyze", "--json", "--config", str(appliance_config), "--rules",
            str(REPO / "config" / "rules"), "--checksum", "none", str(capture)]  # fmt: skip
    assert spanwatch_main(argv) == 0
    findings = json.loads(capsys.readouterr().out)["captures"][0]["findings"]
    assert findings == [{"type": "name-poisoning", "category": "credential-access",
                         "severity": 1, "src_ip": POISONER, "dest_ip": VICTIM}]  # fmt: skip


def test_the_finding_lists_names_protocols_and_victims() -> None:
    (finding,) = run(responder())
    evidence = finding["finding"]["evidence"]
    assert evidence["names"] == ["fileserver1", "printr", "wpad"]  # NBNS WPAD = LLMNR wpad
    assert evidence["protocols"] == ["llmnr", "mdns", "nbns"]
    assert evidence["victims"] == [VICTIM, "192.0.2.11"]
    assert finding["src_mac"] == POISONER_MAC
    assert "wpad" in finding["finding"]["explanation"]["vi"]


def test_a_host_answering_for_its_own_name_by_every_protocol_is_quiet() -> None:
    own = [l2.llmnr_answer(HOST, l2.mac(0x20), VICTIM, "desk20", HOST),
           l2.nbns_answer(HOST, l2.mac(0x20), VICTIM, "desk20", HOST),
           l2.mdns_answer(HOST, l2.mac(0x20), "desk20", HOST),
           l2.llmnr_answer(HOST, l2.mac(0x20), VICTIM, "desk20.", HOST)] * 5  # fmt: skip
    assert run(own) == []


def test_wins_servers_and_allowed_responders_answer_for_others() -> None:
    wins = [l2.nbns_answer(HOST, l2.mac(0x20), VICTIM, f"host{i}", f"192.0.2.{i}", wins=True)
            for i in range(30, 40)]  # fmt: skip
    assert run(wins) == []
    assert run(responder(), allowed_responders=[POISONER]) == []
    assert run(responder()[:3]) == []  # two names: under the documented threshold of 3


def test_names_fall_out_of_the_window() -> None:
    analyzer = NamePoisoningAnalyzer(NamePoisoningConfig(window_seconds=60))
    frames = responder()
    for i, frame in enumerate(frames):  # one answer every two minutes
        frame.time = l2.T0 + 120 * i
    assert analyzer.process(l2.dissected(frames)) == []
