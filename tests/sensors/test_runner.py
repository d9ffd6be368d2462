"""EveRunner with real EVE files and a real SQLite store: every line stored exactly once."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path

import pytest

from appliance.events import EveRecord, make_finding
from appliance.store import Bookmark, EventQuery, EventStore, open_store
from sensors.analyzers import AnalyzerSet
from sensors.runner import EveRunner, RunStats
from sensors.ship import Sink
from tests.helpers.cli import REPO
from tests.helpers.eve import (
    EveGenerator,
    Follower,
    assert_same_records,
    count_stored,
    line_records,
    make_runner,
    read_dead_letters,
    stored_records,
    wait_for,
)


class RecordingSink:
    """Passes batches on and remembers the order in which lines reached the sink."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.raws: list[bytes] = []
        self.after_write: Callable[[], None] | None = None

    def write(
        self, records: Sequence[EveRecord], bookmark: Bookmark | None, counters: Mapping[str, int]
    ) -> int:
        self.raws.extend(r.raw for r in records if r.head.event_type != "finding")
        stored = self.inner.write(records, bookmark, counters)
        if self.after_write is not None:
            self.after_write()
        return stored

    def flush(self) -> int:
        return self.inner.flush()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store_path(data_dir: Path) -> Path:
    return data_dir / "spanwatch.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[EventStore]:
    store = open_store(store_path)
    yield store
    store.close()


def _recording(runner: EveRunner) -> RecordingSink:
    sink = RecordingSink(runner.sink)
    runner.sink = sink
    return sink


def _ingest(path: Path, store: EventStore, data_dir: Path, **kwargs: object) -> RunStats:
    runner = make_runner(path, store, data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        return runner.run()
    finally:
        runner.dead_letters.close()


def test_offline_ingest_stores_every_line_once_and_a_rerun_adds_nothing(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(20).write(path, 2500)
    stats = _ingest(path, store, data_dir)
    assert (stats.lines, stats.stored, stats.bad_total) == (2500, 2500, 0)
    again = _ingest(path, store, data_dir)
    assert (again.lines, again.stored) == (0, 0)  # resumed at the end
    assert_same_records(line_records(lines), stored_records(store_path))
    assert read_dead_letters(data_dir) == []


def test_restart_resumes_from_the_bookmark_without_duplicates(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(21).write(path, 1000)
    stop = threading.Event()

    def stop_after_three_batches(stats: RunStats) -> None:
        if stats.lines >= 300:
            stop.set()

    first = _ingest(path, store, data_dir, stop=stop, on_batch=stop_after_three_batches)
    assert first.lines == 300
    bookmark = store.bookmark(first.source_ids[0])
    assert bookmark is not None
    assert (bookmark.line, bookmark.offset) == (300, sum(len(raw) + 1 for raw in lines[:300]))
    second = _ingest(path, store, data_dir)
    assert (second.lines, second.stored) == (700, 700)
    assert_same_records(line_records(lines), stored_records(store_path))


def test_lines_read_again_after_a_lost_bookmark_are_not_stored_twice(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    """At-least-once delivery: a replay (as after a crash) is absorbed by the event ids."""
    path = tmp_path / "eve.json"
    lines = EveGenerator(22).write(path, 600)
    _ingest(path, store, data_dir)
    with closing(sqlite3.connect(store_path)) as db, db:  # fault injection
        db.execute("DELETE FROM bookmarks")
    replay = _ingest(path, store, data_dir)
    assert (replay.lines, replay.stored) == (600, 0)
    assert_same_records(line_records(lines), stored_records(store_path))


def test_following_stores_a_partial_line_only_once_it_is_completed(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(23)
    first = gen.write(path, 10)
    last = gen.lines(1)[0]
    with Follower(make_runner(path, store, data_dir, follow=True)):
        wait_for(lambda: count_stored(store_path) == 10, what="the first 10 lines")
        with open(path, "ab") as fh:
            fh.write(last[:50])
            fh.flush()
            threading.Event().wait(0.3)  # the runner polls every 20 ms meanwhile
            assert count_stored(store_path) == 10
            fh.write(last[50:] + b"\n")
        wait_for(lambda: count_stored(store_path) == 11, what="the completed line")
    assert_same_records(line_records([*first, last]), stored_records(store_path))
    assert read_dead_letters(data_dir) == []


def test_a_writer_that_exits_ends_the_follow_at_once_with_its_last_lines(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(31)
    first = gen.write(path, 50)
    runner = make_runner(path, store, data_dir, follow=True)
    runner.poll_seconds = 60.0  # only the wake-up can end the run promptly
    runner.wake = exited = threading.Event()
    done: list[RunStats] = []
    thread = threading.Thread(target=lambda: done.append(runner.run(until=exited.is_set)))
    thread.start()
    try:
        wait_for(lambda: count_stored(store_path) == 50, what="the first 50 lines")
        last = gen.lines(10)
        with open(path, "ab") as fh:  # the writer's last lines, then it exits
            fh.write(b"".join(line + b"\n" for line in last))
        exited.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the follow waited for its poll interval"
    finally:
        runner.stop.set()
        thread.join()
    assert done[0].lines == 60
    assert_same_records(line_records([*first, *last]), stored_records(store_path))


def test_rename_rotation_while_following_reads_the_old_tail_before_the_new_file(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(24)
    head = gen.write(path, 200)
    runner = make_runner(path, store, data_dir, follow=True)
    sink = _recording(runner)
    with Follower(runner):
        wait_for(lambda: count_stored(store_path) == 200, what="the first file")
        tail = gen.write(path, 150, append=True)
        os.rename(path, tmp_path / "eve.json.1")
        newer = gen.write(path, 300)
        wait_for(lambda: count_stored(store_path) == 650, what="both files")
    assert sink.raws == head + tail + newer
    assert_same_records(line_records(head + tail + newer), stored_records(store_path))


def test_lines_written_to_the_renamed_file_after_the_switch_are_caught_up(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    """Suricata writes on into the renamed file until it reopens its log (SIGHUP)."""
    path = tmp_path / "eve.json"
    gen = EveGenerator(25)
    head = gen.write(path, 100)
    with Follower(make_runner(path, store, data_dir, follow=True)):
        wait_for(lambda: count_stored(store_path) == 100, what="the first file")
        os.rename(path, tmp_path / "eve.json.1")
        threading.Event().wait(0.2)  # the runner sees the path vanish and drains the file
        late = gen.write(tmp_path / "eve.json.1", 50, append=True)
        newer = gen.write(path, 80)
        wait_for(lambda: count_stored(store_path) == 230, what="the late lines")
    assert_same_records(line_records(head + late + newer), stored_records(store_path))


def test_a_line_half_written_when_the_file_is_renamed_is_stored_whole(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(32)
    head = gen.write(path, 100)
    split = gen.lines(1)[0]
    with Follower(make_runner(path, store, data_dir, follow=True)):
        wait_for(lambda: count_stored(store_path) == 100, what="the first file")
        with open(path, "ab") as old:
            old.write(split[:60])
            old.flush()
            os.rename(path, tmp_path / "eve.json.1")
            threading.Event().wait(0.2)  # the runner sees the path vanish and drains the file
            old.write(split[60:] + b"\n")
        newer = gen.write(path, 80)
        wait_for(lambda: count_stored(store_path) == 181, what="the completed line")
    assert read_dead_letters(data_dir) == []
    assert_same_records(line_records([*head, split, *newer]), stored_records(store_path))


@pytest.mark.parametrize("follow", [False, True], ids=["offline", "follow"])
def test_rotation_while_stopped_catches_up_the_rotated_file_first(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path, follow: bool
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(26)
    head = gen.write(path, 300)
    _ingest(path, store, data_dir)
    # While the sensor is down: Suricata writes on, the log is rotated, a new file starts.
    tail = gen.write(path, 120, append=True)
    os.rename(path, tmp_path / "eve.json.1")
    newer = gen.write(path, 200)
    runner = make_runner(path, store, data_dir, follow=follow)
    sink = _recording(runner)
    if follow:
        with Follower(runner):
            wait_for(lambda: count_stored(store_path) == 620, what="the catch-up")
    else:
        runner.run()
        runner.dead_letters.close()
    assert sink.raws == tail + newer
    assert_same_records(line_records(head + tail + newer), stored_records(store_path))


def test_two_rotations_while_stopped_lose_no_file(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(34)
    first = gen.write(path, 100)
    _ingest(path, store, data_dir)
    first += gen.write(path, 50, append=True)
    os.rename(path, tmp_path / "eve.json.1")
    middle = gen.write(path, 100)
    os.rename(tmp_path / "eve.json.1", tmp_path / "eve.json.2")
    os.rename(path, tmp_path / "eve.json.1")
    last = gen.write(path, 100)
    _ingest(path, store, data_dir)
    assert_same_records(line_records(first + middle + last), stored_records(store_path))


def test_a_catch_up_interrupted_by_a_restart_is_resumed(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(33)
    head = gen.write(path, 100)
    _ingest(path, store, data_dir)
    tail = gen.write(path, 500, append=True)
    os.rename(path, tmp_path / "eve.json.1")
    newer = gen.write(path, 200)
    stop = threading.Event()
    runner = make_runner(path, store, data_dir, stop=stop)
    sink = _recording(runner)
    sink.after_write = stop.set  # the sensor stops after the first batch of the catch-up
    runner.run()
    runner.dead_letters.close()
    assert sink.raws == tail[:100]
    _ingest(path, store, data_dir)
    assert_same_records(line_records(head + tail + newer), stored_records(store_path))


def test_copytruncate_while_following_then_the_copy_adds_exactly_the_missing_lines(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    copy = tmp_path / "eve.json.1"
    gen = EveGenerator(27)
    head = gen.write(path, 300)
    with Follower(make_runner(path, store, data_dir, follow=True)):
        wait_for(lambda: count_stored(store_path) == 300, what="the first lines")
        unread = gen.write(path, 100, append=True)  # may or may not be read before the copy
        shutil.copyfile(path, copy)
        os.truncate(path, 0)
        newer = gen.write(path, 50, append=True)  # smaller than before
        expected_live = line_records(head + newer)
        wait_for(
            lambda: +(expected_live - stored_records(store_path)) == {},
            what="the lines written after the truncation",
        )
    everything = line_records(head + unread + newer)
    before = stored_records(store_path)
    assert +(before - everything) == {}, "stored lines that were never written, or twice"
    _ingest(copy, store, data_dir)
    after = stored_records(store_path)
    assert after - before == everything - before
    assert_same_records(everything, after)
    assert read_dead_letters(data_dir) == []


def test_truncate_and_refill_beyond_the_old_offset_while_following(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    """Same inode, larger than the bookmark: only the first line tells the files apart."""
    path = tmp_path / "eve.json"
    gen = EveGenerator(28)
    head = gen.write(path, 100)
    old_size = path.stat().st_size
    with Follower(make_runner(path, store, data_dir, follow=True)):
        wait_for(lambda: count_stored(store_path) == 100, what="the first lines")
        with open(path, "r+b") as fh:  # one write: the runner never sees the file empty
            fh.write(gen.chunk(400))
            fh.truncate()
        assert path.stat().st_size > old_size
        wait_for(lambda: count_stored(store_path) >= 500, what="the new content")
        threading.Event().wait(0.2)
    assert read_dead_letters(data_dir) == []
    assert_same_records(line_records(head + gen_lines(28, 100, 400)), stored_records(store_path))


def gen_lines(seed: int, skip: int, n: int) -> list[bytes]:
    """Lines ``skip`` to ``skip + n`` of generator ``seed``."""
    gen = EveGenerator(seed)
    gen.lines(skip)
    return gen.lines(n)


def test_truncate_and_refill_while_stopped_starts_a_new_source(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(29)
    head = gen.write(path, 100)
    _ingest(path, store, data_dir)
    newer = gen.write(path, 300)  # truncated and refilled beyond the bookmark
    stats = _ingest(path, store, data_dir)
    assert (stats.lines, stats.stored) == (300, 300)
    assert_same_records(line_records(head + newer), stored_records(store_path))


def test_a_renamed_copy_of_an_ingested_file_adds_nothing(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(30).write(path, 500)
    _ingest(path, store, data_dir)
    elsewhere = tmp_path / "archive"
    elsewhere.mkdir()
    copy = elsewhere / "eve-2024-05-01.json"
    shutil.copyfile(path, copy)
    stats = _ingest(copy, store, data_dir)
    assert (stats.lines, stats.stored) == (0, 0)
    assert_same_records(line_records(lines), stored_records(store_path))


def test_a_grown_copy_of_an_ingested_file_adds_only_its_new_lines(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(31)
    head = gen.write(path, 400)
    _ingest(path, store, data_dir)
    copy = tmp_path / "copy.json"
    shutil.copyfile(path, copy)
    more = gen.write(copy, 70, append=True)
    stats = _ingest(copy, store, data_dir)
    assert (stats.lines, stats.stored) == (70, 70)
    assert_same_records(line_records(head + more), stored_records(store_path))


def test_two_files_that_begin_with_the_same_record_are_each_stored_whole(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    # Two outputs of one Suricata (alerts; everything) whose first record is the same: the
    # second is not a copy of the first to read on from its bookmark, but a file of its own,
    # found again as such (a rerun, a renamed copy of it, more lines in it).
    lines = EveGenerator(32).lines(400)
    first, second = tmp_path / "alerts.json", tmp_path / "eve.json"
    first.write_bytes(b"\n".join(lines[:100]) + b"\n")
    second.write_bytes(b"\n".join([lines[0], *lines[100:300]]) + b"\n")
    _ingest(first, store, data_dir)
    stats = _ingest(second, store, data_dir)
    assert (stats.lines, stats.stored) == (201, 201)
    both = line_records(lines[:100]) + line_records([lines[0], *lines[100:300]])
    assert_same_records(both, stored_records(store_path))
    copy = tmp_path / "eve.json.1"
    shutil.copyfile(second, copy)
    for path in (first, second, copy):
        assert _ingest(path, store, data_dir).stored == 0
    with open(second, "ab") as handle:
        handle.write(b"\n".join(lines[300:]) + b"\n")
    assert _ingest(second, store, data_dir).stored == 100
    assert_same_records(both + line_records(lines[300:]), stored_records(store_path))


@pytest.mark.suricata
def test_passwords_suricata_logs_never_reach_the_store(tmp_path: Path, testdata: Path) -> None:
    """Suricata writes the FTP PASS argument into EVE; the store keeps the user, not it."""
    from tests.helpers.cli import run_spanwatch

    capture = testdata / "pcaps" / "cleartext-creds" / "zeek_ftp-password-pass-command.pcap"
    done = run_spanwatch("analyze", "-q", "--checksum", "none", "--data-dir", tmp_path / "d",
                         "--rules", REPO / "config" / "rules", capture)  # fmt: skip
    assert done.returncode == 0, done.stderr
    eve = next((tmp_path / "d" / "runs").glob("*/0/eve.json")).read_text()
    secrets = {json.loads(line)["ftp"]["command_data"] for line in eve.splitlines()
               if '"command":"PASS"' in line}  # fmt: skip
    assert secrets and "[redacted]" not in secrets  # Suricata itself logs the password
    store = open_store(tmp_path / "d" / "spanwatch.db", readonly=True)
    stored = [json.dumps(r) for r in store.events(EventQuery())]
    store.close()
    assert any('"USER"' in r and "Admin" in r for r in stored)
    assert not [s for s in secrets if any(s in r for r in stored)]


class _HoldsAFindingToTheEnd:
    """An analyzer whose finding comes out at shutdown (an open time window)."""

    name = "holds"
    event_types: frozenset[str] = frozenset()

    def init(self) -> None:
        pass

    def process(self, records: Sequence[EveRecord]) -> list[bytes]:
        return []

    def shutdown(self) -> list[bytes]:
        return [make_finding(type="test-held", category="test", severity=3, confidence=1.0,
                             timestamp="2026-01-01T00:00:00.000000+0000", src_ip="192.0.2.1",
                             dest_ip="192.0.2.2", explanation={"en": "held", "vi": "held"},
                             evidence={})]  # fmt: skip


def test_findings_held_to_the_end_are_stored_after_the_file_was_rotated_away(
    tmp_path: Path, data_dir: Path, store: EventStore, store_path: Path
) -> None:
    # The sensor stops after its EVE file was renamed and before Suricata opened a new
    # one: the reader is closed, but the analyzers' last findings belong to what it read.
    path = tmp_path / "eve.json"
    EveGenerator(31).write(path, 120)
    runner = make_runner(path, store, data_dir, follow=True)
    runner.analyzers = AnalyzerSet([_HoldsAFindingToTheEnd()])
    with Follower(runner):
        wait_for(lambda: count_stored(store_path) == 120, what="the lines")
        os.rename(path, tmp_path / "eve.json.1")
        wait_for(lambda: not runner.reader.is_open, what="the rotation")
    (finding,) = store.events(EventQuery(event_type="finding"))
    assert finding["finding"]["type"] == "test-held"
