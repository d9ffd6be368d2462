"""The campaign capture through ``spanwatch analyze``: one finding per stage of the intrusion,
each naming the right hosts, and no other inside host accused (issue 3)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.config import load_config
from appliance.store import EventQuery, open_store
from sensors.demo.campaign import ATTACKER, BASTION, C2, write_campaign_capture
from tests.helpers.cli import REPO, run_spanwatch

INSIDE = [ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
#: Finding types of the exfiltration stage: DNS names carrying data (or a tunnel), or volume.
EXFILTRATION_TYPES = {"dns-exfiltration", "dns-tunnel", "data-exfiltration"}


def _is_inside(address: str | None) -> bool:
    return address is not None and any(ipaddress.ip_address(address) in n for n in INSIDE)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    """The findings of ``analyze --json`` over the seeded campaign, and its configuration."""
    tmp = tmp_path_factory.mktemp("campaign")
    pcap = write_campaign_capture(tmp / "campaign.pcap", seed=1).path
    config = tmp / "appliance.yaml"
    settings = {"sensor": {"name": "campaign-test"}, "data_dir": str(tmp / "data"),
                "rules": {"local": [], "sources": []}}  # fmt: skip
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    done = run_spanwatch("analyze", "--config", config, "--json", "--checksum", "none",
                         "--rules", REPO / "config" / "rules", pcap, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (capture,) = json.loads(done.stdout)["captures"]
    return capture["findings"], config


def _of(findings: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [f for f in findings if all(f.get(k) == v for k, v in match.items())]


def _evidence(config: Path, kind: str) -> list[dict[str, Any]]:
    """The evidence of the stored findings of one type (the JSON summary leaves it out)."""
    store = open_store(load_config(config).store_path, readonly=True)
    try:
        records = list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()
    return [r["finding"]["evidence"] for r in records if r["finding"]["type"] == kind]


@pytest.mark.suricata
def test_reconnaissance_is_reported_against_the_attacker(analysed: Any) -> None:
    findings, _ = analysed
    recon = _of(findings, category="reconnaissance", src_ip=ATTACKER)
    assert {f["type"] for f in recon} >= {"port-scan", "host-sweep"}
    assert [f["dest_ip"] for f in _of(recon, type="port-scan")] == [BASTION.ip]


@pytest.mark.suricata
def test_the_brute_force_on_the_bastion_is_reported_with_its_success(analysed: Any) -> None:
    findings, config = analysed
    brute = _of(findings, type="brute-force", category="credential-access", src_ip=ATTACKER)
    assert [f["dest_ip"] for f in brute] == [BASTION.ip]
    (evidence,) = _evidence(config, "brute-force")
    assert evidence["failures"] >= 10 and evidence["successes"] >= 1  # the last guess worked


@pytest.mark.suricata
def test_the_bastion_beaconing_to_its_c2_server_is_reported(analysed: Any) -> None:
    findings, config = analysed
    beacons = _of(findings, type="beaconing", category="command-and-control")
    assert [(f["src_ip"], f["dest_ip"]) for f in beacons] == [(BASTION.ip, C2)]
    (evidence,) = _evidence(config, "beaconing")
    assert 57 <= evidence["period_seconds"] <= 63


@pytest.mark.suricata
def test_the_exfiltration_from_the_bastion_is_reported(analysed: Any) -> None:
    findings, _ = analysed
    leaks = [f for f in findings if f["type"] in EXFILTRATION_TYPES]
    assert leaks and {f["src_ip"] for f in leaks} == {BASTION.ip}
    assert any(f["category"] == "exfiltration" for f in leaks)


@pytest.mark.suricata
def test_no_other_inside_host_is_named_as_the_offender(analysed: Any) -> None:
    findings, _ = analysed
    accused = {f["src_ip"] for f in findings if _is_inside(f["src_ip"])}
    assert accused == {BASTION.ip}, findings
    assert {f["src_ip"] for f in findings} == {ATTACKER, BASTION.ip}, findings


@pytest.mark.suricata
def test_the_intrusion_is_one_incident_with_its_stages_in_order(analysed: Any) -> None:
    _, config = analysed
    done = run_spanwatch("incidents", "--config", config, "-q", "--json")
    assert done.returncode == 0, done.stderr
    (incident,) = json.loads(done.stdout)["incidents"]
    assert incident["stages"] == ["reconnaissance", "credential-access",
                                  "command-and-control", "exfiltration"]  # fmt: skip
    assert incident["attackers"][0] == ATTACKER and C2 in incident["attackers"]
    assert incident["victims"] == [BASTION.ip]
