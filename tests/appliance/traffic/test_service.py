"""TrafficService: throughput with capture health, tops, a host, flow search, the daily section."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from appliance.errors import ApplianceError
from appliance.events import decode_line
from appliance.store import open_store
from appliance.traffic.fold import run_maintenance
from appliance.traffic.follow import catch_up
from appliance.traffic.service import TrafficService
from appliance.traffic.settings import DAY, HOUR, MINUTE, RollupSettings

T0 = 1_767_225_600_000_000 - 7 * HOUR  # 2026-01-01 00:00 in Hanoi


def _iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f") + "+0000"


def flow(i: int, start: int, *, src: str, dest: str, port: int = 443, app: str = "tls",
         bts: int = 1_000, btc: int = 9_000, seconds: int = 2) -> dict[str, Any]:
    end = start + seconds * 1_000_000
    return {"timestamp": _iso(end), "flow_id": i, "event_type": "flow", "src_ip": src,
            "src_port": 40000 + i % 20000, "dest_ip": dest, "dest_port": port, "proto": "TCP",
            "app_proto": app,
            "flow": {"pkts_toserver": 10, "pkts_toclient": 10, "bytes_toserver": bts,
                     "bytes_toclient": btc, "start": _iso(start), "end": _iso(end)}}  # fmt: skip


def stats(ts: int, packets: int, drops: int, uptime: int) -> dict[str, Any]:
    return {"timestamp": _iso(ts), "event_type": "stats", "in_iface": "eth1",
            "stats": {"uptime": uptime, "capture": {"kernel_packets": packets,
                                                    "kernel_drops": drops}}}  # fmt: skip


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrafficService]:
    """Two days of a small network: a web server, a busy client, a few outside peers."""
    records = []
    i = 0
    for day in range(2):
        for minute in range(0, 1440, 10):
            start = T0 + day * DAY + minute * MINUTE
            records.append(flow(i := i + 1, start, src="198.51.100.7", dest="10.0.0.80", port=80,
                                app="http", bts=500, btc=20_000))  # fmt: skip
            records.append(flow(i := i + 1, start, src="10.0.0.21", dest="8.8.8.8", port=53,
                                app="dns", bts=80, btc=200))  # fmt: skip
            records.append(flow(i := i + 1, start, src="10.0.0.21", dest="113.160.0.1",
                                bts=3_000, btc=90_000))  # fmt: skip
    # A busy hour on day two: 14:00-15:00 local.
    for n in range(60):
        records.append(flow(i := i + 1, T0 + DAY + 14 * HOUR + n * MINUTE, src="10.0.0.21",
                            dest="113.160.0.1", bts=10_000, btc=5_000_000))  # fmt: skip
    records += [stats(T0 + 5 * MINUTE, 1000, 0, 100), stats(T0 + 6 * MINUTE, 5000, 40, 160),
                stats(T0 + 7 * MINUTE, 300, 2, 5)]  # a restart: counters start again
    store = open_store(tmp_path_factory.mktemp("traffic") / "s.db")
    lines = [decode_line(orjson.dumps(r), n * 1000) for n, r in enumerate(records)]
    for start in range(0, len(lines), 500):
        store.add_events(lines[start:start + 500], "dc-core")
    catch_up(store)
    run_maintenance(store.connection, RollupSettings())  # type: ignore[attr-defined]
    yield TrafficService(store)
    store.close()


def test_throughput_in_bits_per_second_with_span_drops_beside_it(service: TrafficService) -> None:
    points = service.throughput(T0, T0 + 15 * MINUTE, step=0)
    first = points[0]
    assert first.ts == T0
    assert first.bits_per_s == pytest.approx((20_500 + 280 + 93_000) * 8 / 60)
    assert first.flows_per_s == pytest.approx(3 / 60)
    by_ts = {p.ts: p for p in points}
    assert by_ts[T0 + 6 * MINUTE].drops == 40 and by_ts[T0 + 6 * MINUTE].packets_seen == 4000
    assert by_ts[T0 + 7 * MINUTE].drops == 2 and by_ts[T0 + 7 * MINUTE].packets_seen == 300
    health = service.capture_health(T0, T0 + DAY)
    assert health == [{"sensor": "dc-core", "iface": "eth1", "packets": 5300, "drops": 42,
                       "drop_ratio": pytest.approx(42 / 5342)}]  # fmt: skip


def test_a_chart_over_two_days_has_hourly_points_with_the_peak(service: TrafficService) -> None:
    points = service.throughput(T0, T0 + 2 * DAY)
    assert len(points) == 48
    peak = max(points, key=lambda p: p.bits_per_s)
    assert peak.ts == T0 + DAY + 14 * HOUR


def test_tops_rank_by_bytes(service: TrafficService) -> None:
    apps = service.top("app", T0, T0 + 2 * DAY)
    assert [a.key for a in apps] == ["tls", "http", "dns"]
    talkers = service.top("talker", T0, T0 + 2 * DAY, n=2)
    assert [t.key for t in talkers] == ["10.0.0.21", "10.0.0.80"]
    assert talkers[1].extra == {"bytes_out": 288 * 20_000, "bytes_in": 288 * 500}
    services = service.top("service", T0, T0 + 2 * DAY)
    assert [s.key for s in services] == ["tcp/443", "tcp/80", "tcp/53"]
    countries = {c.key: c.label for c in service.top("country", T0, T0 + 2 * DAY)}
    # 198.51.100.7 is documentation space: it has no country.
    assert countries == {"VN": "VN", "US": "US", "--": "(unknown)"}
    conv = service.top("conversation", T0, T0 + 2 * DAY, n=1)[0]
    assert conv.label == "10.0.0.21 → 113.160.0.1"
    with pytest.raises(ValueError):
        service.top("planet", T0, T0 + DAY)


def test_a_range_not_aligned_to_days_is_still_exact(service: TrafficService) -> None:
    # 13:30 on day one to 14:30 on day two: partial hours at both ends, no whole day.
    since, until = T0 + 13 * HOUR + 30 * MINUTE, T0 + DAY + 14 * HOUR + 30 * MINUTE
    totals = service.totals(since, until)
    per_minute = sum(p.bits_per_s * 60 / 8 for p in service.throughput(since, until, step=0))
    assert totals["bytes"] == pytest.approx(per_minute)
    assert totals["flows"] == 3 * 150 + 30  # and the busy hour's first 30 minutes


def test_a_host_page_has_its_traffic_peers_and_services(service: TrafficService) -> None:
    host = service.host("10.0.0.80", T0, T0 + 2 * DAY)
    assert host.totals["bytes_out"] == 288 * 20_000 and host.totals["flows_in"] == 288
    assert [p.key for p in host.peers] == ["198.51.100.7"]
    assert [c.key for c in host.services_offered] == ["tcp/80"]
    assert host.first_seen == T0
    client = service.host("10.0.0.21", T0, T0 + 2 * DAY)
    assert {s.label for s in client.services_used} == {"tcp/443", "tcp/53"}
    assert {(c.kind, c.key) for c in client.countries} >= {("cc", "VN"), ("cc", "US")}
    with pytest.raises(ApplianceError):
        service.host("10.0.0.300", T0, T0 + DAY)


def test_flow_search_filters_by_host_port_application_and_country(service: TrafficService
                                                                   ) -> None:  # fmt: skip
    page = service.flows(T0, T0 + DAY, ip="10.0.0.21", port=53, limit=5)
    assert page.total == 144 and len(page.items) == 5
    assert all(r["dest_port"] == 53 for r in page.items)
    assert service.flows(T0, T0 + 2 * DAY, app="http").total == 288
    assert service.flows(T0, T0 + 2 * DAY, country="VN").total == 288 + 60
    with pytest.raises(ApplianceError):
        service.flows(T0, T0 + DAY, port=70000)


def test_the_daily_report_section(service: TrafficService) -> None:
    day = service.daily(T0 + DAY)
    assert day["volume"]["flows"] == 3 * 144 + 60
    assert day["peak_hour"]["start"] == T0 + DAY + 14 * HOUR
    assert day["top_talkers"][0]["key"] == "10.0.0.21"
    assert day["new_destinations"] == []  # every destination was already seen on day one
    first = service.daily(T0)
    assert first["volume"]["flows"] == 3 * 144
