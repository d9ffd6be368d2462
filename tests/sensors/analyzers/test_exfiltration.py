"""Exfiltration: synthetic flow records through the analyzer set (a baseline needs a day
of traffic, which no capture of the corpus holds), then the demo capture and ordinary
traffic through ``analyze``, which must raise nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from appliance.config import ExfiltrationConfig, NetworksConfig
from appliance.events import decode_line
from sensors.analyzers import AnalyzerSet
from sensors.analyzers.exfiltration import ExfiltrationAnalyzer
from tests.helpers.flow_corpus import demo_capture, flow_corpus_run, ordinary_captures

HOST, OUTSIDE = "10.1.2.3", "203.0.113.50"
HOUR = 3600
MB = 1_000_000


def stamp(at: float) -> str:
    """EVE timestamp ``at`` seconds after 2024-05-01 00:00 UTC."""
    moment = datetime(2024, 5, 1, tzinfo=timezone.utc) + timedelta(seconds=at)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def flow(
    at: float, sent: int, *, src: str = HOST, dest: str = OUTSIDE, received: int = 20_000,
    seconds: float = 30.0,
) -> dict[str, Any]:  # fmt: skip
    """A TCP flow that began ``at`` seconds after 2024-05-01 00:00 UTC and lasted ``seconds``."""
    return {
        "timestamp": stamp(at), "flow_id": int(at * 10) + 1, "event_type": "flow",
        "src_ip": src, "src_port": 50000, "dest_ip": dest, "dest_port": 443, "proto": "TCP",
        "community_id": f"1:up{int(at)}=",
        "flow": {"pkts_toserver": sent // 1400 + 3, "pkts_toclient": received // 1400 + 3,
                 "bytes_toserver": sent, "bytes_toclient": received, "start": stamp(at),
                 "end": stamp(at + seconds), "state": "closed"},
        "tcp": {"tcp_flags_ts": "1b", "tcp_flags_tc": "1b"},
    }  # fmt: skip


def run(
    records: list[dict[str, Any]], cfg: ExfiltrationConfig | None = None
) -> list[dict[str, Any]]:
    """Findings of the analyzer fed ``records`` in batches of 50 (then shut down)."""
    analyzers = AnalyzerSet([ExfiltrationAnalyzer(cfg or ExfiltrationConfig(), NetworksConfig())])
    decoded = [decode_line(orjson.dumps(r), i) for i, r in enumerate(records)]
    raw: list[bytes] = []
    for start in range(0, len(decoded), 50):
        raw += analyzers.process(decoded[start : start + 50])
    raw += analyzers.shutdown()
    assert analyzers.errors == {}
    return [orjson.loads(item) for item in raw]


def rules(findings: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(f["finding"]["evidence"]["rule"], f["src_ip"], f["dest_ip"]) for f in findings}


def test_a_large_upload_to_one_outside_address_fires_without_history() -> None:
    findings = run([flow(600 + i * 300, 30 * MB) for i in range(4)])
    assert rules(findings) == {("large-upload", HOST, OUTSIDE)}
    finding = findings[0]["finding"]
    evidence = finding["evidence"]
    assert (finding["type"], finding["category"]) == ("data-exfiltration", "exfiltration")
    assert evidence["bytes_out"] == 120 * MB and evidence["threshold_bytes"] == 100 * MB
    assert evidence["flows"] == 4 and evidence["dest_ports"] == [443]
    assert "đánh cắp dữ liệu" in finding["explanation"]["vi"]


def test_uploads_below_the_limit_spread_over_destinations_or_time_do_not() -> None:
    assert run([flow(600, 80 * MB)]) == []
    spread = [flow(600 + i, 40 * MB, dest=f"203.0.113.{60 + i}") for i in range(3)]
    assert run(spread) == []
    slow = [flow(i * 2 * HOUR, 60 * MB) for i in range(4)]  # 60 MB every two hours
    assert run(slow) == []


def test_downloads_inside_traffic_and_sanctioned_destinations_do_not() -> None:
    # An outside client fetching from an inside server: service, not exfiltration.
    served = flow(600, 20_000, src=OUTSIDE, dest=HOST, received=500 * MB)
    internal = flow(600, 500 * MB, dest="10.9.9.9")
    assert run([served, internal]) == []
    cfg = ExfiltrationConfig(exempt_destinations=["203.0.113.0/24"])
    assert run([flow(600, 300 * MB)], cfg) == []


def _history(hours: int, per_hour: int) -> list[dict[str, Any]]:
    """A day or more of ordinary uploads: ``per_hour`` bytes each hour, to two services."""
    return [flow(h * HOUR + 600 + k * 900, per_hour // 2, dest=f"198.51.100.{k + 1}")
            for h in range(hours) for k in range(2)]  # fmt: skip


def test_far_more_than_the_hosts_own_baseline_fires() -> None:
    # 3 MB an hour for 30 hours, then 90 MB in one hour to ten places (9 MB each).
    burst = [flow(30 * HOUR + 60 * i, 9 * MB, dest=f"192.0.2.{i + 1}") for i in range(10)]
    findings = run(_history(30, 3 * MB) + burst)
    assert rules(findings) == {("baseline", HOST, "192.0.2.1")}
    evidence = findings[0]["finding"]["evidence"]
    assert evidence["bytes_out"] == 90 * MB and evidence["history_intervals"] == 30
    assert 2.5 * MB < evidence["baseline_bytes"] < 3.5 * MB
    assert evidence["destination_count"] == 10 and len(evidence["flow_ids"]) == 10


def test_no_baseline_finding_without_history_or_below_the_floor() -> None:
    burst = [flow(10 * HOUR + 60 * i, 9 * MB, dest=f"192.0.2.{i + 1}") for i in range(10)]
    assert run(_history(10, 3 * MB) + burst) == []  # ten hours of history are too few
    small = [flow(30 * HOUR + 60 * i, 4 * MB, dest=f"192.0.2.{i + 1}") for i in range(10)]
    assert run(_history(30, 1 * MB) + small) == []  # 40 MB: 40 times the baseline, below 50 MB


def test_a_host_that_always_sends_much_is_its_own_normal() -> None:
    # 200 MB an hour of backups to twenty places (10 MB each), then 400 MB one hour.
    busy = [flow(h * HOUR + 60 * k, 10 * MB, dest=f"198.51.100.{k + 1}")
            for h in range(30) for k in range(20)]  # fmt: skip
    double = [flow(30 * HOUR + 60 * k, 10 * MB, dest=f"198.51.100.{k + 1}") for k in range(40)]
    assert run(busy + double) == []


@pytest.mark.suricata
def test_the_demo_capture_and_ordinary_traffic_raise_no_exfiltration() -> None:
    run_ = flow_corpus_run()
    for capture in [demo_capture(), *ordinary_captures()]:
        assert run_.summary(capture, {"data-exfiltration"}) == set(), capture
