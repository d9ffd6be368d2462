"""EveReader on real files: complete lines only, rotation, truncation, overlong lines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sensors.eve.reader import OVERLONG_KEEP, EveReader, fingerprint_of
from tests.helpers.eve import EveGenerator

MiB = 1024 * 1024


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def _offsets(lines: list[bytes], start: int = 0) -> list[int]:
    out, pos = [], start
    for line in lines:
        out.append(pos)
        pos += len(line) + 1
    return out


def _open(path: Path, **kwargs: int) -> EveReader:
    reader = EveReader(path, **kwargs)
    assert reader.open()
    return reader


def test_lines_come_with_their_byte_offsets_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(1).write(path, 50)
    reader = _open(path)
    result = reader.read(1000)
    assert [raw for _, raw in result.lines] == lines
    assert [off for off, _ in result.lines] == _offsets(lines)
    assert (result.offset, result.line) == (path.stat().st_size, 50)
    assert reader.read(1000).lines == []


def test_a_full_batch_leaves_the_rest_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(2).write(path, 25)
    reader = _open(path)
    got = []
    for _ in range(3):
        result = reader.read(10)
        got += [raw for _, raw in result.lines]
        assert result.offset == sum(len(raw) + 1 for raw in got)
        assert result.line == len(got)
    assert got == lines


def test_partial_last_line_is_not_consumed_until_completed(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(3)
    first = gen.lines(3)
    last = gen.lines(1)[0]
    path.write_bytes(b"\n".join(first) + b"\n" + last[:40])
    reader = _open(path)
    result = reader.read(100)
    assert [raw for _, raw in result.lines] == first
    assert result.bad == []
    # The bookmark stops before the partial line, so a restart reads it whole.
    assert result.offset == sum(len(raw) + 1 for raw in first)
    assert reader.read(100).lines == []
    _append(path, last[40:100])
    assert reader.read(100).lines == []
    _append(path, last[100:] + b"\n")
    result = reader.read(100)
    assert result.lines == [(sum(len(raw) + 1 for raw in first), last)]
    assert result.offset == path.stat().st_size


def test_partial_first_line_means_the_file_cannot_be_opened_yet(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    line = EveGenerator(4).lines(1)[0]
    reader = EveReader(path)
    assert not reader.open()  # no file
    path.write_bytes(line[:30])
    assert not reader.open()
    _append(path, line[30:] + b"\n")
    assert reader.open()
    assert reader.fingerprint == fingerprint_of(line)


def test_rename_rotation_is_reported_and_the_old_tail_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(5)
    gen.write(path, 10)
    reader = _open(path)
    reader.read(100)
    assert reader.replaced() is None
    os.rename(path, tmp_path / "eve.json.1")
    assert reader.replaced() == "rotated"  # the path is gone
    tail = gen.write(tmp_path / "eve.json.1", 5, append=True)
    gen.write(path, 5)  # the writer reopened the path: a new file
    assert reader.replaced() == "rotated"
    assert [raw for _, raw in reader.read(100).lines] == tail


def test_copytruncate_is_reported_as_truncation(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(6)
    gen.write(path, 20)
    reader = _open(path)
    reader.read(100)
    shutil.copyfile(path, tmp_path / "eve.json.1")
    os.truncate(path, 0)
    assert reader.replaced() == "truncated"
    gen.write(path, 3, append=True)  # shorter than before
    assert reader.replaced() == "truncated"


def test_truncate_and_refill_beyond_the_old_offset_is_seen_by_the_first_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(7)
    gen.write(path, 10)
    reader = _open(path)
    old_end = reader.read(100).offset
    os.truncate(path, 0)
    gen.write(path, 40, append=True)  # same inode, larger than before
    assert path.stat().st_size > old_end
    assert reader.replaced() == "truncated"


def test_a_10_mb_line_is_skipped_with_its_head_and_length(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(8)
    before, after = gen.lines(3), gen.lines(3)
    huge = b'{"timestamp":"2024-05-01T00:00:00.000000+0000","event_type":"http","x":"'
    huge += b"A" * (10 * MiB) + b'"}'
    path.write_bytes(b"\n".join([*before, huge, *after]) + b"\n")
    reader = _open(path)  # default max_line_bytes: 8 MiB
    assert reader.max_line_bytes == 8 * MiB
    result = reader.read(100)
    assert [raw for _, raw in result.lines] == before + after
    [bad] = result.bad
    assert bad.reason == "too-long"
    assert bad.offset == sum(len(raw) + 1 for raw in before)
    assert bad.length == len(huge)
    assert bad.head == huge[:OVERLONG_KEEP]
    assert result.line == 7
    assert result.offset == path.stat().st_size


def test_an_overlong_line_inside_one_read_chunk_is_skipped_too(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(9)
    before, after = gen.lines(2), gen.lines(2)
    long_line = b'{"x":"' + b"B" * 6000 + b'"}'
    path.write_bytes(b"\n".join([*before, long_line, *after]) + b"\n")
    result = _open(path, max_line_bytes=4096).read(100)
    assert [raw for _, raw in result.lines] == before + after
    [bad] = result.bad
    assert (bad.reason, bad.length, bad.head) == ("too-long", len(long_line), long_line)


def test_a_bookmark_never_points_inside_an_overlong_line_being_written(tmp_path: Path) -> None:
    """A restart from the bookmark must see the overlong line whole, not its tail."""
    path = tmp_path / "eve.json"
    gen = EveGenerator(10)
    before, after = gen.lines(2), gen.lines(2)
    long_line = b'{"x":"' + b"C" * 10_000 + b'"}'
    path.write_bytes(b"\n".join(before) + b"\n" + long_line[:7000])
    first = _open(path, max_line_bytes=4096).read(100)
    line_start = sum(len(raw) + 1 for raw in before)
    assert [raw for _, raw in first.lines] == before
    assert first.offset <= line_start
    _append(path, long_line[7000:] + b"\n" + b"\n".join(after) + b"\n")
    # A restarted reader resumes at the bookmark.
    again = _open(path, max_line_bytes=4096)
    again.seek(first.offset, first.line)
    result = again.read(100)
    assert [raw for _, raw in result.lines] == after
    assert [(b.reason, b.offset, b.length) for b in result.bad] == [
        ("too-long", line_start, len(long_line))
    ]


def test_final_read_reports_an_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(11).lines(3)
    path.write_bytes(b"\n".join(lines))  # no newline after the last line
    reader = _open(path)
    assert [raw for _, raw in reader.read(100).lines] == lines[:2]
    result = reader.read(100, final=True)
    assert result.lines == []
    [bad] = result.bad
    assert (bad.reason, bad.head, bad.length) == ("unterminated", lines[2], len(lines[2]))
    assert bad.offset == len(lines[0]) + len(lines[1]) + 2
    assert (result.offset, result.line) == (path.stat().st_size, 3)


def test_empty_lines_are_passed_on_to_be_dead_lettered(tmp_path: Path) -> None:
    """An empty line is bad input like any other: the runner must see it to count it."""
    path = tmp_path / "eve.json"
    a, b = EveGenerator(12).lines(2)
    path.write_bytes(a + b"\n\n" + b + b"\n")
    result = _open(path).read(100)
    assert result.lines == [(0, a), (len(a) + 1, b""), (len(a) + 2, b)]
    assert result.line == 3
