"""The core component that notices new incidents and hands them to the notifier."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from appliance.notify import Notifier

if TYPE_CHECKING:
    from appliance.service import Service

logger = logging.getLogger(__name__)

_KV_CURSOR = "notify.incident_cursor"
_BATCH = 1000


class IncidentWatch:
    """Each run: incidents with an id above the cursor are new; notify, advance, flush."""

    def __init__(self, service: Service, notifier: Notifier | None = None) -> None:
        self.service = service
        self.notifier = notifier or Notifier(service)
        if self._cursor() < 0:  # first start: from now on, history is not replayed
            page = service.incidents.list(limit=_BATCH)
            self._set_cursor(max((i.id for i in page.items), default=0))

    def run_once(self) -> int:
        """Notify incidents opened since the last run; returns how many were new."""
        cursor = self._cursor()
        page = self.service.incidents.list(limit=_BATCH)
        new = [i for i in page.items if i.id > cursor]
        if new:
            self.notifier.incidents(new)
            self._set_cursor(max(i.id for i in new))
        else:
            self.notifier.flush()
        return len(new)

    def _cursor(self) -> int:
        rows = self.service.state.query("SELECT value FROM kv WHERE key = ?", (_KV_CURSOR,))
        return int(json.loads(rows[0]["value"])) if rows else -1

    def _set_cursor(self, value: int) -> None:
        with self.service.state.transaction() as conn:
            conn.execute(
                "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (_KV_CURSOR, json.dumps(value), int(time.time() * 1e6)),
            )
