"""Bad EVE input: each bad line goes, whole, to the dead letters and to a counter.

The good lines around a bad one are all stored; a re-run counts nothing twice.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.store import EventStore, open_store
from sensors.deadletter import DeadLetterFile
from sensors.eve.reader import OVERLONG_KEEP
from tests.helpers.cli import run_spanwatch
from tests.helpers.eve import (
    DEAD_LETTER_NAME,
    EveGenerator,
    assert_same_records,
    line_records,
    make_runner,
    read_dead_letters,
    stored_records,
)

MiB = 1024 * 1024
TS = "2024-05-01T10:00:00.000000+0000"


def _record(**fields: object) -> bytes:
    return json.dumps({"timestamp": TS, "event_type": "http", **fields}).encode()


#: (case, line, dead-letter reason): every way a line can be unusable, one per case.
BAD_LINES = [
    ("truncated-json", _record(src_ip="192.0.2.1")[:-9], "bad-json"),
    ("not-json", b"Suricata restarted here", "bad-json"),
    ("empty-line", b"", "bad-json"),
    ("blank-line", b"   \t", "bad-json"),
    ("trailing-garbage", _record() + b" }", "bad-json"),
    ("deep-nesting", _record()[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "bad-json"),
    ("binary-garbage", b"\xff\xfe\x00\x01\x8f garbage", "not-utf8"),
    ("latin-1-in-a-value", _record(http={"url": "/x"}).replace(b"/x", b"/caf\xe9"), "not-utf8"),
    ("bad-utf-8-in-an-ip", _record(src_ip="X").replace(b'"X"', b'"\xc3\x28"'), "not-utf8"),
    ("array", b"[1,2]", "not-an-object"),
    ("string", b'"x"', "not-an-object"),
    ("number", b"3", "not-an-object"),
    ("word-for-a-timestamp", _record(timestamp="yesterday"), "bad-timestamp"),
    ("february-30", _record(timestamp="2024-02-30T10:00:00.000000+0000"), "bad-timestamp"),
    ("hour-25", _record(timestamp="2024-05-01T25:00:00.000000+0000"), "bad-timestamp"),
    ("no-event-type", b'{"timestamp":"%s","src_ip":"192.0.2.1"}' % TS.encode(), "schema"),
    ("numeric-timestamp", _record(timestamp=1714557600), "schema"),
    ("flow-id-beyond-64-bits", _record(flow_id=2**64 + 5), "schema"),
    ("port-as-text", _record(src_port="http"), "schema"),
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store(data_dir: Path) -> Iterator[EventStore]:
    store = open_store(data_dir / "spanwatch.db")
    yield store
    store.close()


def _ingest(path: Path, store: EventStore, data_dir: Path) -> None:
    runner = make_runner(path, store, data_dir)
    try:
        runner.run()
    finally:
        runner.dead_letters.close()


def _check_letter(letter: dict, path: Path, offset: int, reason: str, raw: bytes) -> None:
    """The dead letter names the source and offset and holds the line whole."""
    assert (letter["source"], letter["offset"], letter["reason"]) == (str(path), offset, reason)
    assert (letter["length"], letter["truncated"]) == (len(raw), False)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        assert letter["line"] is None
        assert base64.b64decode(letter["line_base64"]) == raw
    else:
        assert (letter["line"], letter["line_base64"]) == (text, None)


@pytest.mark.parametrize(
    ("raw", "reason"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES]
)
def test_a_bad_line_is_dead_lettered_and_counted_and_its_neighbours_stored(
    tmp_path: Path, data_dir: Path, store: EventStore, raw: bytes, reason: str
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(50)
    before, after = gen.lines(5), gen.lines(5)
    path.write_bytes(b"\n".join([*before, raw, *after]) + b"\n")
    _ingest(path, store, data_dir)
    [letter] = read_dead_letters(data_dir)
    _check_letter(letter, path, sum(len(line) + 1 for line in before), reason, raw)
    assert store.stats().counters == {f"dead_letter.{reason}": 1}
    assert_same_records(line_records(before + after), stored_records(data_dir / "spanwatch.db"))
    _ingest(path, store, data_dir)  # a re-run neither counts nor dead-letters it again
    assert store.stats().counters == {f"dead_letter.{reason}": 1}
    assert len(read_dead_letters(data_dir)) == 1


def test_a_10_mb_line_is_dead_lettered_as_its_head_and_length(
    tmp_path: Path, data_dir: Path, store: EventStore
) -> None:
    path = tmp_path / "eve.json"
    gen = EveGenerator(51)
    before, after = gen.lines(5), gen.lines(5)
    huge = _record(http={"url": "/" + "A" * (10 * MiB)})
    path.write_bytes(b"\n".join([*before, huge, *after]) + b"\n")
    _ingest(path, store, data_dir)
    [letter] = read_dead_letters(data_dir)
    assert (letter["reason"], letter["offset"]) == ("too-long", sum(len(x) + 1 for x in before))
    assert (letter["length"], letter["truncated"]) == (len(huge), True)
    assert letter["line"] == huge[:OVERLONG_KEEP].decode()
    assert store.stats().counters == {"dead_letter.too-long": 1}
    assert_same_records(line_records(before + after), stored_records(data_dir / "spanwatch.db"))


def test_an_unterminated_last_line_of_an_offline_ingest_is_dead_lettered(
    tmp_path: Path, data_dir: Path, store: EventStore
) -> None:
    path = tmp_path / "eve.json"
    lines = EveGenerator(52).lines(6)
    path.write_bytes(b"\n".join(lines))  # the writer died in the middle of the last line
    _ingest(path, store, data_dir)
    [letter] = read_dead_letters(data_dir)
    _check_letter(letter, path, sum(len(x) + 1 for x in lines[:5]), "unterminated", lines[5])
    assert store.stats().counters == {"dead_letter.unterminated": 1}
    assert_same_records(line_records(lines[:5]), stored_records(data_dir / "spanwatch.db"))


def test_bad_lines_show_in_spanwatch_stats(tmp_path: Path, appliance_config: Path) -> None:
    """Through the real CLI: ``spanwatch ingest`` then ``spanwatch stats --json``."""
    data_dir = tmp_path / "cli-data"
    path = tmp_path / "eve.json"
    gen = EveGenerator(53)
    content, good, letters = b"", [], []
    for _, raw, reason in [*BAD_LINES, ("huge", _record(x="B" * (10 * MiB)), "too-long")]:
        neighbours = gen.lines(2)
        good += neighbours
        content += b"\n".join(neighbours) + b"\n"
        letters.append((len(content), reason, raw))
        content += raw + b"\n"
    tail = gen.lines(1)[0]
    letters.append((len(content), "unterminated", tail))
    path.write_bytes(content + tail)
    common = ("--config", appliance_config, "--data-dir", data_dir)
    done = run_spanwatch("ingest", *common, path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(letters)} bad lines" in done.stdout
    assert str(data_dir / DEAD_LETTER_NAME) in done.stdout
    stats = run_spanwatch("stats", "--json", *common, timeout=60)
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    expected = Counter(f"dead_letter.{reason}" for _, reason, _ in letters)
    assert report["counters"] == dict(expected)
    assert report["total_events"] == len(good)
    assert_same_records(line_records(good), stored_records(data_dir / "spanwatch.db"))
    got = {(d["offset"], d["reason"]) for d in read_dead_letters(data_dir)}
    assert got == {(offset, reason) for offset, reason, _ in letters}
    assert run_spanwatch("ingest", *common, path, timeout=120).returncode == 0
    again = json.loads(run_spanwatch("stats", "--json", *common, timeout=60).stdout)
    assert again["counters"] == dict(expected)


# -- the file itself ---------------------------------------------------------------------


def test_dead_letters_keep_text_as_text_and_bytes_as_base64(tmp_path: Path) -> None:
    path = tmp_path / "sub" / DEAD_LETTER_NAME
    letters = DeadLetterFile(path)
    letters.append(source="/x/eve.json", offset=10, reason="bad-json", data=b"{oops", length=5)
    letters.append(source="/x/eve.json", offset=20, reason="not-utf8", data=b"\xff\x00", length=2)
    letters.append(source="/x/eve.json", offset=30, reason="too-long", data=b"{ab", length=9000)
    letters.flush()  # durable before the batch that skips them commits: readable now
    first, second, third = (json.loads(line) for line in path.read_bytes().splitlines())
    letters.close()
    assert (first["line"], first["line_base64"], first["truncated"]) == ("{oops", None, False)
    assert (second["line"], base64.b64decode(second["line_base64"])) == (None, b"\xff\x00")
    assert (third["line"], third["length"], third["truncated"]) == ("{ab", 9000, True)
    assert first["time"].endswith("Z")


def test_dead_letters_are_appended_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / DEAD_LETTER_NAME
    for offset in (1, 2):
        letters = DeadLetterFile(path)
        letters.append(source="s", offset=offset, reason="schema", data=b"{}", length=2)
        letters.close()
    assert [json.loads(line)["offset"] for line in path.read_bytes().splitlines()] == [1, 2]


def test_a_record_torn_by_a_full_disk_does_not_swallow_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / DEAD_LETTER_NAME
    path.write_bytes(b'{"time":"2024-05-01T00:00:00Z","source":"s","offs')  # ENOSPC here
    letters = DeadLetterFile(path)
    letters.append(source="s", offset=7, reason="schema", data=b"{}", length=2)
    letters.close()
    torn, whole = path.read_bytes().splitlines()
    assert torn.endswith(b'"offs')
    assert json.loads(whole)["offset"] == 7


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_a_store_error_not_a_traceback() -> None:
    letters = DeadLetterFile(Path("/dev/full"))  # every write fails with ENOSPC
    with pytest.raises(StoreError, match="dead-letter file /dev/full: .*No space left"):
        letters.append(source="s", offset=0, reason="bad-json", data=b"{", length=1)
    letters.close()
