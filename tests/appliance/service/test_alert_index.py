"""The alert index follows the store: every alert and finding once, rollups that add up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.service import Service
from appliance.service.alert_index import AlertIndex, _rows, describe
from appliance.store import EventQuery
from tests.helpers.demo_store import analyze, analyzed_appliance, demo_capture


@pytest.fixture
def demo_service(tmp_path: Path) -> Iterator[Service]:
    service = Service(load_config(analyzed_appliance(tmp_path)))
    yield service
    service.close()


def _stored_alerts(service: Service) -> int:
    return sum(service.store.count_events(EventQuery(event_type=t))
               for t in ("alert", "finding", "anomaly"))  # fmt: skip


def test_sync_indexes_each_alert_and_finding_once(demo_service: Service) -> None:
    index = AlertIndex(demo_service.store, demo_service.state)
    expected = _stored_alerts(demo_service)
    assert expected >= 8  # the demo's attacks raise alerts and findings
    assert index.sync() == expected
    assert index.sync() == 0
    rows = demo_service.state.query("SELECT etype, count(*) FROM alert_index GROUP BY etype")
    counts = {r[0]: r[1] for r in rows}
    assert counts["alert"] == demo_service.store.count_events(EventQuery(event_type="alert"))
    assert counts["finding"] == demo_service.store.count_events(EventQuery(event_type="finding"))
    # The rollups count every row once per dimension.
    total = demo_service.state.query("SELECT sum(n) FROM alert_rollup WHERE dim = 'type'")[0][0]
    sigs = demo_service.state.query("SELECT sum(n) FROM alert_rollup WHERE dim = 'sig'")[0][0]
    assert total == sigs == expected


def test_two_processes_syncing_at_once_count_nothing_twice(demo_service: Service,
                                                           tmp_path: Path) -> None:  # fmt: skip
    other = Service(demo_service.cfg)
    try:
        first = AlertIndex(demo_service.store, demo_service.state)
        second = AlertIndex(other.store, other.state)
        # Both read the same range; only the first to commit writes it.
        upto, records = other.store.events_after_chunk(0, kind="alerts", max_chunks=10**6)
        rows = list(_rows(records))
        assert first.sync() == len(rows)
        assert second._sync_range(0, upto, rows) == 0
        total = demo_service.state.query("SELECT sum(n) FROM alert_rollup WHERE dim='type'")
        assert total[0][0] == len(rows)
    finally:
        other.close()


def test_a_later_analysis_is_indexed_incrementally(demo_service: Service, tmp_path: Path) -> None:
    index = AlertIndex(demo_service.store, demo_service.state)
    before = index.sync()
    cursor = index.cursor()
    capture = demo_capture(tmp_path / "campaign.pcap", scenario="campaign", minutes=60)
    analyze(tmp_path / "appliance.yaml", [capture])
    added = index.sync()
    assert added == _stored_alerts(demo_service) - before > 0
    assert index.cursor() > cursor
    kinds = {r[0] for r in demo_service.state.query("SELECT gkey FROM alert_index")}
    assert "finding:beaconing" in kinds and "finding:brute-force" in kinds


def test_group_keys_and_labels_of_each_kind() -> None:
    alert = {"event_type": "alert", "alert": {"signature_id": 9000001, "signature": "T",
                                              "category": "Misc"}}  # fmt: skip
    finding = {"event_type": "finding", "finding": {"type": "port-scan",
                                                    "category": "reconnaissance"}}  # fmt: skip
    anomaly = {"event_type": "anomaly", "anomaly": {"event": "INVALID_ETHERNET_SIZE",
                                                    "layer": "decode"}}  # fmt: skip
    assert describe(alert) == ("sid:9000001", "T", "Misc")
    assert describe(finding) == ("finding:port-scan", "port-scan", "reconnaissance")
    assert describe(anomaly) == ("anomaly:INVALID_ETHERNET_SIZE", "INVALID_ETHERNET_SIZE",
                                 "decode")  # fmt: skip
