"""Suricata started from an earlier analysis's plan: the real console script, Suricata and
captures; the result never differs from an analysis that starts its own."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sensors.quickstart import PLANS_FILE, invocation_of
from tests.helpers.cli import REPO, run_spanwatch

RULES = REPO / "config" / "rules" / "local.rules"
EARLY = "started at once"


def test_one_plan_serves_every_capture_and_data_dir(tmp_path: Path) -> None:
    env = {"SPANWATCH_CONFIG": str(tmp_path / "none.yaml")}
    first = invocation_of(["analyze", "--data-dir", "/srv/a", "--rules", "r", "x.pcap"], env)
    again = invocation_of(["analyze", "--data-dir=/srv/b", "--rules", "r", "y.pcap"], env)
    assert first is not None and again is not None
    assert (first.capture, first.data_dir, again.capture, again.data_dir) == (
        "x.pcap", "/srv/a", "y.pcap", "/srv/b")  # fmt: skip
    assert first.key == again.key
    other = invocation_of(["analyze", "--data-dir", "/srv/a", "--rules", "s", "x.pcap"], env)
    assert other is not None and other.key != first.key
    plain = invocation_of(["analyze", "x.pcap"], env)
    env_changed = invocation_of(["analyze", "x.pcap"], {**env, "SPANWATCH_SENSOR__NAME": "b"})
    assert plain is not None and env_changed is not None and env_changed.key != plain.key
    # Not planned: another command, a relative data directory, no capture last.
    assert invocation_of(["stats", "x.pcap"], env) is None
    assert invocation_of(["analyze", "--data-dir", "rel", "x.pcap"], env) is None
    assert invocation_of(["analyze", "x.pcap", "--json"], env) is None


def test_a_changed_config_file_changes_the_key(tmp_path: Path) -> None:
    config = tmp_path / "appliance.yaml"
    config.write_text("sensor: {name: a}\n")
    before = invocation_of(["analyze", "--config", str(config), "x.pcap"], {})
    config.write_text("sensor: {name: bb}\n")
    after = invocation_of(["analyze", "--config", str(config), "x.pcap"], {})
    assert before is not None and after is not None and before.key != after.key


def _analyze(tmp_path: Path, name: str, capture: Path, *extra: str
             ) -> tuple[dict, str, Path]:  # fmt: skip
    data = tmp_path / name
    proc = run_spanwatch("analyze", "-v", "--json", "--checksum", "none", "--data-dir", data,
                         "--rules", RULES, *extra, capture,
                         env={"SPANWATCH_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr, data


def _analyze_then_edit_plans(tmp_path: Path, capture: Path, edit: Callable[[dict], None]
                             ) -> dict:  # fmt: skip
    """A first analysis (its summary), then its plans file changed by ``edit``."""
    first, _, _ = _analyze(tmp_path, "one", capture)
    plans_file = tmp_path / "cache" / PLANS_FILE
    plans = json.loads(plans_file.read_text())
    edit(plans)
    plans_file.write_text(json.dumps(plans))
    return first


def _comparable(summary: dict) -> list:
    return [{k: v for k, v in c.items() if k not in ("file",)} for c in summary["captures"]]


@pytest.mark.suricata
def test_a_second_analysis_starts_suricata_at_once_with_the_same_result(
    tmp_path: Path, testdata: Path
) -> None:
    capture = testdata / "pcaps" / "eicar-download" / "sv_http-evader-000.pcap"
    first, log, _ = _analyze(tmp_path, "one", capture)
    assert EARLY not in log
    assert (tmp_path / "cache" / PLANS_FILE).stat().st_mode & 0o077 == 0
    second, log, data = _analyze(tmp_path, "two", capture)
    assert EARLY in log
    assert _comparable(second) == _comparable(first)
    assert second["total"]["alerts_by_sid"], "the EICAR download raises an alert"
    (run,) = (data / "runs").iterdir()
    assert (run / "0" / "eve.json").stat().st_size > 0


@pytest.mark.suricata
def test_a_stale_plan_is_stopped_and_leaves_nothing(tmp_path: Path, testdata: Path) -> None:
    capture = testdata / "pcaps" / "eicar-download" / "sv_http-evader-000.pcap"

    def stale(plans: dict) -> None:
        # As an older spanwatch would have left it: a configuration this one no longer
        # renders (here: no alert output at all, which would lose every alert if used).
        for plan in plans.values():
            assert "- alert:" in plan["yaml"]
            plan["yaml"] = plan["yaml"].replace("- alert:", "- alert-was-here:")

    first = _analyze_then_edit_plans(tmp_path, capture, stale)
    second, log, data = _analyze(tmp_path, "two", capture)
    assert EARLY not in log and "runs another configuration" in log
    assert _comparable(second) == _comparable(first)
    (run,) = (data / "runs").iterdir()  # the early run's directory is gone
    assert "- alert:" in (run / "suricata.yaml").read_text()


@pytest.mark.suricata
def test_a_plan_others_may_write_is_not_used(tmp_path: Path, testdata: Path) -> None:
    capture = testdata / "pcaps" / "eicar-download" / "sv_http-evader-000.pcap"
    _analyze(tmp_path, "one", capture)
    os.chmod(tmp_path / "cache" / PLANS_FILE, 0o666)
    _, log, _ = _analyze(tmp_path, "two", capture)
    assert EARLY not in log


@pytest.mark.suricata
def test_a_bad_capture_after_a_plan_fails_cleanly_and_leaves_no_run(
    tmp_path: Path, testdata: Path
) -> None:
    capture = testdata / "pcaps" / "eicar-download" / "sv_http-evader-000.pcap"
    _analyze(tmp_path, "one", capture)
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("not a capture\n" * 100)
    data = tmp_path / "two"
    proc = run_spanwatch("analyze", "-v", "--json", "--checksum", "none", "--data-dir", data,
                         "--rules", RULES, bogus,
                         env={"SPANWATCH_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert proc.returncode != 0
    assert "notes.pcap" in proc.stderr and "capture" in proc.stderr
    assert not any((data / "runs").iterdir())
    assert "suricata" not in _children_of_nobody()


def _children_of_nobody() -> str:
    """Names of Suricata processes left running with a run directory of this test."""
    names = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"suricata") and b"notes.pcap" in b" ".join(cmd):
                names.append("suricata")
    return " ".join(names)


@pytest.mark.suricata
def test_a_command_that_fails_before_its_analysis_stops_the_early_suricata(
    tmp_path: Path, testdata: Path
) -> None:
    capture = testdata / "pcaps" / "eicar-download" / "sv_http-evader-000.pcap"
    rules = tmp_path / "mine.rules"
    rules.write_text(RULES.read_text())
    env = {"SPANWATCH_CACHE_DIR": str(tmp_path / "cache")}
    args = ["analyze", "-v", "--json", "--checksum", "none", "--rules", rules, capture]
    assert run_spanwatch(*args[:-1], "--data-dir", tmp_path / "one", capture,
                         env=env).returncode == 0  # fmt: skip
    rules.unlink()  # the same command line, but its rule file is gone
    proc = run_spanwatch(*args[:-1], "--data-dir", tmp_path / "two", capture, env=env)
    assert proc.returncode != 0 and "mine.rules" in proc.stderr
    runs = tmp_path / "two" / "runs"
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.suricata
def test_a_damaged_plans_file_changes_nothing(tmp_path: Path, testdata: Path) -> None:
    capture = testdata / "pcaps" / "eicar-download" / "sv_http-evader-000.pcap"

    def damage(plans: dict) -> None:  # valid JSON of other shapes: fields, and a plan
        for key in plans:
            plans[key] = {"yaml": 5, "argv": "x", "dirs": 7, "data_dir": None, "used": "?"}
        plans["other"] = 5

    first = _analyze_then_edit_plans(tmp_path, capture, damage)
    second, log, _ = _analyze(tmp_path, "two", capture)
    assert EARLY not in log
    assert _comparable(second) == _comparable(first)
    third, log, _ = _analyze(tmp_path, "three", capture)  # the plan was written afresh
    assert EARLY in log and _comparable(third) == _comparable(first)
