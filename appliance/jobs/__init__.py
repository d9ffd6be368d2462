"""The job scheduler of spanwatch-core: daily report, rules, retention, health, STIX.

APScheduler (3.x, ``BackgroundScheduler``) fires each job by a crontab line in the
appliance's time zone. Schedules come from ``core.schedules`` in appliance.yaml, and an
admin may override one in the UI (``job_schedules`` in the state database). Every run is
recorded in ``job_runs``; that record is also what makes missed runs survive downtime:
at start, a job whose last fire time passed while the core was down (within the grace
period) runs once, however many times it was missed (coalesced). APScheduler's own job
stores would pickle jobs into the database; the run history here holds everything the
restart needs, as plain rows the UI can show.

A job that raises is retried with backoff, logged, and never stops the other jobs.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from appliance.config_core import check_cron, cron_trigger

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

#: A job: gets the service and the fire time it stands for (UTC µs); returns a summary.
JobFunction = Callable[["Service", int], str]
_MAX_CATCHUP_STEPS = 100_000


def job_functions() -> dict[str, JobFunction]:
    """The jobs, by name (the names of ``core.schedules``)."""
    from appliance.jobs import tasks

    return {
        "report": tasks.daily_report,
        "rules": tasks.update_rules,
        "retention": tasks.enforce_retention,
        "health": tasks.check_health,
        "stix": tasks.export_stix,
    }


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job's effective schedule and where it came from."""

    job: str
    crontab: str
    enabled: bool
    source: str  # "config" or "ui"


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a job."""

    id: int
    job: str
    scheduled_for: int | None
    started_at: int
    finished_at: int | None
    status: str
    attempts: int
    message: str | None


def _us(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def _dt(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)


class JobSchedules:
    """``Service.jobs``: schedules (config default, UI override) and the run history."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.tz = ZoneInfo(service.cfg.timezone)

    @property
    def names(self) -> list[str]:
        return ["report", "rules", "retention", "health", "stix"]

    def get(self, job: str) -> Schedule:
        """The schedule ``job`` runs on now."""
        if job not in self.names:
            raise KeyError(job)
        rows = self.service.state.query(
            "SELECT schedule, enabled FROM job_schedules WHERE job = ?", (job,)
        )
        if rows:
            return Schedule(job, rows[0]["schedule"], bool(rows[0]["enabled"]), "ui")
        return Schedule(job, getattr(self.service.cfg.core.schedules, job), True, "config")

    def all(self) -> list[Schedule]:
        return [self.get(job) for job in self.names]

    def set(self, job: str, crontab: str, *, actor: str, enabled: bool = True) -> Schedule:
        """Override a job's schedule (ValueError for a bad crontab line or job)."""
        if job not in self.names:
            raise ValueError(f"unknown job {job!r}")
        check_cron(crontab)
        with self.service.state.transaction() as conn:
            conn.execute(
                "INSERT INTO job_schedules VALUES (?, ?, ?, ?, ?) ON CONFLICT(job) DO UPDATE "
                "SET schedule = excluded.schedule, enabled = excluded.enabled, "
                "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (job, crontab, int(enabled), int(time.time() * 1e6), actor),
            )
        return self.get(job)

    def reset(self, job: str, *, actor: str) -> Schedule:
        """Back to the default of appliance.yaml."""
        with self.service.state.transaction() as conn:
            conn.execute("DELETE FROM job_schedules WHERE job = ?", (job,))
        logger.info("Schedule reset to the configuration: job=%s actor=%s.", job, actor)
        return self.get(job)

    def trigger(self, job: str) -> CronTrigger:
        return cron_trigger(self.get(job).crontab, self.tz)

    def next_run(self, job: str, after_us: int) -> int | None:
        """When ``job`` fires next at or after ``after_us`` (UTC µs)."""
        fire = self.trigger(job).get_next_fire_time(None, _dt(after_us))
        return None if fire is None else _us(fire)

    def last_due(self, job: str, since_us: int, now_us: int) -> int | None:
        """The latest fire time in (since_us, now_us], or None."""
        trigger, last = self.trigger(job), None
        fire = trigger.get_next_fire_time(None, _dt(since_us + 1))
        for _ in range(_MAX_CATCHUP_STEPS):
            if fire is None or _us(fire) > now_us:
                break
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
        return None if last is None else _us(last)

    def runs(self, job: str | None = None, limit: int = 50) -> list[JobRun]:
        """Latest runs, newest first."""
        where, params = ("WHERE job = ?", (job, limit)) if job else ("", (limit,))
        rows = self.service.state.query(
            f"SELECT * FROM job_runs {where} ORDER BY id DESC LIMIT ?", params
        )
        return [JobRun(**{k: r[k] for k in r.keys()}) for r in rows]

    def last_scheduled(self, job: str) -> int | None:
        rows = self.service.state.query(
            "SELECT MAX(scheduled_for) AS s FROM job_runs WHERE job = ?", (job,)
        )
        return rows[0]["s"] if rows else None


class JobScheduler:
    """The core component that runs the jobs (start/stop)."""

    name = "scheduler"

    def __init__(
        self,
        service: Service,
        *,
        jobs: dict[str, JobFunction] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.cfg = service.cfg.core.schedules
        self.schedules = JobSchedules(service)
        self.jobs = jobs if jobs is not None else job_functions()
        self.clock = clock
        self._stop = threading.Event()
        self._sched: BackgroundScheduler | None = None

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def start(self) -> None:
        self._stop.clear()
        grace = self.cfg.misfire_grace_hours * 3600
        self._sched = BackgroundScheduler(
            timezone=self.schedules.tz,
            job_defaults={"coalesce": True, "misfire_grace_time": grace, "max_instances": 1},
            executors={"default": {"type": "threadpool", "max_workers": 4}},
        )
        self._add_jobs()
        self._sched.start()
        for job, due in self.catch_up().items():
            logger.info("Running a job missed while the core was down: job=%s.", job)
            self._sched.add_job(self.run_job, args=(job, due), id=f"catchup-{job}")

    def stop(self) -> None:
        self._stop.set()
        if self._sched is not None:
            self._sched.shutdown(wait=True)
            self._sched = None

    def reload(self) -> dict[str, Any]:
        """Re-read the schedules (after an admin changed one in the UI)."""
        if self._sched is not None:
            for job in self.jobs:
                if self._sched.get_job(job) is not None:
                    self._sched.remove_job(job)
            self._add_jobs()
        return {s.job: s.crontab for s in self.schedules.all() if s.job in self.jobs}

    def _add_jobs(self) -> None:
        assert self._sched is not None
        for job in self.jobs:
            schedule = self.schedules.get(job)
            if schedule.enabled:
                self._sched.add_job(
                    self._fire, self.schedules.trigger(job), args=(job,), id=job,
                    name=job, replace_existing=True,
                )  # fmt: skip

    def catch_up(self) -> dict[str, int]:
        """Jobs whose last fire time passed unrun (within the grace period): job -> due."""
        now = self.now_us()
        grace_us = self.cfg.misfire_grace_hours * 3600 * 1_000_000
        first = self._first_start(now)
        due: dict[str, int] = {}
        for job in self.jobs:
            if not self.schedules.get(job).enabled:
                continue
            since = max(self.schedules.last_scheduled(job) or first, now - grace_us)
            fire = self.schedules.last_due(job, since, now)
            if fire is not None:
                due[job] = fire
        return due

    def _first_start(self, now: int) -> int:
        """When this appliance's scheduler first ran (jobs are not due before that)."""
        rows = self.service.state.query("SELECT value FROM kv WHERE key = 'jobs.first_start'")
        if rows:
            return int(rows[0]["value"])
        with self.service.state.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO kv VALUES ('jobs.first_start', ?, ?)", (str(now), now)
            )
        return now

    def run_now(self, job: str) -> dict[str, Any]:
        """Run ``job`` at once (a request from the UI); returns its outcome."""
        if job not in self.jobs:
            raise ValueError(f"unknown job {job!r}")
        run = self.run_job(job, None)
        return {"job": job, "status": run.status, "message": run.message}

    def _fire(self, job: str) -> None:
        """A scheduled run: it stands for the latest fire time not after now."""
        now = self.now_us()
        self.run_job(job, self.schedules.last_due(job, now - 7 * 86400 * 10**6, now) or now)

    def run_job(self, job: str, scheduled_for: int | None = None) -> JobRun:
        """One run with retries: recorded in ``job_runs``; never raises."""
        run_id = self._record_start(job, scheduled_for)
        attempts, status, message = 0, "failed", ""
        for attempt in range(self.cfg.retries + 1):
            attempts = attempt + 1
            try:
                message = self.jobs[job](self.service, scheduled_for or self.now_us())
                status = "ok"
                break
            except Exception as err:
                message = f"{type(err).__name__}: {err}"
                logger.exception("Job failed: job=%s attempt=%d.", job, attempts)
                if attempt < self.cfg.retries and self._stop.wait(
                    self.cfg.retry_seconds * 2**attempt
                ):
                    break
        self._record_end(run_id, status, attempts, message)
        logger.info("Job finished: job=%s status=%s attempts=%d.", job, status, attempts)
        return self.schedules.runs(job, 1)[0]

    def _record_start(self, job: str, scheduled_for: int | None) -> int:
        with self.service.state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO job_runs (job, scheduled_for, started_at) VALUES (?, ?, ?)",
                (job, scheduled_for, self.now_us()),
            )
            return int(cur.lastrowid or 0)

    def _record_end(self, run_id: int, status: str, attempts: int, message: str) -> None:
        with self.service.state.transaction() as conn:
            conn.execute(
                "UPDATE job_runs SET finished_at = ?, status = ?, attempts = ?, message = ? "
                "WHERE id = ?",
                (self.now_us(), status, attempts, message[:4000], run_id),
            )
