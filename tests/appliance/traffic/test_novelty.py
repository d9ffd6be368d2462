"""New and unusual traffic as low-severity findings, only after a host's learning period."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from appliance.config import load_config
from appliance.events import decode_line
from appliance.store import EventQuery, open_store
from appliance.traffic.follow import catch_up
from appliance.traffic.novelty import NoveltyDetector
from appliance.traffic.settings import DAY, HOUR, MINUTE
from tests.appliance.traffic.test_service import T0, flow


def _store_flows(store: Any, records: list[dict[str, Any]], first_id: int = 0) -> None:
    lines = [decode_line(orjson.dumps(r), (first_id + n) * 1000) for n, r in enumerate(records)]
    for start in range(0, len(lines), 1000):
        store.add_events(lines[start:start + 1000], "dc-core")
    catch_up(store)  # as spanwatch-core does


def _history(days: int) -> list[dict[str, Any]]:
    """A web server inside, visited from one outside address every hour."""
    return [flow(h, T0 + h * HOUR, src="203.0.113.50", dest="10.0.0.80", port=80, app="http",
                 bts=2_000, btc=200_000) for h in range(days * 24)]  # fmt: skip


def _findings(store: Any) -> list[dict[str, Any]]:
    return list(store.events(EventQuery(event_type="finding")))


@pytest.fixture
def cfg(tmp_path: Path) -> Any:
    return load_config(None, overrides={"data_dir": str(tmp_path)}, environ={})


def test_a_server_with_a_new_country_a_new_port_and_a_burst_is_reported(cfg: Any) -> None:
    store = open_store(cfg.store_path)
    try:
        _store_flows(store, _history(8))
        detector = NoveltyDetector(store, cfg)
        assert detector.run_once() == 0  # eight quiet days: nothing new
        day9 = T0 + 8 * DAY + 10 * HOUR
        _store_flows(store, [
            flow(1, day9, src="10.0.0.80", dest="113.160.0.1", port=443, bts=900, btc=500),
            flow(2, day9 + MINUTE, src="203.0.113.50", dest="10.0.0.80", port=4444, bts=10,
                 btc=100),
            *[flow(10 + n, day9 + 2 * HOUR + n * MINUTE, src="203.0.113.50", dest="10.0.0.80",
                   port=80, bts=1_000, btc=4_000_000) for n in range(40)],
            flow(99, day9 + 4 * HOUR, src="203.0.113.50", dest="10.0.0.80", port=80),
        ], first_id=10_000)  # fmt: skip
        assert detector.run_once() == 4
        found = {f["finding"]["type"]: f for f in _findings(store)}
        assert set(found) == {"new-country", "new-asn", "new-service-port", "traffic-volume"}
        assert found["new-country"]["src_ip"] == "10.0.0.80"
        assert found["new-country"]["finding"]["evidence"]["value"] == "VN"
        assert found["new-service-port"]["finding"]["evidence"]["service"] == "tcp/4444"
        volume = found["traffic-volume"]["finding"]
        assert volume["severity"] == 3 and volume["category"] == "exfiltration"
        assert volume["explanation"]["vi"] and volume["explanation"]["en"]
        # A second run, or a rerun after a crash, stores nothing again.
        assert detector.run_once() == 0
        assert NoveltyDetector(store, cfg).run_once() == 0
        assert len(_findings(store)) == 4
    finally:
        store.close()


def test_nothing_is_reported_while_hosts_are_still_being_learned(cfg: Any) -> None:
    store = open_store(cfg.store_path)
    try:
        _store_flows(store, _history(2))
        _store_flows(store, [
            flow(1, T0 + 2 * DAY, src="10.0.0.80", dest="113.160.0.1", port=443),
            flow(2, T0 + 2 * DAY, src="203.0.113.50", dest="10.0.0.80", port=4444),
            *[flow(10 + n, T0 + 2 * DAY + n * MINUTE, src="203.0.113.50", dest="10.0.0.80",
                   port=80, btc=9_000_000) for n in range(40)],
        ], first_id=10_000)  # fmt: skip
        assert NoveltyDetector(store, cfg).run_once() == 0
    finally:
        store.close()


def test_no_findings_on_benign_captures(tmp_path: Path, testdata: Path) -> None:
    from tests.appliance.traffic.test_rollup import _config
    from tests.helpers.cli import run_spanwatch

    demo = tmp_path / "demo.pcap"
    assert run_spanwatch("demo-capture", demo, "--scenario", "demo").returncode == 0
    config = _config(tmp_path)
    done = run_spanwatch("analyze", "--config", config, "-q", "--checksum", "none", demo,
                         testdata / "pcaps" / "c2-malware" / "chrissanders_cryptowall4_c2.pcapng")
    assert done.returncode == 0, done.stderr
    cfg = load_config(config, environ={})
    store = open_store(cfg.store_path)
    try:
        assert NoveltyDetector(store, cfg).run_once() == 0
    finally:
        store.close()
