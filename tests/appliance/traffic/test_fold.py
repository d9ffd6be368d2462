"""Folding minutes into hours and days keeps totals exact; retention drops the oldest first."""

from __future__ import annotations

import random
from pathlib import Path

from appliance.store import open_store
from appliance.traffic.fold import maintain, run_maintenance, watermarks
from appliance.traffic.follow import RollupFollower, catch_up
from appliance.traffic.rollup import Rollup
from appliance.traffic.settings import (
    DAY,
    HOUR,
    MINUTE,
    RES_DAY,
    RES_HOUR,
    RES_MINUTE,
    RollupSettings,
    write_settings,
)
from appliance.traffic.sql import upsert_sums

T0 = 1_767_225_600_000_000 - 7 * HOUR  # 2026-01-01 00:00 in Hanoi (UTC+7)


def _sums(conn, res: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    row = conn.execute("SELECT sum(bytes), sum(flows) FROM traffic_app WHERE res = ?",
                       (res,)).fetchone()  # fmt: skip
    return int(row[0] or 0), int(row[1] or 0)


def _fill(conn, minutes: list[int]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    rnd = random.Random(3)
    rows = {}
    for m in minutes:
        for app in ("tls", "dns", "http"):
            rows[(m, app)] = [rnd.randint(1, 10**7), rnd.randint(1, 10**4), rnd.randint(1, 99)]
    iface: dict[tuple[int, int, str], list[int]] = {}
    for (m, _app), sums in rows.items():
        have = iface.setdefault((m, 1, "eth1"), [0, 0, 0])
        for i, v in enumerate(sums):
            have[i] += v
    conn.execute("BEGIN IMMEDIATE")
    upsert_sums(conn, "traffic_app", RES_MINUTE, rows)
    upsert_sums(conn, "traffic_iface", RES_MINUTE, iface)
    conn.execute("COMMIT")
    return sum(v[0] for v in rows.values()), sum(v[2] for v in rows.values())


def test_folding_minutes_into_hours_and_days_keeps_totals_exact(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    try:
        minutes = [T0 + i * 7 * MINUTE for i in range(3 * 24 * 60 // 7)]  # three days
        total = _fill(conn, minutes)
        settings = RollupSettings(retention_days={0: 365, 1: 365, 2: 365})
        report = run_maintenance(conn, settings)
        newest = max(minutes)
        # Days take every folded hour: the last day's row holds it up to the hour mark.
        assert watermarks(conn) == {RES_HOUR: newest - newest % HOUR,
                                    RES_DAY: newest - newest % HOUR}  # fmt: skip
        assert report.folded[RES_HOUR][0] == 0
        hours = conn.execute("SELECT DISTINCT bucket FROM traffic_app WHERE res = 1").fetchall()
        assert all(b % HOUR == 0 for (b,) in hours)
        days = conn.execute("SELECT DISTINCT bucket FROM traffic_app WHERE res = 2").fetchall()
        assert sorted(b for (b,) in days) == [T0, T0 + DAY, T0 + 2 * DAY]  # local midnights
        assert _sums(conn, RES_MINUTE) == total
        marks = watermarks(conn)
        folded = conn.execute(
            "SELECT sum(bytes), sum(flows) FROM traffic_app WHERE res = 0 AND bucket < ?",
            (marks[RES_HOUR],)).fetchone()  # fmt: skip
        assert _sums(conn, RES_HOUR) == tuple(folded)
        in_days = conn.execute(
            "SELECT sum(bytes), sum(flows) FROM traffic_app WHERE res = 0 AND bucket < ?",
            (marks[RES_DAY],)).fetchone()  # fmt: skip
        assert _sums(conn, RES_DAY) == tuple(in_days)
        # Folding again changes nothing.
        run_maintenance(conn, settings)
        assert _sums(conn, RES_HOUR) == tuple(folded)
    finally:
        store.close()


def test_late_minutes_before_the_watermark_reach_hours_and_days(tmp_path: Path) -> None:
    from appliance.events import decode_line
    from appliance.traffic.reader import TrafficReader
    from tests.appliance.traffic.test_rollup import _flow_line

    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    views = TrafficReader(store)
    follower = RollupFollower(store)
    try:
        store.add_events([decode_line(_flow_line(1, T0 + 2 * DAY, T0 + 2 * DAY + 1), 1)], "s")
        follower.run_once()
        run_maintenance(conn, RollupSettings())
        assert watermarks(conn)[RES_DAY] == T0 + 2 * DAY
        # A flow logged late, two days back: every view counts it at once, whether the range
        # is read from days, hours or minutes.
        store.add_events([decode_line(_flow_line(2, T0 + 5 * MINUTE, T0 + 6 * MINUTE), 2)], "s")
        follower.run_once()
        assert conn.execute("SELECT count(*) FROM traffic_iface_late").fetchone()[0] == 1
        for since, until in ((T0, T0 + DAY), (T0, T0 + HOUR), (T0 + 5 * MINUTE, T0 + 7 * MINUTE),
                             (T0 - DAY, T0 + 3 * DAY)):  # fmt: skip
            expected = 610_000 + (610_000 if until > T0 + 2 * DAY else 0)
            assert views.totals(since, until)["bytes"] == expected, (since, until)
            assert sum(t.bytes for t in views.top("app", since, until)) == expected
        # The next maintenance pass adds it to the hours and days themselves.
        run_maintenance(conn, RollupSettings())
        for res in (RES_MINUTE, RES_HOUR, RES_DAY):
            row = conn.execute("SELECT sum(bytes) FROM traffic_iface WHERE res = ? AND "
                               "bucket < ?", (res, T0 + DAY)).fetchone()  # fmt: skip
            assert row[0] == 610_000, res
        assert conn.execute("SELECT count(*) FROM traffic_iface_late").fetchone()[0] == 0
        assert views.totals(T0, T0 + DAY)["bytes"] == 610_000
    finally:
        store.close()


def test_a_follower_finishing_folds_the_late_rows_it_left(tmp_path: Path) -> None:
    from appliance.events import decode_line
    from tests.appliance.traffic.test_rollup import _flow_line

    store = open_store(tmp_path / "s.db")
    store.add_events([decode_line(_flow_line(1, T0 + 2 * DAY, T0 + 2 * DAY + 1), 1)], "s")
    catch_up(store)
    run_maintenance(store.connection, RollupSettings())  # type: ignore[attr-defined]
    store.add_events([decode_line(_flow_line(2, T0 + 5 * MINUTE, T0 + 6 * MINUTE), 2)], "s")
    catch_up(store)  # as `spanwatch analyze` or `ingest` end: nothing left for the next fold
    store.close()
    store = open_store(tmp_path / "s.db", readonly=True)
    conn = store.connection  # type: ignore[attr-defined]
    try:
        assert conn.execute("SELECT count(*) FROM traffic_app_late").fetchone()[0] == 0
        assert conn.execute("SELECT sum(bytes) FROM traffic_app WHERE res = 2 AND bucket < ?",
                            (T0 + DAY,)).fetchone()[0] == 610_000  # fmt: skip
    finally:
        store.close()


def test_retention_drops_the_oldest_buckets_first_and_only_folded_ones(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    try:
        minutes = [T0 + i * 30 * MINUTE for i in range(10 * 48)]  # ten days, every 30 minutes
        total = _fill(conn, minutes)
        settings = RollupSettings(retention_days={0: 2, 1: 5, 2: 8})
        run_maintenance(conn, settings)
        newest = max(minutes)
        for res, days in ((RES_MINUTE, 2), (RES_HOUR, 5), (RES_DAY, 8)):
            oldest = conn.execute("SELECT min(bucket) FROM traffic_app WHERE res = ?",
                                  (res,)).fetchone()[0]  # fmt: skip
            assert oldest >= newest - days * DAY - DAY, res
            assert oldest <= newest - (days - 1) * DAY, res
        # The newest data is still there at every resolution it has reached.
        assert conn.execute("SELECT max(bucket) FROM traffic_app WHERE res = 0").fetchone()[0] \
            == newest
        # Nothing newer than the retention was lost: days + later hours + later minutes.
        marks = watermarks(conn)
        kept = (conn.execute("SELECT total(flows) FROM traffic_app WHERE res = 2").fetchone()[0]
                + conn.execute("SELECT total(flows) FROM traffic_app WHERE res = 1 AND "
                               "bucket >= ?", (marks[RES_DAY],)).fetchone()[0]
                + conn.execute("SELECT total(flows) FROM traffic_app WHERE res = 0 AND "
                               "bucket >= ?", (marks[RES_HOUR],)).fetchone()[0])  # fmt: skip
        dropped = conn.execute("SELECT count(*) FROM traffic_app WHERE res = 2 AND bucket < ?",
                               (newest - 8 * DAY,)).fetchone()[0]  # fmt: skip
        assert dropped == 0
        assert 0 < kept < total[1]  # the first day or two are gone, the rest is exact
    finally:
        store.close()


def test_the_ingest_transaction_folds_once_a_minute(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    try:
        write_settings(conn, RollupSettings())
        rollup = Rollup(conn)
        _fill(conn, [T0, T0 + 2 * HOUR])
        conn.execute("BEGIN IMMEDIATE")
        maintain(conn, rollup.settings)
        conn.execute("COMMIT")
        assert watermarks(conn)[RES_HOUR] == T0 + 2 * HOUR
    finally:
        store.close()


def test_many_late_rows_are_folded_before_the_minute_is_up(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from appliance.events import decode_line
    from appliance.traffic import rollup
    from tests.appliance.traffic.test_rollup import _flow_line

    monkeypatch.setattr(rollup, "LATE_FOLD_ROWS", 2)  # instead of 50,000 rows
    store = open_store(tmp_path / "s.db")
    conn = store.connection  # type: ignore[attr-defined]
    follower = RollupFollower(store)
    try:
        # The first round maintains at once and sets the watermarks past the late flows.
        store.add_events([decode_line(_flow_line(1, T0 + 2 * DAY, T0 + 2 * DAY + 1), 1)], "s")
        follower.run_once()
        late = [decode_line(_flow_line(i, T0 + i * MINUTE, T0 + i * MINUTE + 1), i)
                for i in range(2, 5)]  # fmt: skip
        store.add_events(late, "s")
        follower.run_once()
        assert conn.execute("SELECT count(*) FROM traffic_iface_late").fetchone()[0] == 0
        row = conn.execute("SELECT sum(bytes) FROM traffic_iface WHERE res = 2 AND bucket < ?",
                           (T0 + DAY,)).fetchone()  # fmt: skip
        assert row[0] == 3 * 610_000
    finally:
        store.close()
