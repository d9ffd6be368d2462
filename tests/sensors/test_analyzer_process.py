"""The EVE analyzers in a process of their own: the same findings as in-process, from a
file that grows while they read it; a process that dies fails the analysis loudly."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from pathlib import Path

import pytest

from appliance.config import AppConfig
from appliance.events import EveDecodeError, decode_line
from sensors.analyzer_process import AnalyzerProcess, AnalyzerProcessError, RemoteAnalyzers
from sensors.analyzers import load_analyzers
from tests.helpers import cli
from tests.helpers.analysis import analyze_findings

SCANS = [cli.testdata_dir() / "pcaps" / "portscan" / name
         for name in ("chrissanders_synscan.pcapng", "zeek_nmap-vsn.pcap")]  # fmt: skip
BATCH = 500


@pytest.fixture(scope="module")
def eve_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Suricata's EVE output of two port scans (through ``spanwatch analyze``)."""
    tmp = tmp_path_factory.mktemp("scan")
    findings = analyze_findings(tmp, SCANS)
    assert {f["finding"]["type"] for f in findings} >= {"port-scan"}
    return sorted((tmp / "data" / "runs").glob("*/*/eve.json"))


def in_process(cfg: AppConfig, eve: Path) -> list[bytes]:
    analyzers = load_analyzers(cfg)
    analyzers.init()
    findings: list[bytes] = []
    lines = eve.read_bytes().splitlines()
    for start in range(0, len(lines), BATCH):
        records = []
        for index, raw in enumerate(lines[start : start + BATCH]):
            try:
                records.append(decode_line(raw, start + index))
            except EveDecodeError:
                continue
        findings += analyzers.process(records)
    return findings + analyzers.shutdown()


def through_process(analyzers: RemoteAnalyzers, source: Path, target: Path) -> list[bytes]:
    """Copy ``source`` to ``target`` in two halves while the process follows ``target``."""
    data = source.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    target.write_bytes(data[:cut] + data[cut : cut + 20])  # the last line half-written
    analyzers.init()
    findings = analyzers.process([])
    with open(target, "ab") as fh:
        fh.write(data[cut + 20 :])
    return findings + analyzers.shutdown()


def test_findings_equal_those_in_process(tmp_path: Path, eve_files: list[Path]) -> None:
    cfg = AppConfig()
    process = AnalyzerProcess(cfg)  # forked before any thread or database
    try:
        for index, eve in enumerate(eve_files):  # one file after another, as with --several
            target = tmp_path / f"eve-{index}.json"
            analyzers = process.analyzers_for(target, max_line_bytes=1 << 20, batch_size=BATCH)
            assert isinstance(analyzers, RemoteAnalyzers)
            got = through_process(analyzers, eve, target)
            expected = in_process(cfg, eve)
            assert expected, f"{eve} has findings"
            assert sorted(got) == sorted(expected)
    finally:
        process.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "spanwatch-analyzers"]


def test_a_dead_analyzer_process_fails_loudly(tmp_path: Path, eve_files: list[Path]) -> None:
    process = AnalyzerProcess(AppConfig())
    try:
        analyzers = process.analyzers_for(tmp_path / "eve.json", max_line_bytes=1 << 20,
                                          batch_size=BATCH)  # fmt: skip
        assert isinstance(analyzers, RemoteAnalyzers)
        (child,) = [p for p in multiprocessing.active_children()
                    if p.name == "spanwatch-analyzers"]  # fmt: skip
        assert child.pid is not None and child.pid == process.pid
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        with pytest.raises(AnalyzerProcessError, match="ended unexpectedly"):
            through_process(analyzers, eve_files[0], tmp_path / "eve.json")
    finally:
        process.close()


def test_beside_another_thread_the_analyzers_run_in_process(tmp_path: Path) -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        process = AnalyzerProcess(AppConfig())  # no fork beside a running thread
        analyzers = process.analyzers_for(tmp_path / "eve.json", max_line_bytes=1 << 20,
                                          batch_size=BATCH)  # fmt: skip
        assert not isinstance(analyzers, RemoteAnalyzers) and analyzers.analyzers
        process.close()
    finally:
        release.set()
        other.join()
