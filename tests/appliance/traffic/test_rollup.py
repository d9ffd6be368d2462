"""Rollups at ingest: exact totals on real captures, exactly once, spread and classified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from appliance.events import decode_line
from appliance.store import EventQuery, open_store
from appliance.traffic.fold import run_maintenance
from appliance.traffic.follow import catch_up
from appliance.traffic.query import current_marks
from appliance.traffic.service import TrafficService
from appliance.traffic.settings import DAY, MINUTE, RollupSettings, load_settings, write_settings
from tests.helpers.cli import REPO, run_spanwatch

CAPTURES = ("c2-malware/chrissanders_cryptowall4_c2.pcapng",
            "dns-tunneling/ndpi_dns-tunnel-iodine.pcap",
            "dos/stopddos_pkt.TCP.synflood.spoofed.pcap",
            "exploit/markofu_attack-trace.pcap",
            "brute-force/zeek_sshguess.pcap")  # fmt: skip
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def _config(tmp: Path) -> Path:
    data = {"sensor": {"name": "traffic-test"},
            "networks": {"home": ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]},
            "data_dir": str(tmp / "data"),
            "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
            "analyzers": {},
            # The captures span 2009-2026; retention counts back from the newest data, so
            # keep every day for these totals (retention has its own tests).
            "traffic": {"retention": {"day_days": 36500}}}  # fmt: skip
    path = tmp / "appliance.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Path:
    """A store holding the shared captures and the project's demo traffic, analysed at once."""
    tmp = tmp_path_factory.mktemp("rollup")
    demo = tmp / "demo.pcap"
    done = run_spanwatch("demo-capture", demo, "--scenario", "demo")
    assert done.returncode == 0, done.stderr
    config = _config(tmp)
    done = run_spanwatch("analyze", "--config", config, "-q", "--json", "--checksum", "none",
                         *[testdata / "pcaps" / c for c in CAPTURES], demo)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return tmp / "data" / "spanwatch.db"


def _flow_sums(store: Any) -> tuple[int, int, int]:
    b = p = n = 0
    for record in store.events(EventQuery(event_type="flow")):
        flow = record["flow"]
        b += flow["bytes_toserver"] + flow["bytes_toclient"]
        p += flow["pkts_toserver"] + flow["pkts_toclient"]
        n += 1
    return b, p, n


def _all_time(service: TrafficService) -> dict[str, int]:
    return service.totals(0, T0 + 3650 * DAY)


def test_totals_equal_the_sums_of_suricatas_flow_records(analysed: Path) -> None:
    store = open_store(analysed)
    try:
        b, p, n = _flow_sums(store)
        assert n > 1000  # the spoofed SYN flood alone logs thousands of flows
        service = TrafficService(store)
        assert _all_time(service) == {"bytes": b, "packets": p, "flows": n}
        # Every dimension that counts every flow adds up to the same totals.
        for dim in ("app", "service"):
            items = service.top(dim, 0, T0 + 3650 * DAY, n=10_000)
            assert sum(i.bytes for i in items) == b, dim
            assert sum(i.flows for i in items) == n, dim
        conv = service.top("conversation", 0, T0 + 3650 * DAY, n=1_000_000)
        assert sum(i.bytes for i in conv) == b
        # Folding everything that is complete keeps the totals exact.
        run_maintenance(store.connection, load_settings(store.connection))  # type: ignore[attr-defined]
        assert current_marks(store.connection)[1] > 0  # type: ignore[attr-defined]
        assert _all_time(service) == {"bytes": b, "packets": p, "flows": n}
    finally:
        store.close()


def test_inside_hosts_and_remote_countries_are_classified(analysed: Path) -> None:
    store = open_store(analysed, readonly=True)
    try:
        service = TrafficService(store)
        end = T0 + 3650 * DAY
        talkers = {t.key: t for t in service.top("talker", 0, end, n=1000)}
        assert "192.168.122.145" in talkers  # the CryptoWall victim, inside HOME_NET
        assert all(k.startswith(("10.", "192.168.", "172.")) for k in talkers)
        victim = talkers["192.168.122.145"]
        assert victim.extra["bytes_in"] > victim.extra["bytes_out"] > 0  # it downloaded
        countries = {c.key for c in service.top("country", 0, end, n=300)}
        assert "US" in countries  # 184.170.149.44, CryptoWall's server
        host = service.host("192.168.122.145", 0, end)
        assert "184.170.149.44" in {peer.key for peer in host.peers}
        assert any(c.kind == "cc" and c.key == "US" for c in host.countries)
    finally:
        store.close()


def _flow_line(i: int, start_us: int, end_us: int, **extra: Any) -> bytes:
    def iso(us: int) -> str:
        import datetime as dt

        when = dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"

    record = {"timestamp": iso(end_us), "flow_id": i, "event_type": "flow",
              "src_ip": "10.1.0.7", "src_port": 40000 + i, "dest_ip": "198.51.100.20",
              "dest_port": 443, "proto": "TCP", "app_proto": "tls",
              "flow": {"pkts_toserver": 100, "pkts_toclient": 200, "bytes_toserver": 10_000,
                       "bytes_toclient": 600_000, "start": iso(start_us), "end": iso(end_us)},
              **extra}  # fmt: skip
    return orjson.dumps(record)


def test_a_batch_stored_twice_is_counted_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        records = [decode_line(_flow_line(i, T0 + i * MINUTE, T0 + i * MINUTE + 5_000_000), i)
                   for i in range(50)]  # fmt: skip
        assert store.add_events(records, "s1") == 50
        catch_up(store)
        assert store.add_events(records, "s1") == 0  # read again after a crash
        catch_up(store)
        service = TrafficService(store)
        assert _all_time(service) == {"bytes": 50 * 610_000, "packets": 50 * 300, "flows": 50}
    finally:
        store.close()


def test_a_long_flow_lands_in_the_minutes_it_spans(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        line = _flow_line(1, T0, T0 + 10 * MINUTE)
        store.add_events([decode_line(line, 1)], "s1")
        catch_up(store)
        points = TrafficService(store).throughput(T0 - MINUTE, T0 + 12 * MINUTE, step=0)
        assert [pt.ts for pt in points] == [T0 + i * MINUTE for i in range(10)]
        assert sum(pt.bits_per_s * 60 / 8 for pt in points) == pytest.approx(610_000)
        assert points[0].flows_per_s == pytest.approx(1 / 60)
    finally:
        store.close()


def test_rollups_can_be_turned_off(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        write_settings(store.connection, RollupSettings(enabled=False))  # type: ignore[attr-defined]
        store.add_events([decode_line(_flow_line(1, T0, T0 + 1), 1)], "s1")
        assert catch_up(store).cursor == 1  # passed over
        assert _all_time(TrafficService(store))["flows"] == 0
    finally:
        store.close()


def test_cli_prints_the_same_tops_as_json(analysed: Path) -> None:
    config = analysed.parent.parent / "appliance.yaml"
    done = run_spanwatch("traffic", "--config", config, "--since", "all", "--json", "-n", "3")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    store = open_store(analysed, readonly=True)
    try:
        b, _p, n = _flow_sums(store)
    finally:
        store.close()
    assert report["totals"]["bytes"] == b and report["totals"]["flows"] == n
    assert set(report["top"]) == {"app", "service", "talker", "conversation", "country", "asn"}
    assert all(len(items) <= 3 for items in report["top"].values())


def test_the_cli_says_when_stored_events_are_not_rolled_up_yet(tmp_path: Path) -> None:
    config = _config(tmp_path)
    data = yaml.safe_load(config.read_text())["data_dir"]
    store = open_store(Path(data) / "spanwatch.db")
    try:
        store.add_events([decode_line(_flow_line(1, T0, T0 + 1), 1)], "s1")  # a sensor's
    finally:
        store.close()
    behind = run_spanwatch("traffic", "--config", config, "--since", "all")
    assert behind.returncode == 0, behind.stderr
    assert "1 stored chunks of events are not in the traffic rollups yet" in behind.stderr
    assert "spanwatch core" in behind.stderr
    store = open_store(Path(data) / "spanwatch.db")
    try:
        catch_up(store)
    finally:
        store.close()
    done = run_spanwatch("traffic", "--config", config, "--since", "all", "--json")
    assert done.returncode == 0 and "not in the traffic rollups" not in done.stderr
    assert json.loads(done.stdout)["totals"]["flows"] == 1


def test_deleting_a_failed_analysis_takes_its_flows_out_of_the_rollups(tmp_path: Path) -> None:
    from appliance.traffic.follow import unroll_sources

    store = open_store(tmp_path / "s.db")
    try:
        source = store.source_id(b"capture-one", "one.pcap")
        keep = store.source_id(b"capture-two", "two.pcap")
        lines = [decode_line(_flow_line(i, T0 + i * MINUTE, T0 + i * MINUTE + 5), (source << 40)
                             | i) for i in range(20)]  # fmt: skip
        other = [decode_line(_flow_line(99, T0, T0 + 3 * MINUTE), (keep << 40) | 1)]
        store.add_events(lines + other, "s1")
        catch_up(store)
        conn = store.connection  # type: ignore[attr-defined]
        conn.execute("BEGIN IMMEDIATE")
        unroll_sources(store, [source])  # what delete_sources does first, in its transaction
        conn.execute("COMMIT")
        service = TrafficService(store)
        assert _all_time(service) == {"bytes": 610_000, "packets": 300, "flows": 1}
        assert [t.flows for t in service.top("app", 0, T0 + DAY)] == [1]
    finally:
        store.close()


def _flood(source: int, minute: int, pairs: list[tuple[str, str]]) -> list[Any]:
    """One flow per pair, all within ``minute`` (records of source ``source``)."""
    start = T0 + minute * MINUTE
    return [decode_line(_flow_line(i, start + i, start + i + 5, src_ip=src, dest_ip=dest),
                        (source << 40) | (minute << 20) | i)
            for i, (src, dest) in enumerate(pairs)]  # fmt: skip


def _conv_rows(store: Any, minute: int) -> int:
    return int(store.connection.execute(
        "SELECT count(*) FROM traffic_conv WHERE res = 0 AND bucket = ?",
        (T0 + minute * MINUTE,)).fetchone()[0])  # fmt: skip


def test_a_flood_of_new_pairs_keeps_a_bounded_number_of_conversation_rows(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        write_settings(store.connection, RollupSettings(conversations_per_minute=100))  # type: ignore[attr-defined]
        source = store.source_id(b"flood", "flood.pcap")
        spoofed = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(300)]
        # Minute 0: a SYN flood from 300 spoofed sources on an inside server; minute 1: an
        # inside host scans 300 outside addresses; minute 2: transit between outside hosts.
        records = (_flood(source, 0, [(ip, "10.1.0.7") for ip in spoofed])
                   + _flood(source, 1, [("10.9.9.9", ip) for ip in spoofed])
                   + _flood(source, 2, [(ip, "203.0.113.5") for ip in spoofed]))  # fmt: skip
        for start in range(0, len(records), 250):  # several batches, as an ingest writes
            store.add_events(records[start:start + 250], "s1")
            catch_up(store)
        assert [_conv_rows(store, m) for m in range(3)] == [101, 101, 101]
        service = TrafficService(store)
        end = T0 + DAY
        conv = {item.key: item for item in service.top("conversation", 0, end, n=1000)}
        assert conv["*>10.1.0.7"].flows == conv["10.9.9.9>*"].flows == conv["*>*"].flows == 200
        assert conv["*>10.1.0.7"].label == "(other hosts) → 10.1.0.7"
        assert conv["*>10.1.0.7"].extra == {"src": None, "dest": "10.1.0.7"}
        assert conv[f"{spoofed[0]}>10.1.0.7"].flows == 1  # the first pairs keep their rows
        assert sum(i.bytes for i in conv.values()) == 900 * 610_000  # nothing is lost
        victim = service.host("10.1.0.7", 0, end, n=3)
        assert (victim.peers[0].key, victim.peers[0].label) == ("*", "(other hosts)")
        assert victim.peers[0].flows == 200 and victim.totals["flows_in"] == 300
        # A failed analysis of the flood takes every pair back out, from the rows that
        # counted it (a new process: it knows nothing of which pairs had rows).
        conn = store.connection  # type: ignore[attr-defined]
        conn.execute("BEGIN IMMEDIATE")
        from appliance.traffic.follow import unroll_sources

        unroll_sources(store, [source])
        conn.execute("COMMIT")
        assert service.top("conversation", 0, end, n=1000) == []
        assert conn.execute("SELECT count(*) FROM traffic_conv WHERE bytes != 0 OR flows != 0"
                            ).fetchone()[0] == 0  # fmt: skip
    finally:
        store.close()


def test_minutes_forgotten_past_the_kept_pairs_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PAIRS_KEPT remembered pairs, the oldest minute is forgotten; a late flow of it
    (a long flow logged at its end) finds its pairs in the store, and the cap holds."""
    from appliance.traffic import rollup
    from appliance.traffic.follow import RollupFollower

    monkeypatch.setattr(rollup, "PAIRS_KEPT", 150)  # memory no test can fill otherwise
    store = open_store(tmp_path / "s.db")
    try:
        write_settings(store.connection, RollupSettings(conversations_per_minute=100))  # type: ignore[attr-defined]
        follower = RollupFollower(store)  # one process throughout: what it remembers counts
        spoofed = [f"198.51.{i // 250}.{i % 250 + 1}" for i in range(400)]
        for n, (minute, sources) in enumerate(((0, spoofed[:300]), (1, spoofed[:300]),
                                               (2, spoofed[:300]), (0, spoofed[300:]))):
            if n == 3:
                assert 0 not in follower.rollup._pairs  # forgotten for minute 2's pairs
            store.add_events(_flood(n + 1, minute, [(ip, "10.1.0.7") for ip in sources]), "s1")
            follower.run_once()
        assert [_conv_rows(store, m) for m in range(3)] == [101, 101, 101]
        conv = TrafficService(store).top("conversation", 0, T0 + DAY, n=1000)
        assert sum(i.flows for i in conv) == 1000
    finally:
        store.close()
