"""Retention on a real store: age by ingest time, size oldest-first, evidence files, forecast."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.config import RetentionConfig
from appliance.events import EveRecord, decode_line
from appliance.store import EventQuery, EventStore, event_id, open_store
from appliance.store import sqlite as sqlite_module
from appliance.store.retention import ROW_OVERHEAD_BYTES, RetentionReport

DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000
MIB = 1024 * 1024
START_US = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z


class Clock:
    """The store's wall clock, moved by the test (``time.time`` and ``time.time_ns``)."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def time(self) -> float:
        return self.now_us / 1_000_000

    def time_ns(self) -> int:
        return self.now_us * 1000

    def advance(self, *, days: float = 0, hours: float = 0) -> int:
        self.now_us += int(days * DAY_US + hours * HOUR_US)
        return self.now_us


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(START_US)
    monkeypatch.setattr(sqlite_module, "time", fake)
    return fake


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "spanwatch.db"


@pytest.fixture
def store(db: Path, clock: Clock) -> Iterator[EventStore]:
    opened = open_store(db)
    yield opened
    opened.close()


def _budget(**kinds: tuple[int, int]) -> RetentionConfig:
    """Budgets as (max_days, max_mb) per kind; unnamed kinds keep their defaults."""
    return RetentionConfig.model_validate(
        {kind: {"max_days": d, "max_mb": mb} for kind, (d, mb) in kinds.items()}
    )


class Feed:
    """Writes batches of synthetic EVE into one source, as a sensor would."""

    def __init__(self, store: EventStore, name: str = "eve.json") -> None:
        self.store = store
        self.source = store.source_id(name.encode(), name)
        self.offset = 0
        self.rng = random.Random(name)

    def batch(self, event_type: str, n: int, *, ts_us: int = START_US, **extra: Any) -> list[int]:
        """Store ``n`` records of ``event_type``; returns their ids."""
        records: list[EveRecord] = []
        for i in range(n):
            record = {
                "timestamp": _ts(ts_us + i), "event_type": event_type,
                "src_ip": f"192.0.2.{self.rng.randrange(1, 255)}",
                "dest_ip": f"198.51.100.{self.rng.randrange(1, 255)}",
                "flow_id": self.rng.getrandbits(50), "note": f"{self.rng.getrandbits(64):x}",
                **extra,
            }  # fmt: skip
            raw = json.dumps(record).encode()
            records.append(decode_line(raw, event_id(self.source, self.offset)))
            self.offset += len(raw) + 1
        assert self.store.add_events(records, "dc1-core") == n
        return [r.id for r in records]


def _ts(us: int) -> str:
    secs, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{micros:06d}+0000"


def _alert_extra(sid: int = 2100498) -> dict[str, Any]:
    return {"alert": {"signature_id": sid, "signature": "GPL ATTACK_RESPONSE", "severity": 2}}


def _stored_ids(store: EventStore, **query: Any) -> set[int]:
    return {r["_id"] for r in store.events(EventQuery(**query))}


def _chunks(db: Path, kind: str) -> list[tuple[int, int, int]]:
    """(id, ingested_at, cost in bytes as retention counts it) per chunk, oldest first."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT id, ingested_at, length(data) + n * ? FROM chunks WHERE kind = ? "
            "ORDER BY ingested_at", (ROW_OVERHEAD_BYTES, kind),
        ).fetchall()  # fmt: skip
    finally:
        conn.close()


def _host_chunks(db: Path) -> set[int]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT chunk FROM chunk_hosts")}
    finally:
        conn.close()


# -- age -----------------------------------------------------------------------------------


def test_metadata_past_its_age_is_removed_and_alerts_of_the_same_age_kept(
    db: Path, store: EventStore, clock: Clock
) -> None:
    feed = Feed(store)
    old_flows = feed.batch("flow", 50)
    old_alerts = feed.batch("alert", 5, **_alert_extra())
    clock.advance(days=31)
    new_flows = feed.batch("flow", 20)
    report = store.apply_retention(_budget(metadata=(30, 1024), alerts=(365, 1024)),
                                   now_us=clock.now_us)  # fmt: skip
    assert _stored_ids(store, event_type="flow") == set(new_flows)
    assert _stored_ids(store, event_type="alert") == set(old_alerts)
    assert not _stored_ids(store) & set(old_flows)
    assert report.kinds["metadata"].removed_events == 50
    assert report.kinds["metadata"].events == 20
    assert report.kinds["alerts"].removed_events == 0
    # The zone map forgets the removed chunks too.
    assert _host_chunks(db) == {c for c, _, _ in _chunks(db, "metadata") + _chunks(db, "alerts")}


def test_data_just_inside_the_age_budget_is_kept(store: EventStore, clock: Clock) -> None:
    feed = Feed(store)
    flows = feed.batch("flow", 10)
    clock.advance(days=29, hours=23)
    report = store.apply_retention(_budget(metadata=(30, 1024)), now_us=clock.now_us)
    assert _stored_ids(store) == set(flows)
    assert report.kinds["metadata"].removed_events == 0


def test_alerts_go_after_their_own_longer_age(store: EventStore, clock: Clock) -> None:
    feed = Feed(store)
    feed.batch("alert", 5, **_alert_extra())
    clock.advance(days=366)
    kept = feed.batch("alert", 3, **_alert_extra(9000001))
    report = store.apply_retention(_budget(alerts=(365, 1024)), now_us=clock.now_us)
    assert _stored_ids(store) == set(kept)
    assert report.kinds["alerts"].removed_events == 5
    assert store.alert_counts() == {9000001: 3}


def test_age_counts_from_ingestion_not_from_the_event_time(store: EventStore, clock: Clock) -> None:
    # An analysed capture from 2010 is not deleted the moment it is imported.
    ids = Feed(store).batch("dns", 30, ts_us=1_282_356_640_000_000)
    report = store.apply_retention(_budget(metadata=(1, 1024)), now_us=clock.now_us)
    assert _stored_ids(store) == set(ids)
    assert report.kinds["metadata"].removed_events == 0


# -- size ----------------------------------------------------------------------------------


def test_size_budget_removes_oldest_chunks_first_and_keeps_the_newest(
    db: Path, store: EventStore, clock: Clock
) -> None:
    feed = Feed(store)
    batches = []
    for _ in range(12):
        batches.append(feed.batch("flow", 1000))
        clock.advance(hours=1)
    alerts = feed.batch("alert", 10, **_alert_extra())
    before = _chunks(db, "metadata")
    assert sum(cost for _, _, cost in before) > MIB, "the test data must exceed 1 MiB"
    report = store.apply_retention(_budget(metadata=(30, 1)), now_us=clock.now_us)
    after = _chunks(db, "metadata")
    usage = report.kinds["metadata"]
    assert usage.bytes == sum(cost for _, _, cost in after) <= MIB
    # Oldest first: what is left is the newest run of batches, the newest among them.
    assert after == before[len(before) - len(after) :]
    assert after[-1] == before[-1]
    # No more than needed: the next older chunk would not have fitted.
    assert usage.bytes + before[len(before) - len(after) - 1][2] > MIB
    kept = _stored_ids(store, event_type="flow")
    assert kept == set().union(*batches[len(batches) - len(after) :])
    assert usage.removed_events == 1000 * (len(before) - len(after))
    assert _stored_ids(store, event_type="alert") == set(alerts)


def test_within_the_size_budget_nothing_is_removed(store: EventStore, clock: Clock) -> None:
    feed = Feed(store)
    for _ in range(3):
        feed.batch("flow", 200)
        clock.advance(hours=1)
    report = store.apply_retention(_budget(metadata=(30, 1)), now_us=clock.now_us)
    assert report.kinds["metadata"].removed_events == 0
    assert store.count_events(EventQuery()) == 600


# -- evidence files -------------------------------------------------------------------------


def _file(folder: Path, name: str, size: int, age_s: float, now: float) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_evidence_files_past_their_age_are_removed(store: EventStore, tmp_path: Path) -> None:
    now = time.time()
    pcap, files = tmp_path / "sensors/eth1/pcap", tmp_path / "sensors/eth1/files"
    old = [_file(pcap, "log.pcap.1", 1000, 15 * 86_400, now),
           _file(files, "ab/abcdef", 500, 20 * 86_400, now)]  # fmt: skip
    young = [_file(pcap, "log.pcap.2", 1000, 13 * 86_400, now),
             _file(files, "cd/cdef01", 500, 60, now)]  # fmt: skip
    report = store.apply_retention(
        _budget(pcap=(14, 1024)), evidence_dirs=[pcap, files, tmp_path / "absent"],
        now_us=int(now * 1_000_000),
    )  # fmt: skip
    assert [p.exists() for p in old] == [False, False]
    assert [p.exists() for p in young] == [True, True]
    assert report.kinds["pcap"].removed_files == 2
    assert report.kinds["pcap"].bytes == 1500


def test_evidence_size_budget_removes_oldest_files_first(store: EventStore, tmp_path: Path) -> None:
    now = time.time()
    folder = tmp_path / "pcap"
    size = 400_000
    by_age = [_file(folder, f"log.pcap.{h}", size, h * 3600, now) for h in (10, 8, 6, 4)]
    busy = _file(folder, "log.pcap.current", size, 30, now)
    report = store.apply_retention(
        _budget(pcap=(14, 1)), evidence_dirs=[folder], now_us=int(now * 1_000_000)
    )
    assert [p.exists() for p in by_age] == [False, False, False, True]
    assert busy.exists()
    assert report.kinds["pcap"].removed_files == 3
    assert report.kinds["pcap"].bytes == 2 * size <= MIB


def test_files_written_in_the_last_two_minutes_are_never_removed_for_size(
    store: EventStore, tmp_path: Path
) -> None:
    now = time.time()
    folder = tmp_path / "files"
    recent = [_file(folder, f"f{i}", 600_000, age, now) for i, age in enumerate((100, 50, 1))]
    report = store.apply_retention(
        _budget(pcap=(14, 1)), evidence_dirs=[folder], now_us=int(now * 1_000_000)
    )
    assert all(p.exists() for p in recent)
    assert report.kinds["pcap"].removed_files == 0
    assert report.kinds["pcap"].bytes == 1_800_000


# -- forecast ---------------------------------------------------------------------------------


def test_days_left_is_finite_while_data_arrives(store: EventStore, clock: Clock) -> None:
    feed = Feed(store)
    for _ in range(4):
        feed.batch("flow", 500)
        clock.advance(days=1)
    report = store.apply_retention(_budget(metadata=(30, 100)), now_us=clock.now_us)
    usage = report.kinds["metadata"]
    assert usage.bytes_per_day > 0
    assert usage.days_left is not None
    assert 0 < usage.days_left < float("inf")
    # Four batches over three days: the budget's free space at that rate.
    assert usage.days_left == pytest.approx((100 * MIB - usage.bytes) / (usage.bytes / 3))
    assert f"budget lasts {usage.days_left:.0f} days" in report.describe()


def test_days_left_is_unknown_without_data(store: EventStore, clock: Clock) -> None:
    report = store.apply_retention(_budget(), now_us=clock.now_us)
    assert isinstance(report, RetentionReport)
    for kind in ("alerts", "metadata", "pcap"):
        assert report.kinds[kind].days_left is None
        assert report.kinds[kind].bytes == 0
    assert report.describe().count("budget lasts unknown") == 3


def test_days_left_is_unknown_when_nothing_arrived_for_a_week(
    store: EventStore, clock: Clock
) -> None:
    Feed(store).batch("flow", 100)
    clock.advance(days=8)
    report = store.apply_retention(_budget(metadata=(30, 100)), now_us=clock.now_us)
    assert report.kinds["metadata"].events == 100
    assert report.kinds["metadata"].days_left is None


def test_the_size_budget_holds_even_against_one_oversized_batch(
    store: EventStore, clock: Clock
) -> None:
    Feed(store).batch("flow", 8000)
    report = store.apply_retention(_budget(metadata=(30, 1)), now_us=clock.now_us)
    usage = report.kinds["metadata"]
    # Chunks go whole: one larger than the budget goes, and nothing is left to forecast.
    assert (usage.events, usage.bytes, usage.removed_events) == (0, 0, 8000)
    assert usage.days_left is None
