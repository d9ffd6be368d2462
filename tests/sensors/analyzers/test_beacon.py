"""Beaconing: synthetic flow records, the demo capture's beacon, C2 and benign captures."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from appliance.config import BeaconConfig, NetworksConfig
from sensors.analyzers import AnalyzerSet
from sensors.analyzers.beacon import BeaconAnalyzer
from sensors.demo.capture import write_demo_capture
from tests.helpers.analysis import analyze_findings, finding_hosts, run_analyzer, synthetic_records
from tests.helpers.cli import testdata_dir as _testdata_dir

INSIDE, C2 = "10.20.30.40", "203.0.113.77"
START = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc).timestamp()
SV = _testdata_dir() / "suricata-verify"
C2_DIR = _testdata_dir() / "pcaps" / "c2-malware"


def _ts(seconds: float) -> str:
    moment = datetime.fromtimestamp(START + seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def _flow(at: float, flow_id: int, *, src: str = INSIDE, dest: str = C2, port: int = 80,
          proto: str = "TCP", sent: int = 540) -> dict[str, Any]:  # fmt: skip
    """A closed connection starting ``at`` seconds into the day, logged at capture end."""
    return {
        "timestamp": _ts(0), "flow_id": flow_id, "event_type": "flow", "src_ip": src,
        "src_port": 49152 + flow_id % 16000, "dest_ip": dest, "dest_port": port, "proto": proto,
        "app_proto": "http", "community_id": f"1:{flow_id:027d}=",
        "flow": {"pkts_toserver": 5, "pkts_toclient": 4, "bytes_toserver": sent,
                 "bytes_toclient": 320, "start": _ts(at), "end": _ts(at + 0.2), "age": 0,
                 "state": "closed", "reason": "shutdown", "alerted": False},
    }  # fmt: skip


def _beacon(rng: random.Random, n: int, *, period: float = 60, first_id: int = 1,
            **kwargs: Any) -> list[dict[str, Any]]:  # fmt: skip
    """A timer with +-10% jitter; every fifth check-in is missed."""
    return [_flow(i * period + rng.uniform(-0.1, 0.1) * period, first_id + i,
                  sent=540 + rng.randint(-8, 8), **kwargs)
            for i in range(n) if i % 5 != 3]  # fmt: skip


def _live(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As a live sensor logs them: each flow when it ends (a capture file's flows all carry
    one time instead)."""
    return [dict(r, timestamp=r["flow"]["end"]) for r in records]


def _run(records: list[dict[str, Any]], cfg: BeaconConfig | None = None,
         batch: int = 100) -> list[dict[str, Any]]:  # fmt: skip
    return run_analyzer(BeaconAnalyzer(cfg or BeaconConfig(), NetworksConfig()), records, batch)


def test_a_jittered_beacon_with_missed_check_ins_is_found_once() -> None:
    rng = random.Random(1)
    records = _beacon(rng, 40)
    rng.shuffle(records)  # Suricata logs flows as they time out, not in start order
    (finding,) = _run(records)
    assert (finding["src_ip"], finding["dest_ip"], finding["dest_port"]) == (INSIDE, C2, 80)
    body = finding["finding"]
    assert (body["type"], body["category"]) == ("beaconing", "command-and-control")
    evidence = body["evidence"]
    assert 54 <= evidence["period_seconds"] <= 66
    assert evidence["check_ins"] == evidence["connections"] == 32  # all, despite the order
    assert evidence["missed_check_ins"] == 8
    assert evidence["score"] >= evidence["threshold_score"] == 0.8 <= body["confidence"]
    assert len(evidence["flow_ids"]) == len(evidence["community_ids"]) == 20
    assert finding["timestamp"] == evidence["last_timestamp"] == max(
        r["flow"]["start"] for r in records
    )
    assert INSIDE in body["explanation"]["en"] and "C2" in body["explanation"]["vi"]


def test_a_beacon_seen_live_is_reported_a_period_after_it_qualifies() -> None:
    analyzers = AnalyzerSet([BeaconAnalyzer(BeaconConfig(), NetworksConfig())])
    records = synthetic_records(_live(_beacon(random.Random(2), 30)))
    emitted = [len(analyzers.process([record])) for record in records]
    assert sum(emitted) == 1 and analyzers.shutdown() == []
    # Scored at the 10th check-in, held one period plus two minutes for late flows.
    assert 12 <= emitted.index(1) <= 16


def test_findings_do_not_depend_on_where_batches_end() -> None:
    # A sensor's batches end where the reader happens to be; two analyses of one capture
    # must store the same finding.
    rng = random.Random(3)
    records = _beacon(rng, 60) + _beacon(rng, 45, period=300, dest="198.51.100.9", first_id=500)
    rng.shuffle(records)
    for logged in (records, sorted(_live(records), key=lambda r: r["timestamp"])):
        runs = {batch: _run(logged, batch=batch) for batch in (1, 7, 100, 1000)}
        assert len(runs[1000]) == 2
        assert all(found == runs[1000] for found in runs.values())


@pytest.mark.parametrize(
    "where",
    [{"port": 123, "proto": "UDP"},  # NTP polls by design
     {"port": 53, "proto": "UDP"},  # DNS: the dns_tunnel analyzer's
     {"dest": "10.9.9.9", "port": 514, "proto": "UDP"},  # syslog to an inside collector
     {"dest": "239.255.255.250", "port": 1900, "proto": "UDP"},  # SSDP announcements
     {"src": C2, "dest": INSIDE, "port": 22}],  # outside -> inside: brute force, not C2
)  # fmt: skip
def test_periodic_traffic_that_is_periodic_by_design_is_not_a_beacon(where: dict[str, Any]) -> None:
    assert _run(_beacon(random.Random(3), 40, **where)) == []


def test_random_connections_and_fast_retries_are_not_beacons() -> None:
    rng = random.Random(4)
    random_times = [_flow(rng.uniform(0, 3600), i, sent=540) for i in range(60)]
    retries = [_flow(i * 3.0, 1000 + i, dest="198.51.100.9") for i in range(80)]
    assert _run(random_times + retries) == []


def test_a_name_served_from_rotating_addresses_is_one_beacon() -> None:
    rng, records = random.Random(5), []
    addresses = ["198.51.100.1", "198.51.100.2", "203.0.113.3", "203.0.113.4"]
    for i, flow in enumerate(_beacon(rng, 60, period=300)):
        flow["dest_ip"] = addresses[i % 4]
        tls = {"timestamp": flow["flow"]["start"], "flow_id": flow["flow_id"],
               "event_type": "tls", "src_ip": INSIDE, "dest_ip": flow["dest_ip"],
               "dest_port": 443, "proto": "TCP", "tls": {"sni": "cdn.example.com"}}  # fmt: skip
        records += [tls, {**flow, "dest_port": 443, "app_proto": "tls"}]
    (finding,) = _run(records)
    evidence = finding["finding"]["evidence"]
    assert evidence["destination"] == evidence["dest_name"] == "cdn.example.com"
    assert evidence["dest_ips"] == addresses
    assert 280 <= evidence["period_seconds"] <= 320
    ignored = BeaconConfig(ignore_domains=["example.com"])
    assert _run(records, ignored) == []


def test_a_beacon_is_reported_again_only_in_a_later_window() -> None:
    cfg = BeaconConfig(window_hours=1)
    findings = _run(_live(_beacon(random.Random(6), 150)), cfg, batch=5)  # 2.5 hours
    stamps = [datetime.fromisoformat(f["timestamp"]).timestamp() for f in findings]
    assert len(stamps) == 3
    assert min(b - a for a, b in zip(stamps, stamps[1:])) >= 3600


# -- captures through spanwatch analyze -------------------------------------------------


@pytest.mark.suricata
def test_the_demo_beacon_is_found_and_nothing_else_is(tmp_path: Path) -> None:
    demo = tmp_path / "demo.pcap"
    write_demo_capture(demo, seed=2, minutes=15)
    findings = analyze_findings(tmp_path, [demo])
    assert finding_hosts(findings, {"beaconing"}) == {("beaconing", "10.10.20.121")}
    (beacon,) = [f for f in findings if f["finding"]["type"] == "beaconing"]
    assert beacon["dest_ip"] == "198.51.100.77"
    assert 58 <= beacon["finding"]["evidence"]["period_seconds"] <= 62
    # Reported a period (and two minutes for late flow records) after it qualified at ten
    # check-ins, with the check-ins logged by then, whatever the batches were.
    assert beacon["finding"]["evidence"]["check_ins"] >= 10


@pytest.mark.suricata
def test_no_c2_capture_of_the_corpus_is_long_enough_to_show_a_beacon(tmp_path: Path) -> None:
    """None holds 10 check-ins as separate connections: CryptoWall 3 connections in 41 s
    (15 s and 26 s apart), Merlin's 15 s check-ins ride inside one QUIC flow, TrickBot,
    Foudre and the mining pool one connection each, Emotet and the nDPI malware capture
    single requests spread over weeks. The analyzer must not invent a rhythm there."""
    captures = sorted(C2_DIR.iterdir())
    assert len(captures) == 8
    findings = analyze_findings(tmp_path, captures)
    assert finding_hosts(findings, {"beaconing"}) == set()


@pytest.mark.suricata
def test_ordinary_captures_raise_no_beacon(tmp_path: Path) -> None:
    captures = [SV / "dcerpc/zerologon/input.pcap", SV / "vxlan-decoder-03/vxlan.pcap",
                SV / "dns-eve-type-filtering/test.pcap", SV / "krb5-krb5_msg_type/input.pcap",
                SV / "tls/tls-cert-issuer/tls.pcap", SV / "ssh-hassh/input.pcap",
                SV / "decode-teredo-01/input.pcap"]  # fmt: skip
    assert finding_hosts(analyze_findings(tmp_path, captures), {"beaconing"}) == set()
