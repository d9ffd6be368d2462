"""Configuration of spanwatch-core: loop intervals, job schedules, reports, notifications."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from appliance.config_base import _Model

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

Severity = Literal["critical", "high", "medium", "low"]


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(value: str, timezone: Any) -> CronTrigger:
    """APScheduler trigger of a crontab line, weekdays as crontab counts them (0/7 Sunday).

    APScheduler 3's own ``from_crontab`` takes 0 as Monday, so "1-5" would mean Tuesday to
    Saturday; weekday numbers are turned into names first.
    """
    from apscheduler.triggers.cron import CronTrigger  # only when a schedule is checked

    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} is not a crontab line of 5 fields, e.g. '0 7 * * *'")
    minute, hour, day, month, weekday = fields
    weekday = re.sub(r"(?<![/\d])([0-7])(?!\d)", lambda m: _WEEKDAYS[int(m.group(1))], weekday)
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=weekday, timezone=timezone)  # fmt: skip
    except ValueError as err:
        raise ValueError(f"{value!r} is not a valid crontab line: {err}") from None


def check_cron(value: str) -> str:
    """A five-field crontab expression (minute hour day month weekday), or ValueError."""
    cron_trigger(value, "UTC")
    return value


class ScheduleConfig(_Model):
    """When each job runs: crontab lines in the appliance's time zone (the UI may override)."""

    report: str = Field(default="0 7 * * *", description="Daily risk report (07:00).")
    rules: str = Field(default="30 3 * * *", description="Rule update.")
    retention: str = Field(default="10 * * * *", description="Retention budgets (hourly).")
    health: str = Field(default="*/5 * * * *", description="Sensor health checks.")
    stix: str = Field(default="20 7 * * *", description="STIX export of yesterday's incidents.")
    misfire_grace_hours: int = Field(
        default=24, ge=1, le=168,
        description="A run missed while the core was down runs once at start if this recent.",
    )  # fmt: skip
    retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed job run.")
    retry_seconds: float = Field(default=60.0, gt=0, description="Wait before the first retry.")

    @field_validator("report", "rules", "retention", "health", "stix")
    @classmethod
    def _check(cls, value: str) -> str:
        return check_cron(value)


class ReportConfig(_Model):
    """The daily risk report."""

    lang: Literal["vi", "en"] = Field(default="vi", description="Language of the report.")
    recipients: list[str] = Field(default=[], description="E-mail addresses it is sent to.")
    organisation: str = Field(default="", description="Name printed on the report's title.")
    keep_days: int = Field(default=400, ge=1, description="Stored reports older are deleted.")


class EmailConfig(_Model):
    """SMTP for reports and notifications (STARTTLS and authentication)."""

    enabled: bool = Field(default=False, description="Send e-mail.")
    host: str = Field(default="localhost", description="SMTP server.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    starttls: bool = Field(default=True, description="Require STARTTLS before authenticating.")
    username: str | None = Field(default=None, description="SMTP user, if it needs one.")
    password_file: Path | None = Field(default=None, description="File holding the password.")
    sender: str = Field(default="spanwatch@localhost", description="From address.")
    recipients: list[str] = Field(default=[], description="Who gets notifications.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="SMTP timeout.")
    ca_file: Path | None = Field(
        default=None, description="CA certificates to trust for STARTTLS (default: system)."
    )


class SyslogConfig(_Model):
    """A syslog collector (SIEM)."""

    enabled: bool = Field(default=False, description="Send to a syslog collector.")
    host: str = Field(default="127.0.0.1", description="Collector address.")
    port: int = Field(default=514, ge=1, le=65535, description="Collector port.")
    protocol: Literal["udp", "tcp"] = Field(default="udp", description="Transport.")
    format: Literal["rfc5424", "cef"] = Field(default="rfc5424", description="Message format.")


class WebhookConfig(_Model):
    """One webhook: generic JSON, or a Telegram-compatible sendMessage."""

    url: str = Field(description="http(s) URL to POST to.")
    kind: Literal["json", "telegram"] = Field(default="json", description="Payload shape.")
    chat_id: str | None = Field(default=None, description="Telegram chat id.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="HTTP timeout.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class NotifyConfig(_Model):
    """Notifications of new incidents and sensor-health problems."""

    min_severity: Severity = Field(default="high", description="Notify at this or above.")
    email: EmailConfig = Field(default_factory=EmailConfig)
    syslog: SyslogConfig = Field(default_factory=SyslogConfig)
    webhooks: list[WebhookConfig] = Field(default=[], description="Webhooks.")
    max_per_window: int = Field(
        default=5, ge=1, description="Messages per channel per window before digests."
    )
    window_minutes: int = Field(default=15, ge=1, description="Rate-limit window.")
    digest_threshold: int = Field(
        default=3, ge=1, description="More new incidents at once than this: one digest."
    )


class HealthConfig(_Model):
    """Sensor-health thresholds."""

    silent_minutes: int = Field(default=10, ge=1, description="No packets this long: silent.")
    max_drop_percent: float = Field(default=1.0, ge=0, le=100, description="Capture loss.")
    max_skew_seconds: int = Field(default=120, ge=1, description="Clock skew tolerated.")
    max_rule_age_days: int = Field(default=7, ge=1, description="Rules older: stale.")


class CoreConfig(_Model):
    """spanwatch-core: its periodic work, jobs, reports, notifications."""

    correlate_seconds: float = Field(default=5.0, gt=0, description="Correlation interval.")
    inventory_seconds: float = Field(default=30.0, gt=0, description="Asset inventory interval.")
    rollup_seconds: float = Field(
        default=2.0, gt=0, description="Traffic rollup interval: how far the traffic views may "
        "lag behind the ingest.")
    risk_seconds: float = Field(default=300.0, gt=0, description="Risk recompute interval.")
    schedules: ScheduleConfig = Field(default_factory=ScheduleConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
