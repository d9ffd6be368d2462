"""The EVE analyzers of a sensor or an ingest in a process of their own: the runner stores
the same events and findings as with in-process analyzers, each batch with its own, and a
killed analyzers' process loses no finding and stops nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.store import EventQuery, open_store
from sensors.analyzer_pipe import PipedAnalyzers, close_analyzers, runner_analyzers
from sensors.analyzers import AnalyzerSet, load_analyzers
from sensors.deadletter import DeadLetterFile
from sensors.runner import EveRunner, RunStats
from sensors.ship import StoreSink
from tests.helpers import cli
from tests.helpers.analysis import analyze_findings

SCANS = [cli.testdata_dir() / "pcaps" / "portscan" / name
         for name in ("chrissanders_synscan.pcapng", "zeek_nmap-vsn.pcap")]  # fmt: skip
BATCH = 300


@pytest.fixture(scope="module")
def eve(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Suricata's EVE output of two port scans, one after the other in one file."""
    tmp = tmp_path_factory.mktemp("scan")
    analyze_findings(tmp, SCANS)
    out = tmp / "eve.json"
    out.write_bytes(b"".join(p.read_bytes() for p in sorted(tmp.glob("data/runs/*/*/eve.json"))))
    return out


def ingest(tmp: Path, eve: Path, analyzers: AnalyzerSet,
           on_batch: object = None) -> tuple[RunStats, list[dict[str, object]], int]:  # fmt: skip
    """``eve`` through the runner into a new store: stats, findings, events stored."""
    cfg = load_config(None, overrides={"data_dir": str(tmp)}, environ={})
    cfg = cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"batch_size": BATCH})})
    store = open_store(cfg.store_path)
    try:
        runner = EveRunner(
            eve, store=store, sink=StoreSink(store, "test"), analyzers=analyzers,
            dead_letters=DeadLetterFile(tmp / "dead.jsonl"), cfg=cfg.ingest,
            on_batch=on_batch,  # type: ignore[arg-type]
        )  # fmt: skip
        stats = runner.run()
        findings = [r["finding"] for r in store.events(EventQuery(event_type="finding"))]
        total = sum(store.stats().events_by_type.values())
    finally:
        store.close()
    return stats, findings, total


def _key(finding: dict[str, object]) -> tuple[object, ...]:
    return finding["type"], finding.get("explanation")


def _children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "spanwatch-analyzers"]


def test_the_runner_stores_what_in_process_analyzers_give(tmp_path: Path, eve: Path) -> None:
    cfg = load_config(None, overrides={"data_dir": str(tmp_path)}, environ={})
    piped = runner_analyzers(cfg)  # forked: no other thread runs in the test
    assert isinstance(piped, PipedAnalyzers) and piped.pid is not None
    try:
        stats, findings, total = ingest(tmp_path / "piped", eve, piped)
    finally:
        close_analyzers(piped)
    assert not _children()
    local_stats, local_findings, local_total = ingest(tmp_path / "local", eve, load_analyzers(cfg))
    assert {f["type"] for f in findings} >= {"port-scan"}
    assert sorted(map(_key, findings)) == sorted(map(_key, local_findings))
    lines = len(eve.read_bytes().splitlines())
    assert stats.lines == local_stats.lines == lines
    assert total == local_total == lines + len(findings)


def test_a_killed_analyzers_process_loses_no_finding(
    tmp_path: Path, eve: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_config(None, overrides={"data_dir": str(tmp_path)}, environ={})
    piped = runner_analyzers(cfg)
    assert isinstance(piped, PipedAnalyzers)
    (child,) = _children()
    killed = threading.Event()

    def kill_after_the_first_batch(stats: RunStats) -> None:
        if not killed.is_set():
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join()
            killed.set()

    try:
        stats, findings, total = ingest(tmp_path / "piped", eve, piped,
                                        kill_after_the_first_batch)  # fmt: skip
    finally:
        close_analyzers(piped)
    assert killed.is_set()
    assert "analyzers' process ended unexpectedly" in caplog.text
    lines = len(eve.read_bytes().splitlines())
    assert stats.lines == lines
    assert total == lines + len(findings)
    # The scans come after the first batch: found by the analyzers that took over.
    assert {f["type"] for f in findings} >= {"port-scan"}


def test_no_process_where_none_can_be_forked(tmp_path: Path) -> None:
    cfg = load_config(None, overrides={"data_dir": str(tmp_path)}, environ={})
    hold = threading.Event()
    other = threading.Thread(target=hold.wait)
    other.start()
    try:
        analyzers = runner_analyzers(cfg)  # another thread runs: forking is not safe
    finally:
        hold.set()
        other.join()
    assert not isinstance(analyzers, PipedAnalyzers) and not analyzers.deferred
    assert not _children()


def test_a_field_msgpack_cannot_carry_still_reaches_the_analyzers(tmp_path: Path) -> None:
    # Packet counts are kept as Suricata (or a forger) wrote them: an integer beyond 64 bits
    # travels as its line instead, and the batch's scan is still found.
    lines = [
        (b'{"timestamp":"2026-01-01T00:00:%02d.000000+0000","flow_id":%d,"event_type":"flow",'
         b'"src_ip":"203.0.113.9","src_port":40000,"dest_ip":"10.0.0.5","dest_port":%d,'
         b'"proto":"TCP","flow":{"pkts_toserver":%s,"pkts_toclient":0,"bytes_toserver":60,'
         b'"bytes_toclient":0,"start":"2026-01-01T00:00:%02d.000000+0000",'
         b'"end":"2026-01-01T00:00:%02d.000000+0000","state":"new","reason":"timeout"},'
         b'"tcp":{"tcp_flags":"02","tcp_flags_ts":"02","tcp_flags_tc":"00","syn":true}}')
        % (n // 20, n + 1, 1000 + n, b"1" if n else b"123456789012345678901234567890",
           n // 20, n // 20)
        for n in range(400)
    ]  # fmt: skip
    eve = tmp_path / "eve.json"
    eve.write_bytes(b"\n".join(lines) + b"\n")
    cfg = load_config(None, overrides={"data_dir": str(tmp_path)}, environ={})
    piped = runner_analyzers(cfg)
    assert isinstance(piped, PipedAnalyzers)
    try:
        stats, findings, total = ingest(tmp_path / "piped", eve, piped)
    finally:
        close_analyzers(piped)
    assert stats.lines == total - len(findings) == 400
    assert "port-scan" in {f["type"] for f in findings}
    assert piped.pid is not None  # no fallback: the process served every batch
