"""Summaries of analysed captures and of the store, checked against Suricata's own EVE."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.cli import main
from appliance.config import AppConfig, load_config
from appliance.store import Signature, StoreStats, open_store
from appliance.summary import (
    format_stats,
    format_summary,
    merge_summaries,
    stats_as_dict,
    summarize_sources,
)
from sensors.analyzers import REGISTRY

VERIFY_CASE = "suricata-verify/alert-testmyids-midstream"
DNS_CAPTURE = "pcaps/dns-tunneling/ndpi_dns-tunnel-iodine.pcap"
DNS_RULE = (
    'alert dns any any -> any any (msg:"SPANWATCH TEST DNS query to pirate.sea"; '
    'dns.query; content:"pirate.sea"; nocase; classtype:bad-unknown; sid:9100001; rev:1;)\n'
)


@dataclass
class Analysed:
    """``spanwatch analyze --json`` over two real captures, and what it left behind."""

    cfg: AppConfig
    captures: list[Path]
    output: dict[str, Any]
    eve_files: list[Path]


@contextlib.contextmanager
def _restored_logging() -> Iterator[None]:
    """``main`` installs its handlers on our loggers; put the previous ones back."""
    loggers = [logging.getLogger(name) for name in ("appliance", "sensors", "webui")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate


@pytest.fixture(scope="module")
def analysed(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path, suricata_bin: str
) -> Analysed:
    root = tmp_path_factory.mktemp("summary")
    dns_rules = root / "dns.rules"
    dns_rules.write_text(DNS_RULE, encoding="utf-8")
    config = root / "appliance.yaml"
    config.write_text(yaml.safe_dump({
        "sensor": {"name": "summary-test"}, "data_dir": str(root / "data"),
        "rules": {"local": [], "sources": []}, "suricata": {"binary": suricata_bin},
        "timezone": "Asia/Ho_Chi_Minh",
        # The summary of what Suricata wrote; the analyzers' findings have tests of their own.
        "analyzers": {name: {"enabled": False} for name in REGISTRY},
    }), encoding="utf-8")  # fmt: skip
    captures = [testdata / VERIFY_CASE / "input.pcap", testdata / DNS_CAPTURE]
    argv = ["analyze", "-q", "--config", str(config), "--json",
            "--rules", str(testdata / VERIFY_CASE / "test.rules"), "--rules", str(dns_rules),
            *map(str, captures)]  # fmt: skip
    out = io.StringIO()
    with _restored_logging(), contextlib.redirect_stdout(out):
        assert main(argv) == 0
    cfg = load_config(config, environ={})
    (run,) = (cfg.data_dir / "runs").iterdir()
    eve_files = [run / str(i) / "eve.json" for i in range(len(captures))]
    return Analysed(cfg, captures, json.loads(out.getvalue()), eve_files)


def _eve(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _packets(capture: Path) -> int:
    done = subprocess.run(["capinfos", "-T", "-r", "-c", str(capture)],
                          capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    return int(done.stdout.split("\t")[-1])


def _source_ids(cfg: AppConfig, eve_file: Path) -> list[int]:
    conn = sqlite3.connect(cfg.store_path)
    try:
        rows = conn.execute("SELECT id FROM sources WHERE path IN (?, ?) ORDER BY id",
                            (str(eve_file), f"{eve_file}#findings")).fetchall()  # fmt: skip
    finally:
        conn.close()
    return [r[0] for r in rows]


# -- one capture ---------------------------------------------------------------------------


@pytest.mark.suricata
@pytest.mark.parametrize("index", [0, 1])
def test_capture_summary_counts_what_suricata_wrote(analysed: Analysed, index: int) -> None:
    summary = analysed.output["captures"][index]
    records = _eve(analysed.eve_files[index])
    assert summary["file"] == str(analysed.captures[index])
    assert summary["packets"] == _packets(analysed.captures[index])
    types = Counter(r["event_type"] for r in records)
    types.update(["finding"] * len(summary["findings"]))
    assert summary["events_by_type"] == dict(sorted(types.items()))
    sids = Counter(str(r["alert"]["signature_id"]) for r in records if r["event_type"] == "alert")
    assert summary["alerts_by_sid"] == dict(sids)
    assert sum(summary["alerts_by_severity"].values()) == sum(sids.values())


@pytest.mark.suricata
def test_alerts_carry_signature_category_and_severity(analysed: Analysed) -> None:
    first, second = analysed.output["captures"]
    assert first["alerts"] == [{
        "sid": 2100498, "signature": "GPL ATTACK_RESPONSE id check returned root",
        "category": "Potentially Bad Traffic", "severity": 2, "count": 1,
    }]  # fmt: skip
    assert second["alerts"] == [{
        "sid": 9100001, "signature": "SPANWATCH TEST DNS query to pirate.sea",
        "category": "Potentially Bad Traffic", "severity": 2, "count": 222,
    }]  # fmt: skip
    assert second["alerts_by_severity"] == {"medium": 222}


@pytest.mark.suricata
@pytest.mark.parametrize("index", [0, 1])
def test_top_talkers_are_hosts_by_flow_bytes(analysed: Analysed, index: int) -> None:
    totals: Counter[str] = Counter()
    for record in _eve(analysed.eve_files[index]):
        if record["event_type"] == "flow":
            size = record["flow"]["bytes_toserver"] + record["flow"]["bytes_toclient"]
            totals[record["src_ip"]] += size
            totals[record["dest_ip"]] += size
    talkers = analysed.output["captures"][index]["top_talkers"]
    assert {t["ip"]: t["bytes"] for t in talkers} == dict(totals.most_common(10))
    assert [t["bytes"] for t in talkers] == sorted((t["bytes"] for t in talkers), reverse=True)


@pytest.mark.suricata
@pytest.mark.parametrize("index", [0, 1])
def test_summarize_sources_reads_one_capture_from_the_store(analysed: Analysed, index: int) -> None:
    # The capture's incidents come from the state database, not from the event store.
    printed = {k: v for k, v in analysed.output["captures"][index].items() if k != "incidents"}
    ids = _source_ids(analysed.cfg, analysed.eve_files[index])
    assert len(ids) == 2  # the EVE file and the findings derived from it
    store = open_store(analysed.cfg.store_path, readonly=True)
    try:
        again = summarize_sources(store, ids, file=printed["file"], packets=printed["packets"])
        other = summarize_sources(store, [99_999], file="none", packets=None)
    finally:
        store.close()
    assert again == printed
    assert other["events_by_type"] == {} and other["alerts"] == [] and other["top_talkers"] == []


# -- totals ------------------------------------------------------------------------------------


@pytest.mark.suricata
def test_total_of_an_analysis_is_the_merge_of_its_captures(analysed: Analysed) -> None:
    captures, total = analysed.output["captures"], analysed.output["total"]
    assert total == merge_summaries(captures)
    assert total["packets"] == sum(c["packets"] for c in captures)
    expected_types: Counter[str] = Counter()
    for c in captures:
        expected_types.update(c["events_by_type"])
    assert total["events_by_type"] == dict(sorted(expected_types.items()))
    assert total["alerts_by_sid"] == {"2100498": 1, "9100001": 222}
    assert total["alerts_by_severity"] == {"medium": 223}


def _part(packets: int | None, types: dict[str, int], alerts: list[tuple[int, int, int]],
          talkers: dict[str, int], findings: int = 0) -> dict[str, Any]:  # fmt: skip
    """A capture summary: alerts as (sid, severity, count)."""
    return {
        "file": "x.pcap", "packets": packets, "events_by_type": types,
        "alerts_by_sid": {str(sid): n for sid, _, n in alerts},
        "alerts": [{"sid": sid, "signature": f"SIG {sid}", "category": "c", "severity": sev,
                    "count": n} for sid, sev, n in alerts],
        "alerts_by_severity": {},
        "top_talkers": [{"ip": ip, "bytes": b} for ip, b in talkers.items()],
        "findings": [{"type": "port_scan", "category": "reconnaissance", "severity": 2,
                      "src_ip": "203.0.113.9", "dest_ip": "192.0.2.20"}] * findings,
    }  # fmt: skip


def test_merge_sums_counts_alerts_and_talkers() -> None:
    one = _part(100, {"flow": 3, "alert": 4}, [(10, 2, 3), (9, 1, 1)],
                {"192.0.2.1": 500, "198.51.100.1": 200}, findings=1)  # fmt: skip
    two = _part(None, {"flow": 2, "dns": 7, "alert": 5}, [(10, 2, 5), (2100498, 3, 0)],
                {"198.51.100.1": 400, "2001:db8::1": 50}, findings=2)  # fmt: skip
    total = merge_summaries([one, two])
    assert total["packets"] == 100
    assert total["events_by_type"] == {"alert": 9, "dns": 7, "flow": 5}
    assert total["alerts_by_sid"] == {"9": 1, "10": 8, "2100498": 0}
    assert [(a["sid"], a["count"]) for a in total["alerts"]] == [(9, 1), (10, 8), (2100498, 0)]
    assert total["alerts_by_severity"] == {"high": 1, "medium": 8, "low": 0}
    assert total["top_talkers"] == [
        {"ip": "198.51.100.1", "bytes": 600}, {"ip": "192.0.2.1", "bytes": 500},
        {"ip": "2001:db8::1", "bytes": 50},
    ]  # fmt: skip
    assert len(total["findings"]) == 3
    # The parts are not modified.
    assert one["alerts"][0]["count"] == 3


def test_merge_of_nothing_is_empty() -> None:
    total = merge_summaries([])
    assert total["packets"] == 0
    assert total["events_by_type"] == {} and total["alerts"] == [] and total["top_talkers"] == []


# -- text ----------------------------------------------------------------------------------------


@pytest.mark.suricata
def test_format_summary_shows_what_a_user_looks_for(analysed: Analysed) -> None:
    summary = analysed.output["captures"][1]
    text = format_summary(summary, "Capture iodine.pcap")
    lines = text.splitlines()
    assert lines[0] == "Capture iodine.pcap"
    assert "  packets: 438" in lines
    # The counts of what Suricata wrote for this capture: in unix-socket mode it may split
    # a flow, or log the last flow of the capture before into this one's file, now and then.
    types = Counter(r["event_type"] for r in _eve(analysed.eve_files[1]))
    assert types["alert"] == 222 and types["dns"] == 434 and types["flow"] >= 1
    expected = ", ".join(f"{name} {n}" for name, n in sorted(types.items()))
    assert f"  events by type: {expected}" in lines
    assert "  alerts by severity: medium 222" in lines
    assert "        222  [9100001] SPANWATCH TEST DNS query to pirate.sea (medium)" in lines
    assert "  top talkers (bytes):" in lines
    assert any(line.split() == ["70252", "10.0.2.20"] for line in lines)


def test_format_summary_of_an_empty_capture_says_none() -> None:
    text = format_summary(_part(None, {}, [], {}), "Capture empty.pcap")
    assert "  packets: ?" in text
    assert "  events by type: none" in text
    assert "  alerts by severity: none" in text
    assert "top talkers" not in text and "findings" not in text


def test_format_summary_lists_ten_signatures_and_counts_the_rest() -> None:
    alerts = [(9000000 + i, 3, 20 - i) for i in range(13)]
    text = format_summary(_part(5, {"alert": 182}, alerts, {}, findings=2), "Total")
    assert "[9000009]" in text and "[9000010]" not in text
    assert "    ... and 3 more signatures" in text
    assert "  findings: 2" in text
    assert "    port_scan (reconnaissance): 203.0.113.9 -> 192.0.2.20" in text


@pytest.mark.suricata
def test_stats_of_the_analysed_store(analysed: Analysed) -> None:
    store = open_store(analysed.cfg.store_path, readonly=True)
    try:
        stats = store.stats()
        sigs = store.signatures(sorted(stats.alerts_by_sid))
    finally:
        store.close()
    as_dict = stats_as_dict(stats, sigs, analysed.cfg)
    everything = [r for path in analysed.eve_files for r in _eve(path)]
    assert as_dict["total_events"] == len(everything)
    assert as_dict["alerts_by_sid"] == {"2100498": 1, "9100001": 222}
    assert as_dict["signatures"] == {
        "2100498": "GPL ATTACK_RESPONSE id check returned root",
        "9100001": "SPANWATCH TEST DNS query to pirate.sea",
    }
    # Times are shown in the configured zone (Asia/Ho_Chi_Minh, UTC+7).
    assert as_dict["oldest"].endswith("+07:00") and as_dict["newest"].endswith("+07:00")
    text = format_stats(stats, sigs, analysed.cfg)
    assert text.splitlines()[0].startswith(
        f"Store {analysed.cfg.store_path}: {len(everything)} events, "
    )
    assert "  alerts by signature:" in text
    assert "[9100001] SPANWATCH TEST DNS query to pirate.sea" in text
    assert "dead letters" not in text


def test_format_stats_shows_dead_letters_and_unknown_signatures() -> None:
    cfg = AppConfig.model_validate({"data_dir": "/srv/spanwatch", "timezone": "UTC"})
    stats = StoreStats(
        events_by_type={"alert": 3, "flow": 10}, alerts_by_sid={2100498: 2, 42: 1},
        total_events=13, size_bytes=3 * 1048576, oldest_us=1_714_564_800_000_000,
        newest_us=1_714_568_400_000_000,
        counters={"dead_letter.bad-json": 4, "dead_letter.not-utf8": 1, "lines": 17},
    )  # fmt: skip
    sigs = {2100498: Signature(2100498, "GPL ATTACK_RESPONSE id check returned root", None, 2)}
    text = format_stats(stats, sigs, cfg)
    assert text.splitlines()[0] == "Store /srv/spanwatch/spanwatch.db: 13 events, 3.0 MiB"
    assert "  oldest: 2024-05-01T12:00:00+00:00   newest: 2024-05-01T13:00:00+00:00" in text
    assert "[2100498] GPL ATTACK_RESPONSE id check returned root" in text
    assert "[42] ?" in text
    assert "  dead letters: bad-json 4, not-utf8 1" in text
    assert stats_as_dict(stats, sigs, cfg)["counters"]["lines"] == 17
