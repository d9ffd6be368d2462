"""An analysis's other EVE files, read into a real SQLite store: each record once."""

from __future__ import annotations

from pathlib import Path

from appliance.config import load_config
from appliance.store import open_store
from sensors.deadletter import DeadLetterFile
from sensors.evefiles import ingest_other_eve_files
from sensors.runner import RunStats
from tests.helpers.eve import (
    EveGenerator,
    assert_same_records,
    line_records,
    read_dead_letters,
    stored_records,
)


def _ingest(tmp_path: Path, names: list[str]) -> tuple[RunStats, Path]:
    cfg = load_config(None, overrides={"data_dir": str(tmp_path / "data")}, environ={})
    cfg.data_dir.mkdir()
    store = open_store(cfg.store_path)
    dead_letters = DeadLetterFile(cfg.data_dir / "dead-letter.jsonl")
    stats = RunStats()
    try:
        ingest_other_eve_files(cfg, store, dead_letters, tmp_path, names, stats, b"run")
    finally:
        dead_letters.close()
        store.close()
    return stats, cfg.data_dir


def test_records_of_the_other_files_are_stored_once_whichever_file_had_them(
    tmp_path: Path,
) -> None:
    lines = EveGenerator(3).lines(60)
    # The first file (stored by the analysis already) and a second that begins as it does,
    # copies two more of its records, and has records of its own (and a bad line); a third
    # copies the second's.
    (tmp_path / "alerts.json").write_bytes(b"\n".join(lines[:20]) + b"\n")
    second = [lines[0], *lines[20:40], lines[5], b"{not json", lines[7]]
    (tmp_path / "nsm.json").write_bytes(b"\n".join(second) + b"\n")
    (tmp_path / "copy.json").write_bytes(b"\n".join([lines[25], *lines[40:60]]) + b"\n")
    stats, data_dir = _ingest(tmp_path, ["alerts.json", "nsm.json", "missing.json", "copy.json"])
    assert_same_records(line_records(lines[20:60]), stored_records(data_dir / "spanwatch.db"))
    assert stats.skipped == 4 and stats.bad == {"bad-json": 1}
    assert [d["offset"] for d in read_dead_letters(data_dir)] == [
        sum(len(line) + 1 for line in second[:-2])
    ]
    assert len(stats.source_ids) == 2 * 2  # each file's, and its findings' (for a discard)
