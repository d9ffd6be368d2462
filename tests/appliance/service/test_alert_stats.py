"""Dashboard counts: top lists are cached until new alerts arrive, and warmed by the core."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.service import Service
from appliance.service.alert_stats import CACHE_PREFIX, hour_ceil, hour_floor
from tests.helpers.demo_store import analyze, analyzed_appliance, demo_capture


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(load_config(analyzed_appliance(tmp_path)))
    yield svc
    svc.close()


def _cached_keys(service: Service) -> list[str]:
    return [r[0] for r in service.state.query("SELECT key FROM kv WHERE key LIKE ?",
                                              (CACHE_PREFIX + "%",))]  # fmt: skip


def test_top_lists_are_reused_until_the_index_moves(service: Service, tmp_path: Path) -> None:
    latest = service.alerts.latest_ts()
    assert latest is not None
    first = service.alerts.top("host", latest - 3_600_000_000, latest, 3)
    assert first[0]["key"] == "203.0.113.66" and first[0]["severity"] is None
    assert len(_cached_keys(service)) == 1
    # A stale entry (older than a minute) is still right while nothing new was indexed.
    service.state.conn.execute("UPDATE kv SET value = json_set(value, '$.at', 0) "
                               "WHERE key LIKE ?", (CACHE_PREFIX + "%",))  # fmt: skip
    assert service.alerts.top("host", latest - 3_600_000_000, latest, 3) == first
    # New alerts: the old entry is recomputed.
    analyze(tmp_path / "appliance.yaml", [demo_capture(tmp_path / "b.pcap", minutes=10)])
    again = service.alerts.top("host", latest - 3_600_000_000, latest, 3)
    assert again[0]["key"] == "203.0.113.66" and again[0]["count"] == 2 * first[0]["count"]


def test_warm_fills_the_dashboard_lists(service: Service) -> None:
    service.alerts.warm()
    assert len(_cached_keys(service)) == 6


def test_hour_bounds() -> None:
    hour = 3_600_000_000
    assert hour_floor(5 * hour + 1) == 5 * hour and hour_ceil(5 * hour + 1) == 6 * hour
    assert hour_ceil(5 * hour) == 5 * hour
