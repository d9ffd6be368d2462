"""Bookmarks with a real store: resume where reading stopped, find rotated tails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import EventStore, open_store
from sensors.eve.bookmark import make_bookmark, resume, rotated_backlog
from sensors.eve.reader import EveReader
from tests.helpers.eve import EveGenerator


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    store = open_store(tmp_path / "data" / "spanwatch.db")
    yield store
    store.close()


def _opened(path: Path) -> EveReader:
    reader = EveReader(path)
    assert reader.open()
    return reader


def _read_and_save(path: Path, store: EventStore, max_lines: int) -> tuple[EveReader, int]:
    """Read ``max_lines`` lines of ``path`` and save the bookmark, as the runner does."""
    reader = _opened(path)
    source = resume(reader, store)
    result = reader.read(max_lines)
    store.add_events([], "test", bookmark=make_bookmark(reader, source, result))
    return reader, source


def test_a_new_source_starts_at_the_beginning(tmp_path: Path, store: EventStore) -> None:
    path = tmp_path / "eve.json"
    EveGenerator(40).write(path, 5)
    reader = _opened(path)
    source = resume(reader, store)
    assert store.bookmark(source) is None
    assert (reader.offset, reader.line) == (0, 0)
    assert resume(_opened(path), store) == source  # registered once


def test_the_bookmark_records_where_the_next_read_starts(tmp_path: Path, store: EventStore) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(41).write(path, 30)
    reader, source = _read_and_save(path, store, 12)
    saved = store.bookmark(source)
    assert saved is not None
    assert saved.offset == sum(len(raw) + 1 for raw in lines[:12])
    assert (saved.line, saved.path, saved.source_id) == (12, str(path), source)
    assert (saved.inode, saved.size) == (path.stat().st_ino, path.stat().st_size)


def test_resume_continues_after_the_last_stored_line(tmp_path: Path, store: EventStore) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(42).write(path, 30)
    _read_and_save(path, store, 12)
    reader = _opened(path)
    resume(reader, store)
    result = reader.read(100)
    assert [raw for _, raw in result.lines] == lines[12:]
    assert result.lines[0][0] == sum(len(raw) + 1 for raw in lines[:12])
    assert result.line == 30


def test_a_renamed_file_resumes_at_its_bookmark(tmp_path: Path, store: EventStore) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(43).write(path, 20)
    _, source = _read_and_save(path, store, 20)
    moved = tmp_path / "archive-eve.json"
    os.rename(path, moved)
    reader = _opened(moved)
    assert resume(reader, store) == source
    assert reader.read(100).lines == []
    copy = tmp_path / "copy.json"  # a copy (another inode) is the same source too
    shutil.copyfile(moved, copy)
    reader = _opened(copy)
    assert resume(reader, store) == source
    assert reader.offset == sum(len(raw) + 1 for raw in lines)


def test_a_bookmark_past_the_end_of_the_file_restarts_from_the_beginning(
    tmp_path: Path, store: EventStore
) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(44).write(path, 20)
    _read_and_save(path, store, 20)
    path.write_bytes(b"\n".join(lines[:5]) + b"\n")  # same first line, shorter
    reader = _opened(path)
    resume(reader, store)
    assert [raw for _, raw in reader.read(100).lines] == lines[:5]


def test_rotated_backlog_finds_the_renamed_file_with_an_unread_tail(
    tmp_path: Path, store: EventStore
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(45)
    gen.write(path, 10)
    _read_and_save(path, store, 10)
    gen.write(path, 5, append=True)  # written while the sensor was down
    os.rename(path, tmp_path / "eve.json.1")
    (tmp_path / "eve.json.old-copy").write_bytes((tmp_path / "eve.json.1").read_bytes())
    (tmp_path / "other.json").write_bytes(b"{}\n")
    gen.write(path, 3)
    # The renamed file first; a newer rotated-looking copy after it (its lines are known
    # by content, so reading it stores nothing twice); never an unrelated name.
    assert rotated_backlog(_opened(path), store) == [
        str(tmp_path / "eve.json.1"), str(tmp_path / "eve.json.old-copy")]


def test_rotated_backlog_skips_a_fully_read_file_but_reads_newer_siblings(
    tmp_path: Path, store: EventStore
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(46)
    assert rotated_backlog(_opened_after_write(path, gen), store) == []  # no bookmark
    _read_and_save(path, store, 100)
    os.rename(path, tmp_path / "eve.json.1")  # rotated, but read to its end
    shutil.copyfile(tmp_path / "eve.json.1", tmp_path / "eve.json.2")  # another inode
    gen.write(tmp_path / "eve.json.2", 5, append=True)
    gen.write(path, 3)
    assert rotated_backlog(_opened(path), store) == [str(tmp_path / "eve.json.2")]


def _opened_after_write(path: Path, gen: EveGenerator) -> EveReader:
    gen.write(path, 10)
    return _opened(path)
