"""Malware's HTTP habits: the Emotet and TrickBot captures, synthetic requests, benign HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config import NetworksConfig, SuspiciousHttpConfig
from sensors.analyzers.suspicious_http import SuspiciousHttpAnalyzer
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir
from tests.helpers.login_corpus import (
    DEMO_SEEDS,
    corpus_run,
    demo_capture,
    verify_captures,
    verify_run,
)

C2 = _testdata_dir() / "pcaps" / "c2-malware"
TYPES = {"disguised-executable-download", "random-user-agent", "post-to-bare-ip"}


@pytest.mark.suricata
def test_emotet_droppers_and_trickbot_posts_are_found(tmp_path: Path) -> None:
    findings = analyze_findings(tmp_path, [C2 / "ndpi_emotet.pcap", C2 / "ndpi_trickbot.pcap"])
    assert finding_hosts(findings, TYPES) == {
        ("disguised-executable-download", "10.4.20.102"),
        ("disguised-executable-download", "10.4.25.101"),
        ("random-user-agent", "10.4.25.101"),
        ("post-to-bare-ip", "10.12.29.101"),
    }
    dll = next(f for f in findings if f["finding"]["type"] == "disguised-executable-download")
    assert dll["finding"]["category"] == "malware"
    assert dll["finding"]["evidence"]["content_type"] == "application/x-msdownload"


def _http(url: str, *, ctype: str = "text/html", agent: str = "Mozilla/5.0 (X11) Firefox/128",
          method: str = "GET", host: str = "downloads.example", server: str = "198.51.100.8",
          minute: int = 0) -> dict[str, Any]:  # fmt: skip
    return {"timestamp": f"2024-05-01T10:{minute:02d}:00.000000+0000", "event_type": "http",
            "flow_id": 3 + minute, "src_ip": "10.0.0.5", "src_port": 40000, "dest_ip": server,
            "dest_port": 80, "proto": "TCP",
            "http": {"hostname": host, "url": url, "http_method": method, "status": 200,
                     "http_user_agent": agent, "http_content_type": ctype}}  # fmt: skip


def _types(*records: dict[str, Any], cfg: SuspiciousHttpConfig | None = None) -> list[str]:
    analyzer = SuspiciousHttpAnalyzer(cfg or SuspiciousHttpConfig(), NetworksConfig())
    return [f["finding"]["type"] for f in run_analyzer(analyzer, records)]


def test_named_installers_and_ordinary_agents_are_fine() -> None:
    assert _types(_http("/files/setup-1.2.exe", ctype="application/x-msdownload"),
                  _http("/update/KB501.msu?x=1", ctype="application/x-msdownload"),
                  _http("/", agent="curl/8.5.0"), _http("/", agent="Go-http-client/1.1"),
                  _http("/api", method="POST", host="api.example")) == []  # fmt: skip


def test_each_habit_once_per_window() -> None:
    records = [_http("/video/6JvA8/", ctype="application/x-msdownload", minute=m)
               for m in range(3)]  # fmt: skip
    records.append(_http("/gate", agent="qWeRtYuIoPaS"))
    records.append(_http("/gate", method="POST", host="198.51.100.8:8080"))
    assert _types(*records) == ["disguised-executable-download", "random-user-agent",
                                "post-to-bare-ip"]  # fmt: skip


def test_posts_to_inside_addresses_and_exempt_servers_are_fine() -> None:
    inside = _http("/gate", method="POST", host="10.0.0.9", server="10.0.0.9")
    assert _types(inside) == []
    exempt = SuspiciousHttpConfig(exempt_servers=["198.51.100.0/24"])
    assert _types(_http("/gate", method="POST", host="198.51.100.8"), cfg=exempt) == []
    assert _types(_http("/gate", method="POST", host="198.51.100.8"),
                  cfg=SuspiciousHttpConfig(post_to_bare_ip=False)) == []  # fmt: skip


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_traffic_has_none_of_these_habits() -> None:
    run = verify_run()
    found = {str(c): run.summary(c, TYPES) for c in verify_captures()}
    assert {c: f for c, f in found.items() if f} == {}


@pytest.mark.suricata
@pytest.mark.parametrize("seed", DEMO_SEEDS)
def test_in_the_demo_only_the_beaconing_workstation_posts_to_a_bare_address(seed: int) -> None:
    found = corpus_run().summary(demo_capture(seed), TYPES)
    assert found == {("post-to-bare-ip", "10.10.20.121", "198.51.100.77")}
