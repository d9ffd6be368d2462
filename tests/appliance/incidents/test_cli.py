"""Incidents from real captures through ``spanwatch analyze`` and ``spanwatch incidents``:
attacks name their attacker and victim, ordinary traffic raises none, engine noise
(checksum errors on mirrored traffic) raises none, and the lifecycle works from the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.cli import REPO, run_spanwatch
from tests.helpers.cli import testdata_dir as _testdata

PCAPS = _testdata() / "pcaps"
SV = _testdata() / "suricata-verify"
#: (capture, stage, attacker or None, victim or None) that its incident must show.
ATTACKS = [
    ("portscan/chrissanders_synscan.pcapng", "reconnaissance", "172.16.0.8", "64.13.134.52"),
    ("brute-force/zeek_sshguess.pcap", "credential-access", "192.168.56.1", "192.168.56.103"),
    ("arp-spoofing/chrissanders_arppoison.pcapng", "credential-access", "172.16.0.105",
     "172.16.0.1"),
    ("dns-tunneling/ndpi_dns-tunnel-iodine.pcap", "command-and-control", None, "10.0.2.30"),
]  # fmt: skip
#: Ordinary traffic from Suricata's own regression suite.
BENIGN = ["community-id-ipv4/input.pcap", "http-chunked/input.pcap"]


def _config(tmp: Path, name: str, **extra: Any) -> Path:
    path = tmp / f"{name}.yaml"
    data = {"sensor": {"name": name}, "data_dir": str(tmp / name),
            "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
            **extra}  # fmt: skip
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _analyze(config: Path, *args: Any) -> dict[str, Any]:
    done = run_spanwatch("analyze", "--config", config, "-q", "--json", *args, timeout=300)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One ``analyze --json`` over the attack and benign captures (one Suricata run)."""
    tmp = tmp_path_factory.mktemp("incident-captures")
    config = _config(tmp, "incidents")
    files = [PCAPS / a[0] for a in ATTACKS] + [SV / b for b in BENIGN]
    return _analyze(config, "--checksum", "none", *files), config


def _incidents_of(out: dict[str, Any], name: str) -> list[dict[str, Any]]:
    (capture,) = [c for c in out["captures"] if c["file"].endswith(name)]
    return list(capture["incidents"])


@pytest.mark.suricata
@pytest.mark.parametrize(("name", "stage", "attacker", "victim"), ATTACKS)
def test_an_attack_capture_yields_an_incident_naming_attacker_and_victim(
        analysed: Any, name: str, stage: str, attacker: str | None,
        victim: str | None) -> None:  # fmt: skip
    incidents = _incidents_of(analysed[0], name)
    assert len(incidents) == 1, incidents
    (inc,) = incidents
    assert stage in inc["stages"]
    assert inc["attackers"][:1] == ([attacker] if attacker else [])
    assert inc["victims"][:1] == [victim]
    assert inc["severity"] in ("critical", "high", "medium")
    assert inc["first_seen"] <= inc["last_seen"] and inc["first_seen"].endswith("Z")


@pytest.mark.suricata
@pytest.mark.parametrize("name", BENIGN)
def test_ordinary_traffic_yields_no_incident(analysed: Any, name: str) -> None:
    assert _incidents_of(analysed[0], name) == []


@pytest.mark.suricata
def test_the_total_lists_each_incident_once(analysed: Any) -> None:
    out, _ = analysed
    per_capture = [i["id"] for c in out["captures"] for i in c["incidents"]]
    assert sorted(i["id"] for i in out["total"]["incidents"]) == sorted(per_capture)
    assert set(out["total"]["incidents"][0]) >= {"id", "title", "severity", "stages",
                                                 "attackers", "victims", "first_seen",
                                                 "last_seen"}  # fmt: skip


@pytest.mark.suricata
def test_incidents_are_worked_from_the_command_line(analysed: Any) -> None:
    _, config = analysed
    listed = run_spanwatch("incidents", "--config", config, "-q", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["incidents"]
    assert len(items) == len(ATTACKS)
    iid = str(items[0]["id"])
    for args in (("status", iid, "investigating", "--note", "looking"),
                 ("assign", iid, "lan"), ("comment", iid, "blocked at the firewall"),
                 ("status", iid, "resolved")):  # fmt: skip
        done = run_spanwatch("incidents", *args, "--config", config, "-q", "--actor", "an")
        assert done.returncode == 0, done.stderr
    shown = run_spanwatch("incidents", "show", iid, "--config", config, "-q", "--json")
    detail = json.loads(shown.stdout)
    assert (detail["status"], detail["assignee"]) == ("resolved", "lan")
    assert [h["action"] for h in detail["history"]][-4:] == ["status", "assign", "comment",
                                                              "status"]  # fmt: skip
    assert {h["actor"] for h in detail["history"][1:]} == {"an"}
    assert detail["comments"][0]["text"] == "blocked at the firewall"
    still_open = run_spanwatch("incidents", "--config", config, "-q", "--json",
                               "--status", "open")  # fmt: skip
    assert int(iid) not in [i["id"] for i in json.loads(still_open.stdout)["incidents"]]


@pytest.mark.suricata
def test_bad_requests_get_a_clear_error(analysed: Any) -> None:
    _, config = analysed
    for args, words in ((("show", "99999"), "No incident #99999"),
                        (("status", "1", "done"), "status must be one of"),
                        (("suppress", "--sid", "1"), "a reason is required"),
                        (("suppress", "--src", "10.0.0.300", "--reason", "x"), "not an address"),
                        (("show", "abc"), "needs an id")):  # fmt: skip
        done = run_spanwatch("incidents", *args, "--config", config, "-q")
        assert done.returncode != 0 and words in done.stderr, (args, done.stderr)


@pytest.mark.suricata
def test_checksum_noise_on_mirrored_traffic_opens_no_incident(tmp_path: Path) -> None:
    """The FTP cracking capture has a bad TCP checksum on every packet (19,730 alerts of
    Suricata's own decoder rules once checksums are checked)."""
    config = _config(tmp_path, "noise", suricata={"checksum_checks": "yes"})
    rules = Path("/etc/suricata/rules")
    out = _analyze(config, "--rules", REPO / "config" / "rules" / "local.rules",
                   "--rules", rules / "decoder-events.rules",
                   "--rules", rules / "stream-events.rules",
                   PCAPS / "brute-force" / "markofu_ftp-crack.pcap")  # fmt: skip
    (capture,) = out["captures"]
    assert capture["alerts_by_sid"].get("2200074", 0) > 10_000
    shown = [json.loads(run_spanwatch("incidents", "show", str(i["id"]), "--config", config,
                                      "-q", "--json").stdout) for i in capture["incidents"]]
    noise = [e for d in shown for e in d["evidence"]
             if e["kind"] == "alert" and 2200000 <= int(e["key"]) <= 2299999]  # fmt: skip
    assert noise == []
    assert sum(d["alert_count"] for d in shown) == 0


@pytest.mark.suricata
def test_an_et_open_exploit_alert_opens_an_incident_against_the_web_server(
        tmp_path: Path) -> None:  # fmt: skip
    """The one test with all of ET Open: Log4Shell against a web application."""
    config = _config(tmp_path, "et")
    out = _analyze(config, "--checksum", "none", "--rules", _testdata() / "rules" / "et-open",
                   PCAPS / "exploit" / "ndpi_log4j-webapp-exploit.pcap")  # fmt: skip
    (capture,) = out["captures"]
    assert {a["sid"] for a in capture["alerts"]} >= {2034659}
    (inc,) = capture["incidents"]
    assert inc["stages"][0] == "initial-access"
    assert (inc["attackers"], inc["victims"]) == (["172.16.238.1"], ["172.16.238.10"])
    assert inc["severity"] in ("critical", "high")
