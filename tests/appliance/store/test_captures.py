"""The captures table: analysed files by the store sources they produced."""

from __future__ import annotations

from pathlib import Path

from appliance.store import open_store


def test_a_capture_is_found_from_each_of_its_sources_until_they_are_deleted(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "spanwatch.db")
    try:
        eve, findings = store.source_id(b"e" * 16, "eve.json"), store.source_id(b"f" * 16, "f")
        assert store.capture_path(eve) is None
        store.add_capture("/data/a.pcap", [eve, findings], packets=12, summary={"file": "a"})
        store.add_capture("/data/b.pcap", [], packets=None)
        assert store.capture_path(eve) == store.capture_path(findings) == "/data/a.pcap"
        row = store.connection.execute(  # type: ignore[attr-defined]
            "SELECT packets, status, summary FROM captures WHERE source_id = ?", (eve,)
        ).fetchone()
        assert row == (12, "done", '{"file":"a"}')
        store.delete_sources([eve])
        assert store.capture_path(eve) is None
        assert store.capture_path(findings) == "/data/a.pcap"
    finally:
        store.close()
