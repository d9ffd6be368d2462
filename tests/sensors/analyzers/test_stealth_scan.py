"""Stealth scans: nmap's OS detection capture, synthetic flows, and ordinary traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config import StealthScanConfig
from sensors.analyzers.stealth_scan import StealthScanAnalyzer
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer
from tests.helpers.cli import testdata_dir as _testdata_dir
from tests.helpers.login_corpus import (
    DEMO_SEEDS,
    corpus_run,
    demo_capture,
    verify_captures,
    verify_run,
)

OS_SCAN = _testdata_dir() / "pcaps" / "portscan" / "chrissanders_activeosfingerprinting.pcapng"
TYPES = {"stealth-scan"}


@pytest.mark.suricata
def test_nmap_os_detection_is_a_stealth_scan_of_its_target(tmp_path: Path) -> None:
    findings = analyze_findings(tmp_path, [OS_SCAN])
    assert finding_hosts(findings, TYPES) == {("stealth-scan", "172.16.16.128")}
    (found,) = [f for f in findings if f["finding"]["type"] == "stealth-scan"]
    assert found["dest_ip"] == "172.16.16.150"
    assert found["finding"]["category"] == "reconnaissance"
    assert found["finding"]["evidence"]["probes"] >= 2


def _flow(port: int, flags_ts: str, *, src: str = "203.0.113.5", minute: int = 0,
          packets: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"timestamp": f"2024-05-01T10:{minute:02d}:00.000000+0000", "event_type": "flow",
            "flow_id": port * 100 + minute, "src_ip": src, "src_port": 40000 + port,
            "dest_ip": "192.0.2.20", "dest_port": port, "proto": "TCP",
            "flow": {"pkts_toserver": packets, "pkts_toclient": 0, "bytes_toserver": 60,
                     "bytes_toclient": 0, "start": f"2024-05-01T10:{minute:02d}:00.000000+0000",
                     "end": f"2024-05-01T10:{minute:02d}:01.000000+0000", "state": "new"},
            "tcp": {"tcp_flags": flags_ts, "tcp_flags_ts": flags_ts, "tcp_flags_tc": "00"}}


def test_null_fin_and_xmas_probes_count_and_ordinary_flows_do_not() -> None:
    cfg = StealthScanConfig(min_probes=3)
    records = [_flow(22, "00"), _flow(80, "01"), _flow(443, "1b"), _flow(8080, "02"),
               _flow(25, "29")]  # fmt: skip
    found = run_analyzer(StealthScanAnalyzer(cfg), records)
    assert [(f["src_ip"], f["dest_ip"]) for f in found] == [("203.0.113.5", "192.0.2.20")]
    assert found[0]["finding"]["evidence"]["ports"] == [22, 25, 80]


def test_probes_beyond_the_window_start_over() -> None:
    cfg = StealthScanConfig(min_probes=2, window_seconds=60)
    records = [_flow(22, "00", minute=0), _flow(23, "00", minute=5)]
    assert run_analyzer(StealthScanAnalyzer(cfg), records) == []


@pytest.mark.suricata
@pytest.mark.slow
def test_ordinary_traffic_has_no_stealth_scan() -> None:
    run = verify_run()
    found = {str(c): run.summary(c, TYPES) for c in verify_captures()}
    found.update({str(demo_capture(s)): corpus_run().summary(demo_capture(s), TYPES)
                  for s in DEMO_SEEDS})  # fmt: skip
    assert {c: f for c, f in found.items() if f} == {}
