"""Threat intelligence matches: synthetic EVE through the runner, and real captures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from appliance.cli import main
from appliance.config import AppConfig, IntelConfig, ThreatIntelConfig
from appliance.errors import ConfigError
from appliance.events import decode_line
from appliance.store import EventQuery, EventStore, open_store
from sensors.analyzers import AnalyzerSet, load_analyzers
from sensors.analyzers.threat_intel import ThreatIntelAnalyzer
from sensors.deadletter import DeadLetterFile
from sensors.demo.capture import write_demo_capture
from sensors.runner import EveRunner
from sensors.ship import StoreSink
from tests.helpers.cli import REPO

SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
JA3 = "e7d705a3286e19ea42f587b344ee6865"
FEED = f"""\
# test feed: documentation addresses and example.com names
evil.example.com
http://evil.example.com/gate.php
198.51.100.0/24
{SHA256}
"""


@pytest.fixture
def intel(tmp_path: Path) -> IntelConfig:
    (tmp_path / "feed.txt").write_text(FEED, encoding="utf-8")
    (tmp_path / "ja3.txt").write_text(f"{JA3}\n", encoding="utf-8")
    return IntelConfig.model_validate({"feeds": [
        {"name": "example-feed", "path": str(tmp_path / "feed.txt")},
        {"name": "ja3-feed", "path": str(tmp_path / "ja3.txt"), "type": "ja3"},
    ]})  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    store = open_store(tmp_path / "spanwatch.db")
    yield store
    store.close()


def _eve(seconds: int, kind: str, src: str, dest: str, **body: Any) -> dict[str, Any]:
    hours, rest = divmod(seconds, 3600)
    return {
        "timestamp": f"2024-05-01T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000000+0000",
        "flow_id": 1000 + seconds, "event_type": kind, "src_ip": src, "src_port": 50000,
        "dest_ip": dest, "dest_port": 80, "proto": "TCP", **body,
    }  # fmt: skip


def _dns(seconds: int, client: str, name: str, kind: str = "query") -> dict[str, Any]:
    return _eve(seconds, "dns", client, "192.0.2.53",
                dns={"version": 2, "type": kind, "rrname": name, "rrtype": "A"})  # fmt: skip


SYNTHETIC = [
    _dns(0, "10.0.0.5", "www.Evil.example.com"),  # a subdomain of a listed domain
    _dns(1, "10.0.0.5", "www.evil.example.com", "answer"),  # same host, same window
    _eve(2, "http", "10.0.0.5", "203.0.113.80",
         http={"hostname": "evil.example.com", "url": "/gate.php?id=1"}),  # listed URL
    _eve(3, "tls", "10.0.0.6", "203.0.113.81",
         tls={"sni": "cdn.example.net", "ja3": {"hash": JA3}}),
    _eve(4, "fileinfo", "203.0.113.80", "10.0.0.7",
         fileinfo={"filename": "x.exe", "sha256": SHA256, "md5": "0" * 32}),
    _eve(5, "flow", "10.0.0.8", "198.51.100.23", flow={"bytes_toserver": 60}),
    _eve(6, "flow", "10.0.0.9", "192.0.2.200", flow={"bytes_toserver": 60}),
    _dns(7, "10.0.0.10", "example.com"),  # the parent of a listed domain is not listed
    _dns(8, "10.0.0.10", "notevil.example.com"),
    _dns(9, "10.0.0.11", "www.evil.example.com"),  # another host
    _eve(10, "stats", "10.0.0.12", "10.0.0.13", stats={}),  # not a type the analyzer gets
    _dns(7200, "10.0.0.5", "evil.example.com"),  # two hours later: a new window
]  # fmt: skip


def _run(tmp_path: Path, store: EventStore, analyzers: AnalyzerSet) -> list[dict[str, Any]]:
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in SYNTHETIC))
    cfg = AppConfig.model_validate({"data_dir": str(tmp_path), "ingest": {"batch_size": 3}})
    runner = EveRunner(
        eve, store=store, sink=StoreSink(store, "test-sensor"), analyzers=analyzers,
        dead_letters=DeadLetterFile(tmp_path / "dead-letter.jsonl"), cfg=cfg.ingest,
    )  # fmt: skip
    try:
        runner.run()
    finally:
        runner.dead_letters.close()
    return sorted(store.events(EventQuery(event_type="finding")), key=lambda f: f["timestamp"])


def _summary(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for f in findings:
        ev = f["finding"]["evidence"]
        out.append((f["timestamp"][11:19], ev["host"], ev["feed"], ev["indicator"],
                    ev["matched_field"]))  # fmt: skip
    return sorted(out)


def test_synthetic_eve_gives_one_finding_per_indicator_host_and_window(
    tmp_path: Path, store: EventStore, intel: IntelConfig
) -> None:
    analyzer = ThreatIntelAnalyzer(ThreatIntelConfig(), intel=intel)
    findings = _run(tmp_path, store, AnalyzerSet([analyzer]))
    assert _summary(findings) == [
        ("00:00:00", "10.0.0.5", "example-feed", "evil.example.com", "dns.rrname"),
        ("00:00:02", "10.0.0.5", "example-feed", "http://evil.example.com/gate.php", "http.url"),
        ("00:00:03", "10.0.0.6", "ja3-feed", JA3, "tls.ja3.hash"),
        ("00:00:04", "10.0.0.7", "example-feed", SHA256, "fileinfo.sha256"),
        ("00:00:05", "10.0.0.8", "example-feed", "198.51.100.0/24", "dest_ip"),
        ("00:00:09", "10.0.0.11", "example-feed", "evil.example.com", "dns.rrname"),
        ("02:00:00", "10.0.0.5", "example-feed", "evil.example.com", "dns.rrname"),
    ]
    first = findings[0]
    assert first["finding"]["type"] == "ioc-match"
    assert first["finding"]["category"] == "threat-intel"
    assert (first["src_ip"], first["dest_ip"], first["flow_id"]) == ("10.0.0.5", "192.0.2.53", 1000)
    assert first["finding"]["evidence"]["matched_value"] == "www.Evil.example.com"
    assert first["finding"]["evidence"]["feed_line"] == 2
    assert first["finding"]["evidence"]["flow_ids"] == [1000]
    explanation = first["finding"]["explanation"]
    assert "10.0.0.5 looked up the name www.Evil.example.com" in explanation["en"]
    assert "'example-feed'" in explanation["en"]
    assert "đã truy vấn DNS tên www.Evil.example.com" in explanation["vi"]
    severities = {f["finding"]["evidence"]["indicator_type"]: f["finding"]["severity"]
                  for f in findings}  # fmt: skip
    assert severities == {"domain": 2, "url": 2, "ja3": 3, "sha256": 1, "cidr": 2}


def test_no_feeds_no_findings(tmp_path: Path, store: EventStore) -> None:
    analyzer = ThreatIntelAnalyzer(ThreatIntelConfig(), intel=IntelConfig())
    assert _run(tmp_path, store, AnalyzerSet([analyzer])) == []
    assert len(analyzer.index) == 0


def test_load_analyzers_hands_the_intel_feeds_to_the_analyzer(intel: IntelConfig) -> None:
    cfg = AppConfig.model_validate({"intel": intel.model_dump(mode="json")})
    analyzers = load_analyzers(cfg)
    (analyzer,) = [a for a in analyzers.analyzers if isinstance(a, ThreatIntelAnalyzer)]
    analyzers.init()
    assert dict(analyzer.index.counts) == {"domain": 1, "url": 1, "cidr": 1, "sha256": 1, "ja3": 1}
    off = AppConfig.model_validate({"analyzers": {"threat_intel": {"enabled": False}}})
    assert not [a for a in load_analyzers(off).analyzers if isinstance(a, ThreatIntelAnalyzer)]


def test_an_unreadable_feed_stops_start_up_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"type": "bundle",\n  "objects": [}\n', encoding="utf-8")
    intel = IntelConfig.model_validate({"feeds": [{"name": "bad", "path": str(path)}]})
    with pytest.raises(ConfigError, match=f"Threat intelligence feed: {path}:2: bad JSON"):
        ThreatIntelAnalyzer(ThreatIntelConfig(), intel=intel).init()


def test_reported_pairs_stay_within_the_cap(intel: IntelConfig) -> None:
    analyzer = ThreatIntelAnalyzer(ThreatIntelConfig(max_tracked=100), intel=intel)
    analyzer.init()
    records = [
        decode_line(orjson.dumps(_dns(i % 60, f"10.1.{i // 250}.{i % 250}", "evil.example.com")), i)
        for i in range(500)
    ]  # fmt: skip
    assert len(analyzer.process(records)) == 500
    assert len(analyzer._reported) <= 100
    assert analyzer.shutdown() == []


def test_records_out_of_time_order_get_one_finding_per_window(intel: IntelConfig) -> None:
    analyzer = ThreatIntelAnalyzer(ThreatIntelConfig(), intel=intel)
    analyzer.init()
    times = [7300, 100, 7200, 200, 3500, 7000]  # windows 2, 0, 2, 0, 0, 1
    records = [
        decode_line(orjson.dumps(_dns(t, "10.0.0.5", "evil.example.com")), i)
        for i, t in enumerate(times)
    ]
    stamps = [orjson.loads(f)["timestamp"][11:19] for f in analyzer.process(records)]
    assert stamps == ["02:01:40", "00:01:40", "01:56:40"]


def _analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str], pcap: Path,
             feeds: list[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """``spanwatch analyze`` with ``feeds``; the ioc-match findings it stored."""
    tmp_path.mkdir(exist_ok=True)
    data_dir = tmp_path / "data"
    config = tmp_path / "appliance.yaml"
    config.write_text(yaml.safe_dump({
        "sensor": {"name": "test-sensor"}, "data_dir": str(data_dir),
        "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
        "intel": {"feeds": feeds},
    }), encoding="utf-8")  # fmt: skip
    assert main(["analyze", "--config", str(config), "--json", "-q", "--checksum", "none",
                 str(pcap)]) == 0  # fmt: skip
    json.loads(capsys.readouterr().out)
    store = open_store(data_dir / "spanwatch.db", readonly=True)
    try:
        findings = list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()
    findings.sort(key=lambda f: f["timestamp"])
    return [f for f in findings if f["finding"]["type"] == "ioc-match"]


@pytest.mark.suricata
def test_a_listed_domain_fires_on_the_malware_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], testdata: Path
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("indicator,type\nwww.internetbadguys.com,domain\n", encoding="utf-8")
    pcap = testdata / "pcaps" / "c2-malware" / "ndpi_malware.pcap"
    findings = _analyze(tmp_path, capsys, pcap, [{"name": "csv-feed", "path": str(feed)}])
    # The DNS lookup and the HTTP request (Suricata logs it at the flow timeout, with the
    # capture's first timestamp) share an hour; the TLS connection is two hours later.
    fields = [(f["src_ip"], f["finding"]["evidence"]["matched_field"]) for f in findings]
    # One finding per indicator and host per fixed hour of event time: the lookup and the
    # request may fall on either side of an hour boundary, so one or two for the domain.
    domain = {("192.168.7.7", "dns.rrname"), ("192.168.7.7", "http.hostname")}
    assert ("192.168.7.7", "tls.sni") in fields
    assert 1 <= len(set(fields) & domain) == len(fields) - 1
    assert {f["finding"]["category"] for f in findings} == {"threat-intel"}
    assert {f["finding"]["evidence"]["feed"] for f in findings} == {"csv-feed"}
    assert _analyze(tmp_path / "empty", capsys, pcap, []) == []


@pytest.mark.suricata
def test_on_the_demo_capture_only_the_listed_beacon_and_tunnel_fire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcap = tmp_path / "demo.pcap"
    write_demo_capture(pcap, seed=3, minutes=5)
    feed = tmp_path / "feed.txt"
    feed.write_text("198.51.100.77\nt.example.org\n", encoding="utf-8")
    findings = _analyze(tmp_path, capsys, pcap, [{"name": "demo-feed", "path": str(feed)}])
    found = sorted((f["finding"]["evidence"]["indicator"], f["finding"]["evidence"]["host"])
                   for f in findings)  # fmt: skip
    # The tunnel client's queries, and the resolver's forwarding of them.
    assert found == [("198.51.100.77", "10.10.20.121"), ("t.example.org", "10.10.1.53"),
                     ("t.example.org", "10.10.20.117")]  # fmt: skip
