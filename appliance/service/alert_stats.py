"""Counts over alerts for the dashboard: per hour, per severity, the top keys.

Everything reads the hourly rollups of the alert index, never the alerts themselves.
Top lists over many keys (hosts: thousands an hour on a busy network) still add up tens
of thousands of rollup rows for a week, so their results (and the alert list's groups,
which count a day of alerts) are kept in the state database's ``kv`` table and reused
until the index moves on and a minute has passed;
``spanwatch core`` recomputes the dashboard's lists after each sync (:meth:`warm`), so a
page view rarely pays for one.
"""

from __future__ import annotations

import builtins
import time
from typing import TYPE_CHECKING, Any

import orjson

from appliance.service.alert_index import CURSOR_KEY, HOUR_US
from appliance.service.alert_query import AlertFilter, count_capped, selection

if TYPE_CHECKING:
    from appliance.service import Service

EVENT_TYPES = ("alert", "finding", "anomaly")
CACHE_PREFIX = "alerts.cache:"
#: A cached top list is reused this long while new alerts arrive.
CACHE_TTL_US = 60_000_000
#: The dashboard's windows and list length, which :meth:`AlertStats.warm` precomputes.
DASHBOARD_WINDOWS_US = (24 * HOUR_US, 7 * 24 * HOUR_US)
DASHBOARD_TOP_N = 8
DASHBOARD_TOPS = (("sig", "alert"), ("sig", "finding"), ("host", None))


def hour_floor(us: int) -> int:
    return us - us % HOUR_US


def hour_ceil(us: int) -> int:
    return hour_floor(us) + (HOUR_US if us % HOUR_US else 0)


class AlertStats:
    """The dashboard's half of :class:`appliance.service.alerts.AlertService`."""

    service: Service

    def sync(self) -> int:
        raise NotImplementedError

    def over_time(self, since_us: int, until_us: int) -> builtins.list[dict[str, Any]]:
        """Alerts, findings and anomalies per hour: [{"hour", "alert", "finding", ...}]."""
        self.sync()
        start = hour_floor(since_us)
        rows = self.service.state.query(
            "SELECT hour, key, sum(n) FROM alert_rollup WHERE dim = 'type' AND hour >= ? "
            "AND hour < ? GROUP BY hour, key ORDER BY hour", (start, until_us))  # fmt: skip
        by_hour = {hour: {"hour": hour, **{t: 0 for t in EVENT_TYPES}}
                   for hour in range(start, until_us, HOUR_US)}  # fmt: skip
        for hour, key, n in rows:
            by_hour.setdefault(hour, {"hour": hour, **{t: 0 for t in EVENT_TYPES}})[key] = int(n)
        return [by_hour[h] for h in sorted(by_hour)]

    def top(self, dim: str, since_us: int, until_us: int, n: int = 10,
            etype: str | None = None) -> builtins.list[dict[str, Any]]:  # fmt: skip
        """The ``n`` biggest keys of a dimension (sig, host, category, sensor, type) in the
        hours the range touches; ``etype`` "alert" or "finding" narrows "sig"."""
        self.sync()
        since, until = hour_floor(since_us), hour_ceil(until_us)
        key = f"top:{dim}:{since}:{until}:{int(n)}:{etype or ''}"
        rows: builtins.list[dict[str, Any]] = self.cached(
            key, lambda: self._top_rows(dim, since, until, n, etype))
        return rows

    def cached(self, key: str, compute: Any) -> Any:
        """``compute()``'s JSON-able result, reused while the index has not moved or for a
        minute (:data:`CACHE_TTL_US`); kept in the state database for every process."""
        key = CACHE_PREFIX + key
        cursor, now = self._cursor(), time.time_ns() // 1000
        found = self._cached(key, cursor, now)
        if found is not None:
            return found
        value = compute()
        self._store(key, {"cursor": cursor, "at": now, "rows": value}, now)
        return value

    def _top_rows(self, dim: str, since: int, until: int, n: int,
                  etype: str | None) -> builtins.list[dict[str, Any]]:  # fmt: skip
        prefix = {"alert": "sid:", "finding": "finding:"}.get(etype or "", "")
        rows = self.service.state.query(
            "SELECT key, sum(n), min(severity) FROM alert_rollup WHERE dim = ? AND hour >= ? "
            "AND hour < ? AND key LIKE ? GROUP BY key ORDER BY 2 DESC, 1 LIMIT ?",
            (dim, since, until, prefix + "%", n))  # fmt: skip
        keys = [str(r[0]) for r in rows]
        names = {}
        if dim == "sig" and keys:
            names = {str(r[0]): (r[1], r[2]) for r in self.service.state.query(
                f"SELECT gkey, label, category FROM alert_keys WHERE gkey IN "
                f"({','.join('?' * len(keys))})", tuple(keys))}  # fmt: skip
        return [{"key": k, "count": int(c), "severity": int(s) if dim != "host" else None,
                 "label": names.get(k, (k, None))[0] or k, "category": names.get(k, (k, None))[1]}
                for k, c, s in rows]  # fmt: skip

    def _cursor(self) -> int:
        rows = self.service.state.query("SELECT value FROM kv WHERE key = ?", (CURSOR_KEY,))
        return int(rows[0][0]) if rows else 0

    def _cached(self, key: str, cursor: int, now: int) -> Any:
        rows = self.service.state.query("SELECT value FROM kv WHERE key = ?", (key,))
        if not rows:
            return None
        entry = orjson.loads(rows[0][0])
        if entry["cursor"] == cursor or now - entry["at"] < CACHE_TTL_US:
            return entry["rows"]
        return None

    def _store(self, key: str, entry: dict[str, Any], now: int) -> None:
        with self.service.state.transaction() as conn:
            conn.execute(
                "INSERT INTO kv(key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO "
                "UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, orjson.dumps(entry).decode(), now))  # fmt: skip
            conn.execute("DELETE FROM kv WHERE key LIKE ? AND updated_at < ?",
                         (CACHE_PREFIX + "%", now - 24 * HOUR_US))  # fmt: skip

    def warm(self, now_us: int | None = None) -> None:
        """Compute the dashboard's top lists for its live windows (the core calls this)."""
        now = now_us if now_us is not None else time.time_ns() // 1000
        for length in DASHBOARD_WINDOWS_US:
            for dim, etype in DASHBOARD_TOPS:
                self.top(dim, now - length, now, DASHBOARD_TOP_N, etype)

    def refresh(self) -> int:
        """Sync the index and warm the dashboard (one step of ``spanwatch core``)."""
        added = self.sync()
        self.warm()
        return added

    def severity_counts(self, since_us: int, until_us: int) -> dict[int, int]:
        """Alerts, findings and anomalies per severity (1 high .. 3 low)."""
        self.sync()
        rows = self.service.state.query(
            "SELECT severity, sum(n) FROM alert_rollup WHERE dim = 'type' AND hour >= ? "
            "AND hour < ? GROUP BY severity", (hour_floor(since_us), until_us))
        return {int(s): int(n) for s, n in rows}  # fmt: skip

    def facets(self) -> dict[str, builtins.list[str]]:
        """The sensors, categories and event types alerts were seen with (for filters)."""
        self.sync()
        out: dict[str, builtins.list[str]] = {}
        for dim in ("sensor", "category", "type"):
            rows = self.service.state.query(
                "SELECT DISTINCT key FROM alert_rollup WHERE dim = ? ORDER BY key", (dim,))
            out[dim] = [str(r[0]) for r in rows]
        return out

    def latest_ts(self) -> int | None:
        """Time of the newest indexed alert or finding."""
        self.sync()
        rows = self.service.state.query("SELECT max(ts) FROM alert_index")
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def open_count(self) -> int:
        """Alerts in the inbox (status new), up to 1,001."""
        self.sync()
        source, args = selection(AlertFilter(status="new"))
        return count_capped(self.service.state, source, args)
