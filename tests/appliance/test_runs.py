"""Run folders of analyses: which ones the next analysis rolls back, with a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from appliance.events import make_finding
from appliance.runs import LOCK_NAME, RunLock, roll_back_unfinished
from appliance.store import EventQuery, EventStore, open_store
from sensors.capture import FindingWriter
from tests.helpers.cli import run_spanwatch


def _run_with_events(store: EventStore, runs: Path, name: str) -> Path:
    """A run folder whose analysis stored one finding under a source named after it."""
    run = runs / name
    (run / "0").mkdir(parents=True)
    writer = FindingWriter(store, "test", name.encode(), f"{run / '0' / 'eve.json'}#findings")
    finding = make_finding(
        type="test", category="policy", severity=3, confidence=0.5, evidence={},
        timestamp="2026-11-25T09:00:00.000000+0000", src_ip="10.0.0.1", dest_ip=None,
        explanation={"en": name, "vi": name},
    )  # fmt: skip
    assert writer.write([finding]) == 1
    return run


def _dead_lock(run: Path) -> None:
    """The lock file an analysis killed mid-run leaves: there, and held by no one."""
    code = f"from appliance.runs import RunLock; RunLock(__import__('pathlib').Path({str(run)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_only_runs_whose_analysis_is_over_unfinished_are_rolled_back(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    store = open_store(tmp_path / "spanwatch.db")
    try:
        killed = _run_with_events(store, runs, "20261125T090000")
        _dead_lock(killed)
        similar = _run_with_events(store, runs, "20261125T090000-2")  # finished: no lock file
        running = _run_with_events(store, runs, "20261125T090001")
        held = RunLock(running)
        current = _run_with_events(store, runs, "20261125T090002")
        _dead_lock(current)  # (an analysis does not roll itself back)
        roll_back_unfinished(store, runs, current)
        left = sorted(e["finding"]["explanation"]["en"] for e in store.events(EventQuery()))
        assert left == sorted([similar.name, running.name, current.name])
        assert sorted(os.listdir(runs)) == sorted([similar.name, running.name, current.name])
        held.release(finished=True)
        assert not (running / LOCK_NAME).exists()
    finally:
        store.close()


def test_a_helper_forked_by_the_analysis_does_not_keep_its_run_locked(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20261125T090000"
    lock = RunLock(run)
    wait, done = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: lives on while the analysis "dies" (releases its lock)
        os.close(done)
        os.read(wait, 1)
        os._exit(0)
    os.close(wait)
    try:
        lock.release(finished=False)
        store = open_store(tmp_path / "spanwatch.db")
        try:
            roll_back_unfinished(store, run.parent, run.parent / "other")
        finally:
            store.close()
        assert not run.exists()
    finally:
        os.close(done)
        os.waitpid(pid, 0)


def test_a_retention_pass_rolls_back_a_killed_analysis_too(appliance_config: Path) -> None:
    # The core's daily retention job does what the next analysis would (`spanwatch
    # retention` runs the same pass).
    data = Path(yaml.safe_load(appliance_config.read_text(encoding="utf-8"))["data_dir"])
    store = open_store(data / "spanwatch.db")
    try:
        killed = _run_with_events(store, data / "runs", "20261125T090000")
    finally:
        store.close()
    _dead_lock(killed)
    done = run_spanwatch("retention", "-q", "--config", appliance_config)
    assert done.returncode == 0, done.stderr
    assert f"The analysis in {killed} did not finish" in done.stderr
    assert not killed.exists()
    store = open_store(data / "spanwatch.db", readonly=True)
    try:
        assert store.count_events(EventQuery()) == 0
    finally:
        store.close()
