"""What the ingesting process needs to know to roll traffic up, kept in the event store.

Every process that writes events (sensor, analyze, ingest, the center) rolls up in the
store's own transaction, but only some of them hold the configuration; so the settings
derived from it live in the store (``traffic_settings``), written by :func:`write_settings`
whenever a process with the configuration opens the service, and read by the rollup.
Without them the rollup uses the configuration's defaults.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import AppConfig

MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
RES_MINUTE, RES_HOUR, RES_DAY = 0, 1, 2
RES_NAMES = {RES_MINUTE: "minute", RES_HOUR: "hour", RES_DAY: "day"}
RES_WIDTH = {RES_MINUTE: MINUTE, RES_HOUR: HOUR, RES_DAY: DAY}
_KEY = "config"
#: Host pairs with conversation rows of their own per minute, by default.
CONVERSATIONS_PER_MINUTE = 10_000
#: The peer of a conversation row that stands for every pair past that number: the
#: "other hosts" of a flood's spoofed sources or a scan's targets (no address packs to it).
OTHER_HOSTS = b""


@dataclass(frozen=True, slots=True)
class RollupSettings:
    """HOME_NET, where days start, the country lookup switch and the retention per resolution."""

    home: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    #: Local time minus UTC at midnight (Asia/Ho_Chi_Minh: +7 h), in microseconds.
    day_offset_us: int = 7 * HOUR
    enabled: bool = True
    geo: bool = True
    #: Host pairs with conversation rows of their own per minute (see ``Rollup.sum_flows``).
    conversations_per_minute: int = CONVERSATIONS_PER_MINUTE
    retention_days: dict[int, int] = field(
        default_factory=lambda: {RES_MINUTE: 7, RES_HOUR: 90, RES_DAY: 730}
    )

    def day_start(self, ts_us: int) -> int:
        """Start (UTC µs) of the local day that holds ``ts_us``."""
        off = self.day_offset_us
        return (ts_us + off) // DAY * DAY - off

    def bucket(self, res: int, ts_us: int) -> int:
        """Start of the bucket of resolution ``res`` that holds ``ts_us``."""
        if res == RES_DAY:
            return self.day_start(ts_us)
        width = RES_WIDTH[res]
        return ts_us - ts_us % width

    def bucket_sql(self, res: int) -> str:
        """:meth:`bucket` in SQL: a row's ``bucket`` mapped to the start of its bucket at
        resolution ``res`` (folds, late rows and the views' steps all use it)."""
        if res == RES_MINUTE:
            return "bucket"
        if res == RES_HOUR:
            return f"bucket - bucket % {HOUR}"
        off = self.day_offset_us
        return f"(bucket + {off}) / {DAY} * {DAY} - {off}"

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """HOME_NET as network objects."""
        return [ipaddress.ip_network(n, strict=False) for n in self.home]


def settings_from_config(cfg: AppConfig) -> RollupSettings:
    """The rollup settings of a configuration."""
    zone = ZoneInfo(cfg.timezone)
    offset = datetime.datetime.now(zone).utcoffset() or datetime.timedelta(0)
    ret = cfg.traffic.retention
    return RollupSettings(
        home=tuple(cfg.networks.home),
        day_offset_us=int(offset.total_seconds()) * 1_000_000,
        enabled=cfg.traffic.enabled,
        geo=cfg.traffic.geo,
        conversations_per_minute=cfg.traffic.conversations_per_minute,
        retention_days={RES_MINUTE: ret.minute_days, RES_HOUR: ret.hour_days,
                        RES_DAY: ret.day_days},
    )  # fmt: skip


def write_settings(conn: sqlite3.Connection, settings: RollupSettings) -> bool:
    """Store ``settings`` if they differ from the stored ones; True if they changed."""
    if load_settings(conn) == settings:
        return False
    value = json.dumps(asdict(settings), sort_keys=True)
    with conn:
        conn.execute(
            "INSERT INTO traffic_settings VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (_KEY, value),
        )
    return True


def load_settings(conn: sqlite3.Connection) -> RollupSettings:
    """The stored settings, or the defaults."""
    row = conn.execute("SELECT value FROM traffic_settings WHERE name = ?", (_KEY,)).fetchone()
    if row is None:
        return RollupSettings()
    data = json.loads(row[0])
    return RollupSettings(
        home=tuple(data["home"]),
        day_offset_us=int(data["day_offset_us"]),
        enabled=bool(data["enabled"]),
        geo=bool(data["geo"]),
        # Absent from settings written before the cap existed.
        conversations_per_minute=int(data.get("conversations_per_minute",
                                              CONVERSATIONS_PER_MINUTE)),
        retention_days={int(k): int(v) for k, v in data["retention_days"].items()},
    )


def sync_settings(store: Any, cfg: AppConfig) -> None:
    """Write the configuration's rollup settings into ``store`` before a writer starts, so
    its rollups use the configured HOME_NET and day boundary from the first batch."""
    conn = getattr(store, "connection", None)
    if isinstance(conn, sqlite3.Connection):
        write_settings(conn, settings_from_config(cfg))
