"""Notifications of new incidents and sensor-health problems: e-mail, syslog, webhooks.

Incidents below ``core.notify.min_severity`` are ignored. Many new incidents at once
(more than ``digest_threshold``) become ONE digest message; and each channel sends at
most ``max_per_window`` messages per window: beyond that, incidents wait in a queue
(``notify_queue``) and leave as one digest when the window allows. So a burst of 1,000
incidents is one message per channel, not 1,000.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.notify.message import (
    SEVERITY_RANK,
    Message,
    digest_message,
    health_message,
    incident_item,
    incident_message,
)

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

Channel = tuple[str, Callable[[Message], None]]


class Notifier:
    """Sends messages on every configured channel, rate-limited, with digests."""

    def __init__(self, service: Service, *, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.cfg = service.cfg.core.notify
        self.clock = clock

    def channels(self) -> list[Channel]:
        """The enabled channels, each a (name, send function)."""
        from appliance.notify.email import build_email, send_email
        from appliance.notify.syslog import send_syslog
        from appliance.notify.webhook import send_webhook

        out: list[Channel] = []
        email, syslog = self.cfg.email, self.cfg.syslog
        if email.enabled and email.recipients:
            out.append(("email", lambda m: send_email(
                email, build_email(email, email.recipients, m.subject_vi, m.text()))))
        if syslog.enabled:
            out.append(("syslog", lambda m: send_syslog(syslog, m)))
        for n, hook in enumerate(self.cfg.webhooks):
            out.append((f"webhook-{n}", lambda m, h=hook: send_webhook(h, m)))  # type: ignore[misc]
        return out

    def _now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def incidents(self, incidents: list[Any]) -> int:
        """Notify new incidents at or above the threshold; returns messages dispatched."""
        limit = SEVERITY_RANK[self.cfg.min_severity]
        items = [incident_item(i) for i in incidents if SEVERITY_RANK[i.severity] <= limit]
        if not items:
            return 0
        queued = self._queued()
        if queued or len(items) > self.cfg.digest_threshold:
            self._enqueue(items)
            return self.flush()
        if self._sent_in_window() + len(items) > self.cfg.max_per_window:
            self._enqueue(items)
            return self.flush()
        for item in items:
            self.dispatch(incident_message(item))
        return len(items)

    def flush(self) -> int:
        """Send what waits in the queue as one digest, if the rate limit allows."""
        queued = self._queued()
        if not queued or self._sent_in_window() >= self.cfg.max_per_window:
            return 0
        items = [json.loads(row["payload"]) for row in queued]
        self.dispatch(digest_message(items))
        with self.service.state.transaction() as conn:
            conn.execute("DELETE FROM notify_queue WHERE id <= ?", (queued[-1]["id"],))
        return 1

    def health(self, issues: list[Any]) -> int:
        """Sensor-health problems: always sent (they are few and deduplicated upstream)."""
        if not issues:
            return 0
        self.dispatch(health_message(issues))
        return 1

    def dispatch(self, msg: Message) -> dict[str, bool]:
        """Send on every channel; a failing channel is logged and does not stop the others."""
        outcome: dict[str, bool] = {}
        for name, send in self.channels():
            error = None
            try:
                send(msg)
            except Exception as err:  # a channel boundary: log, record, go on
                error = str(err)[:500]
                logger.exception("Notification failed: channel=%s kind=%s.", name, msg.kind)
            outcome[name] = error is None
            self._log(name, msg, error)
        self._log("*", msg, None)
        return outcome

    def _log(self, channel: str, msg: Message, error: str | None) -> None:
        with self.service.state.transaction() as conn:
            conn.execute(
                "INSERT INTO notify_log (channel, kind, items, sent_at, ok, error) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (channel, msg.kind, len(msg.items), self._now_us(), int(error is None), error),
            )

    def _sent_in_window(self) -> int:
        since = self._now_us() - self.cfg.window_minutes * 60 * 1_000_000
        rows = self.service.state.query(
            "SELECT count(*) AS n FROM notify_log WHERE channel = '*' AND kind != 'health' "
            "AND sent_at > ?", (since,)
        )  # fmt: skip
        return int(rows[0]["n"])

    def _queued(self) -> list[Any]:
        return self.service.state.query("SELECT id, payload FROM notify_queue ORDER BY id")

    def _enqueue(self, items: list[dict[str, Any]]) -> None:
        now = self._now_us()
        with self.service.state.transaction() as conn:
            conn.executemany(
                "INSERT INTO notify_queue (kind, payload, queued_at) VALUES ('incident', ?, ?)",
                [(json.dumps(i, ensure_ascii=False), now) for i in items],
            )

    def log(self, limit: int = 50) -> list[dict[str, Any]]:
        """Latest deliveries per channel (for the UI)."""
        rows = self.service.state.query(
            "SELECT * FROM notify_log WHERE channel != '*' ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [dict(r) for r in rows]
