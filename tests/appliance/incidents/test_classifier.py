"""Reading one alert or finding: its stage, who attacked whom, severity and start."""

from __future__ import annotations

import pytest

from appliance.incidents.classifier import HomeNet, observe, stage_of_alert
from tests.helpers.incident_store import alert, finding, us

HOME = HomeNet(["10.0.0.0/8"])


@pytest.mark.parametrize(("signature", "category", "stage"), [
    ("ET SCAN NMAP OS Detection Probe", "Attempted Information Leak", "reconnaissance"),
    ("ET EXPLOIT Apache log4j RCE Attempt (CVE-2021-44228)", "Attempted Administrator "
     "Privilege Gain", "initial-access"),
    ("ET POLICY PsExec service created", "Potential Corporate Privacy Violation",
     "lateral-movement"),
    ("ET MALWARE Win32/Emotet CnC Activity", "A Network Trojan was detected",
     "command-and-control"),
    ("ET COINMINER Crypto Coin Miner Login", "Crypto Currency Mining Activity Detected",
     "impact"),
    ("ET INFO Observed DNS Query to .cloud TLD", "Misc activity", "policy"),
    ("GPL something unnamed", "Web Application Attack", "initial-access"),
])  # fmt: skip
def test_alert_stages_from_signature_and_classtype(signature: str, category: str,
                                                   stage: str) -> None:  # fmt: skip
    assert stage_of_alert(signature, category) == stage


def test_a_beaconing_host_is_the_victim_and_its_server_the_attacker() -> None:
    beacon = observe({**finding(5, "beaconing", "command-and-control", "10.0.0.9",
                                "198.51.100.1", evidence={"first_timestamp":
                                                          "2026-11-20T10:01:00+0000"}),
                      "_id": 7}, HOME)  # fmt: skip
    assert beacon is not None
    assert (beacon.attacker, beacon.victim, beacon.stage) == ("198.51.100.1", "10.0.0.9",
                                                              "command-and-control")
    assert (beacon.start, beacon.ts) == (us(1), us(5))
    # A C2 server answering an inside host: the roles stay with the outside.
    answer = observe({**alert(0, "198.51.100.1", "10.0.0.9", 2018959, "ET MALWARE Dridex "
                              "Check-in response", severity=1), "_id": 8}, HOME)  # fmt: skip
    assert answer is not None and (answer.attacker, answer.victim) == ("198.51.100.1",
                                                                       "10.0.0.9")
    miner = observe({**alert(0, "10.0.0.5", "192.0.2.9", 2022886, "ET COINMINER Crypto Coin "
                             "Miner Login"), "_id": 9}, HOME)  # fmt: skip
    assert miner is not None and (miner.attacker, miner.victim) == ("192.0.2.9", "10.0.0.5")
    root = observe({**alert(0, "10.0.0.80", "203.0.113.9", 2100498, "GPL ATTACK_RESPONSE id "
                            "check returned root", severity=2), "_id": 10}, HOME)  # fmt: skip
    assert root is not None and (root.attacker, root.victim) == ("203.0.113.9", "10.0.0.80")


def test_alert_source_and_target_fields_win() -> None:
    record = alert(0, "10.0.0.9", "203.0.113.5", 2019284, "ET EXPLOIT X response")
    record["alert"]["source"] = {"ip": "203.0.113.5", "port": 80}
    record["alert"]["target"] = {"ip": "10.0.0.9", "port": 50000}
    obs = observe({**record, "_id": 1}, HOME)
    assert obs is not None and (obs.attacker, obs.victim) == ("203.0.113.5", "10.0.0.9")


def test_policy_is_at_most_medium_and_health_and_garbage_are_not_evidence() -> None:
    ftp = observe({**alert(0, "10.0.0.5", "10.0.0.6", 9000012, "SPANWATCH POLICY Cleartext "
                           "FTP password", severity=1), "_id": 1}, HOME)  # fmt: skip
    assert ftp is not None and (ftp.stage, ftp.severity) == ("policy", 2)
    health = finding(0, "capture-loss", "sensor-health", None, None)
    assert observe({**health, "_id": 2}, HOME) is None
    assert observe({"event_type": "alert", "timestamp": "yesterday", "_id": 3}, HOME) is None
    assert observe({"event_type": "alert", "timestamp": "2026-11-20T10:00:00+0000",
                    "alert": "x", "_id": 4}, HOME) is None  # fmt: skip
    assert observe({"event_type": "flow", "timestamp": "2026-11-20T10:00:00+0000"},
                   HOME) is None  # fmt: skip
