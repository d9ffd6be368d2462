"""The ``spanwatch`` command as a user runs it: exit codes, messages, JSON shapes."""

from __future__ import annotations

import json
import os
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from appliance.cli import build_parser
from tests.helpers.cli import run_spanwatch
from tests.helpers.eve import EveGenerator

STATS_KEYS = {"store", "total_events", "size_bytes", "oldest", "newest", "events_by_type",
              "alerts_by_sid", "signatures", "counters"}  # fmt: skip


def _data_dir(config: Path) -> Path:
    return Path(yaml.safe_load(config.read_text(encoding="utf-8"))["data_dir"])


@pytest.fixture
def ingested(appliance_config: Path, tmp_path: Path) -> tuple[Path, list[bytes]]:
    """A store filled by ``spanwatch ingest`` from synthetic EVE with two bad lines."""
    eve = tmp_path / "eve.json"
    lines = EveGenerator(7).lines(400)
    eve.write_bytes(b"\n".join([*lines[:200], b'{"timestamp": "2024-05-01T12:0', b"[1, 2]",
                                *lines[200:]]) + b"\n")  # fmt: skip
    done = run_spanwatch("ingest", "--config", appliance_config, "-q", eve)
    assert done.returncode == 0, done.stderr
    assert "402 lines read" in done.stdout and "2 bad lines" in done.stdout
    return appliance_config, lines


# -- version and usage ----------------------------------------------------------------------


def test_version_prints_the_installed_version() -> None:
    done = run_spanwatch("--version")
    assert done.returncode == 0
    assert done.stdout == f"spanwatch {version('spanwatch')}\n"


def test_no_command_is_a_usage_error() -> None:
    done = run_spanwatch()
    assert done.returncode == 2
    assert "the following arguments are required: COMMAND" in done.stderr


def test_unknown_option_is_a_usage_error(appliance_config: Path) -> None:
    done = run_spanwatch("stats", "--config", appliance_config, "--colour")
    assert done.returncode == 2
    assert "unrecognized arguments: --colour" in done.stderr


def test_every_documented_command_is_offered() -> None:
    help_text = build_parser().format_help()
    for command in ("analyze", "ingest", "sensor", "stats", "check-config", "retention",
                    "demo-capture"):  # fmt: skip
        assert command in help_text


# -- check-config ----------------------------------------------------------------------------


def test_check_config_accepts_a_valid_file(appliance_config: Path) -> None:
    done = run_spanwatch("check-config", "--config", appliance_config)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"Configuration OK ({appliance_config}): sensor test-sensor, 3 monitored network(s), "
        f"0 interface(s), data in {_data_dir(appliance_config)}.\n"
    )


def test_check_config_error_exits_2_with_the_located_message(tmp_path: Path) -> None:
    config = tmp_path / "appliance.yaml"
    config.write_text("sensor:\n  name: dc1\nnetworks:\n  home:\n    - 192.0.2.0/24\n"
                      "    - 192.0.2.0/40\ntimezone: Saigon/Old\n", encoding="utf-8")  # fmt: skip
    done = run_spanwatch("check-config", "--config", config)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "spanwatch: configuration error:\n"
        f"{config}:6: networks.home.1: '192.0.2.0/40' is not a network in CIDR form "
        "(e.g. 10.0.0.0/8)\n"
        f"{config}:7: timezone: 'Saigon/Old' is not a known time zone (e.g. Asia/Ho_Chi_Minh)\n"
    )


def test_check_config_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    done = run_spanwatch("check-config", "--config", tmp_path / "nope.yaml")
    assert done.returncode == 2
    assert f"{tmp_path / 'nope.yaml'}: configuration file not found" in done.stderr


def test_config_errors_stop_every_command_before_it_runs(tmp_path: Path) -> None:
    config = tmp_path / "appliance.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ningest: {{batch_size: -1}}\n")
    done = run_spanwatch("stats", "--config", config)
    assert done.returncode == 2
    assert f"{config}:2: ingest.batch_size: " in done.stderr
    assert not (tmp_path / "data").exists()


def test_environment_and_data_dir_flag_override_the_file(
    appliance_config: Path, tmp_path: Path
) -> None:
    env = {"SPANWATCH_DATA_DIR": str(tmp_path / "from-env"), "SPANWATCH_SENSOR__NAME": "edge-2"}
    done = run_spanwatch("check-config", "--config", appliance_config, env=env)
    assert "sensor edge-2," in done.stdout
    assert f"data in {tmp_path / 'from-env'}." in done.stdout
    flag = run_spanwatch("check-config", "--config", appliance_config,
                         "--data-dir", tmp_path / "from-flag", env=env)  # fmt: skip
    assert f"data in {tmp_path / 'from-flag'}." in flag.stdout


def test_bad_environment_value_is_named_in_the_error(appliance_config: Path) -> None:
    done = run_spanwatch("check-config", "--config", appliance_config,
                         env={"SPANWATCH_INGEST__BATCH_SIZE": "0"})  # fmt: skip
    assert done.returncode == 2
    assert "environment SPANWATCH_INGEST__BATCH_SIZE: ingest.batch_size: " in done.stderr


# -- stats -----------------------------------------------------------------------------------


def test_stats_json_describes_the_store(ingested: tuple[Path, list[bytes]]) -> None:
    config, lines = ingested
    done = run_spanwatch("stats", "--json", "--config", config)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert set(stats) == STATS_KEYS
    records = [json.loads(line) for line in lines]
    assert stats["store"] == str(_data_dir(config) / "spanwatch.db")
    assert stats["total_events"] == sum(stats["events_by_type"].values()) == len(records)
    expected_alerts: dict[str, int] = {}
    for r in records:
        if r["event_type"] == "alert":
            sid = str(r["alert"]["signature_id"])
            expected_alerts[sid] = expected_alerts.get(sid, 0) + 1
    assert stats["alerts_by_sid"] == expected_alerts
    assert set(stats["signatures"]) == set(expected_alerts)
    assert stats["counters"]["dead_letter.bad-json"] == 1
    assert stats["counters"]["dead_letter.not-an-object"] == 1
    assert stats["size_bytes"] > 0
    # The first synthetic line is at 2024-05-08T00:00:00Z, shown in Asia/Ho_Chi_Minh.
    assert stats["oldest"] == stats["newest"] == "2024-05-08T07:00:00+07:00"


def test_stats_text_names_store_counts_and_dead_letters(ingested: tuple[Path, list[bytes]]) -> None:
    config, lines = ingested
    done = run_spanwatch("stats", "--config", config)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"Store {_data_dir(config) / 'spanwatch.db'}: {len(lines)} events, ")
    assert "  events by type:" in done.stdout
    assert "  dead letters: bad-json 1, not-an-object 1" in done.stdout


def test_stats_without_a_store_exits_1_and_says_what_to_do(appliance_config: Path) -> None:
    store = _data_dir(appliance_config) / "spanwatch.db"
    done = run_spanwatch("stats", "--config", appliance_config)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"spanwatch: error: No store at {store}; run `spanwatch analyze` or a sensor first.\n"
    )
    assert not store.exists()


def test_stats_on_a_file_that_is_not_a_store_exits_1(appliance_config: Path) -> None:
    store = _data_dir(appliance_config) / "spanwatch.db"
    store.parent.mkdir(parents=True)
    store.write_text("not a database\n" * 100)
    done = run_spanwatch("stats", "--json", "--config", appliance_config)
    assert done.returncode == 1
    assert done.stderr.startswith("spanwatch: error: ")
    assert str(store) in done.stderr and "Traceback" not in done.stderr


# -- retention --------------------------------------------------------------------------------


def test_retention_prints_usage_per_kind(ingested: tuple[Path, list[bytes]]) -> None:
    config, _ = ingested
    done = run_spanwatch("retention", "-q", "--config", config)
    assert done.returncode == 0, done.stderr
    parts = done.stdout.strip().split("; ")
    assert [p.split(":")[0] for p in parts] == ["alerts", "metadata", "pcap"]
    for part in parts:
        assert " MiB, removed " in part and " events / " in part and " files, budget lasts " in part
    # Everything was just ingested: nothing is old enough to go, and data is arriving.
    assert "removed 0 events / 0 files" in parts[1]
    assert parts[1].endswith(" days")
    assert parts[2].endswith("budget lasts unknown")


def test_retention_removes_old_evidence_files(appliance_config: Path) -> None:
    pcap = _data_dir(appliance_config) / "sensors" / "eth1" / "pcap"
    pcap.mkdir(parents=True)
    old, new = pcap / "log.pcap.1000", pcap / "log.pcap.2000"
    for path in (old, new):
        path.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 1020)
    # What Suricata wrote for offline analyses (the store holds its records) goes too.
    runs = _data_dir(appliance_config) / "runs"
    old_eve, new_eve = (runs / run / "0" / "eve.json" for run in ("20261001T10", "20261125T10"))
    for path in (old_eve, new_eve):
        path.parent.mkdir(parents=True)
        path.write_bytes(b'{"event_type":"stats"}\n')
    month_ago = time.time() - 30 * 86_400
    for path in (old, old_eve):
        os.utime(path, (month_ago, month_ago))
    done = run_spanwatch("retention", "-q", "--config", appliance_config)
    assert done.returncode == 0, done.stderr
    assert "pcap: 0.0 MiB, removed 0 events / 2 files" in done.stdout
    assert not old.exists() and new.exists()
    assert not old_eve.exists() and new_eve.exists()
