"""The job scheduler under a controlled clock: local fire times, UI overrides, missed runs
caught up once, failing jobs retried without stopping the others."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.config import load_config
from appliance.jobs import JobScheduler, JobSchedules
from appliance.service import Service

UTC = dt.UTC


def us(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=UTC).timestamp() * 1_000_000)


@pytest.fixture
def service(appliance_config: Path) -> Iterator[Service]:
    cfg = load_config(appliance_config, overrides={"core.schedules.retry_seconds": 0.01})
    svc = Service(cfg)
    yield svc
    svc.close()


def test_the_daily_report_fires_at_seven_in_the_morning_local_time(service: Service) -> None:
    schedules = JobSchedules(service)
    # 2026-11-24 12:00 UTC is 19:00 in Ho Chi Minh City: next 07:00 local is 00:00 UTC.
    assert schedules.next_run("report", us(2026, 11, 24, 12)) == us(2026, 11, 25, 0)
    assert schedules.next_run("report", us(2026, 11, 24, 23, 59)) == us(2026, 11, 25, 0)


def test_an_admin_override_wins_over_the_configuration_until_reset(service: Service) -> None:
    schedules = JobSchedules(service)
    assert schedules.get("report").source == "config"
    changed = schedules.set("report", "30 6 * * 1-5", actor="admin")
    assert (changed.crontab, changed.source) == ("30 6 * * 1-5", "ui")
    # Friday 2026-11-27 06:30 local = 2026-11-26 23:30 UTC; then Monday.
    assert schedules.next_run("report", us(2026, 11, 26, 12)) == us(2026, 11, 26, 23, 30)
    assert schedules.next_run("report", us(2026, 11, 27, 0)) == us(2026, 11, 29, 23, 30)
    with pytest.raises(ValueError):
        schedules.set("report", "every morning", actor="admin")
    with pytest.raises(ValueError):
        schedules.set("coffee", "0 7 * * *", actor="admin")
    assert schedules.reset("report", actor="admin").source == "config"


def test_runs_missed_during_downtime_run_once_on_start(service: Service) -> None:
    clock = [us(2026, 11, 22, 10) / 1e6]
    scheduler = JobScheduler(service, jobs={"report": lambda s, t: "ok"}, clock=lambda: clock[0])
    assert scheduler.catch_up() == {}  # first start: nothing is due before it
    # Down for three days; back at 09:00 local on the 25th: three 07:00 runs were missed,
    # the report runs once, for the latest of them.
    clock[0] = us(2026, 11, 25, 2) / 1e6
    assert scheduler.catch_up() == {"report": us(2026, 11, 25, 0)}
    scheduler.run_job("report", us(2026, 11, 25, 0))
    assert scheduler.catch_up() == {}


def test_a_missed_run_older_than_the_grace_period_is_skipped(appliance_config: Path) -> None:
    cfg = load_config(appliance_config, overrides={"core.schedules.misfire_grace_hours": 12})
    service = Service(cfg)
    clock = [us(2026, 11, 20, 10) / 1e6]
    scheduler = JobScheduler(service, jobs={"report": lambda s, t: "ok"}, clock=lambda: clock[0])
    scheduler.catch_up()
    scheduler.run_job("report", us(2026, 11, 21, 0))
    clock[0] = us(2026, 11, 23, 20) / 1e6  # 03:00 local: 07:00 yesterday is 20 h ago
    assert scheduler.catch_up() == {}
    service.close()


def test_a_failing_job_is_retried_and_does_not_stop_the_others(service: Service) -> None:
    calls: list[str] = []

    def broken(_svc: Service, _t: int) -> str:
        calls.append("rules")
        raise OSError("mirror unreachable")

    def fine(_svc: Service, _t: int) -> str:
        calls.append("report")
        return "report stored"

    clock = [us(2026, 11, 23, 10) / 1e6]
    scheduler = JobScheduler(
        service, jobs={"rules": broken, "report": fine}, clock=lambda: clock[0]
    )
    scheduler.catch_up()
    clock[0] = us(2026, 11, 24, 1) / 1e6  # 08:00 local: both 03:30 and 07:00 were missed
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = {r.job: r for r in scheduler.schedules.runs() if r.finished_at}
            if len(runs) == 2:
                break
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert runs["rules"].status == "failed" and runs["rules"].attempts == 3
    assert "mirror unreachable" in (runs["rules"].message or "")
    assert runs["report"].status == "ok" and runs["report"].message == "report stored"
    assert calls.count("rules") == 3 and calls.count("report") == 1


def test_run_now_records_the_outcome(service: Service) -> None:
    scheduler = JobScheduler(service, jobs={"health": lambda s, t: "2 issues"})
    assert scheduler.run_now("health") == {"job": "health", "status": "ok",
                                           "message": "2 issues"}  # fmt: skip
    assert scheduler.schedules.runs("health")[0].scheduled_for is None
    with pytest.raises(ValueError):
        scheduler.run_now("nope")
