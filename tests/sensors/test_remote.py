"""The remote sink against the real ingest API on loopback (HTTPS, a self-signed center)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.store import open_store
from sensors.remote import RemoteSink, read_token
from tests.helpers.center import (
    Center,
    center_config,
    make_cert,
    running_center,
    sensor_config,
    ship_file,
)
from tests.helpers.eve import (
    assert_same_records,
    file_records,
    stored_records,
    wait_for,
    write_eve_file,
)


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return make_cert(tmp_path / "tls", "127.0.0.1", "localhost")


@pytest.fixture
def center(tmp_path: Path, cert: tuple[Path, Path]):
    with running_center(center_config(tmp_path / "center", *cert)) as running:
        yield running


def _counters(store_path: Path) -> dict[str, int]:
    store = open_store(store_path, readonly=True)
    try:
        return store.stats().counters
    finally:
        store.close()


def _bookmark_offset(store_path: Path) -> int | None:
    store = open_store(store_path, readonly=True)
    try:
        row = store.connection.execute("SELECT max(offset) FROM bookmarks").fetchone()  # type: ignore[attr-defined]
        return row[0]
    finally:
        store.close()


def test_a_shipped_file_is_at_the_center_record_for_record(
    tmp_path: Path, center: Center, cert: tuple[Path, Path]
) -> None:
    cfg = sensor_config(tmp_path / "s1", "site-a", center.url, cert[0])
    center.enrol(cfg)
    eve = tmp_path / "eve.json"
    write_eve_file(eve, 3000, seed=1)
    runner, sink = ship_file(cfg, eve)
    stats = runner.run()
    sink.close()
    runner.store.close()
    assert stats.lines == 3000
    assert_same_records(file_records(eve), stored_records(center.cfg.store_path))
    # The sensor's store holds the bookmark (at the end: every batch acknowledged), no events.
    assert _bookmark_offset(cfg.store_path) == eve.stat().st_size
    assert not stored_records(cfg.store_path)
    sensor = center.registry.get("site-a")
    assert sensor is not None and sensor.records == 3000 and sensor.last_contact
    assert sensor.health["buffer_batches"] >= 0


def test_shipping_again_after_losing_the_bookmarks_stores_nothing_twice(
    tmp_path: Path, center: Center, cert: tuple[Path, Path]
) -> None:
    cfg = sensor_config(tmp_path / "s1", "site-a", center.url, cert[0])
    center.enrol(cfg)
    eve = tmp_path / "eve.json"
    write_eve_file(eve, 1000, seed=2)
    for _ in range(2):
        runner, sink = ship_file(cfg, eve)
        runner.run()
        sink.close()
        runner.store.close()
        cfg.store_path.unlink()  # the sensor forgets everything: every batch is a replay
        for extra in cfg.store_path.parent.glob(cfg.store_path.name + "-*"):
            extra.unlink()
    assert_same_records(file_records(eve), stored_records(center.cfg.store_path))
    sensor = center.registry.get("site-a")
    assert sensor is not None and sensor.records == 1000 and sensor.duplicates == 1000


def test_an_outage_is_buffered_and_caught_up_without_loss(
    tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    ccfg = center_config(tmp_path / "center", *cert, bind="127.0.0.1:0")
    with running_center(ccfg) as center:
        port = center.server.port
        url = center.url
        # Closing during the outage tries the center for drain_seconds: one is enough.
        cfg = sensor_config(tmp_path / "s1", "site-a", url, cert[0], drain_seconds=1)
        center.enrol(cfg)
    # The center is down: the sensor reads on, buffers, and its bookmark stays put.
    eve = tmp_path / "eve.json"
    write_eve_file(eve, 2000, seed=3)
    runner, sink = ship_file(cfg, eve)
    runner.run()
    assert sink.spool.count > 0
    assert _bookmark_offset(cfg.store_path) is None
    assert sink.health()["oldest_unshipped"] is not None
    # The sensor restarts during the outage: it reads the file again from its last
    # acknowledged bookmark, and buffers nothing twice.
    buffered = (sink.spool.count, sink.spool.bytes)
    sink.close()
    runner.store.close()
    runner, sink = ship_file(cfg, eve)
    runner.run()
    assert (sink.spool.count, sink.spool.bytes) == buffered
    # Back on the same port: everything arrives, once.
    ccfg2 = center_config(tmp_path / "center", *cert, bind=f"127.0.0.1:{port}")
    with running_center(ccfg2) as center:
        assert sink.wait_idle(30)
        sink.close()
        runner.store.close()
        assert_same_records(file_records(eve), stored_records(center.cfg.store_path))
    assert _bookmark_offset(cfg.store_path) == eve.stat().st_size


def test_a_full_buffer_drops_the_oldest_batches_and_counts_them(
    tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    # Nobody listens at this URL: every batch stays buffered.
    cfg = sensor_config(tmp_path / "s1", "site-a", "https://127.0.0.1:9", cert[0],
                        buffer_bytes=1024 * 1024, drain_seconds=0)  # fmt: skip
    token_file = cfg.data_dir / "center" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("x" * 43)
    eve = tmp_path / "eve.json"
    write_eve_file(eve, 30000, seed=4)
    runner, sink = ship_file(cfg, eve, sink=RemoteSink(cfg, token=read_token(cfg)))
    runner.run()
    assert sink.spool.bytes <= 1024 * 1024
    dropped = sink.dropped_records
    assert dropped > 0
    assert sink.health()["buffer_dropped"] == dropped
    sink.close()
    runner.store.close()
    counters = _counters(cfg.store_path)
    assert counters["remote.buffer_dropped_records"] == dropped
    # What stays buffered plus what was dropped is everything read.
    wait_for(lambda: True)
    assert counters["remote.buffer_dropped_batches"] >= 1


def test_a_batch_too_large_for_the_center_is_split_until_it_fits(
    tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    ccfg = center_config(tmp_path / "center", *cert, max_batch_bytes=16 * 1024)
    with running_center(ccfg) as center:
        cfg = sensor_config(tmp_path / "s1", "site-a", center.url, cert[0])
        cfg = cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"batch_size": 3000})})
        center.enrol(cfg)
        eve = tmp_path / "eve.json"
        write_eve_file(eve, 3000, seed=5)
        runner, sink = ship_file(cfg, eve)
        runner.run()
        assert sink.wait_idle(60)
        sink.close()
        runner.store.close()
        assert_same_records(file_records(eve), stored_records(center.cfg.store_path))
        assert center.registry.rejections()[("site-a", "oversized")] >= 1
    assert _bookmark_offset(cfg.store_path) == eve.stat().st_size
