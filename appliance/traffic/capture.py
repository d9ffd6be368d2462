"""Capture health at ingest: packets seen and dropped by the kernel, per minute.

Suricata's stats records carry cumulative counters since it started; the rollup keeps the
last ones per sensor and interface (``traffic_capture_last``) and adds the differences.
A counter that went down means Suricata restarted: the new value is the difference.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from appliance.events import EveRecord
from appliance.traffic.fold import write_minutes
from appliance.traffic.settings import MINUTE, RollupSettings


class _Capture(msgspec.Struct):
    kernel_packets: int = 0
    kernel_drops: int = 0


class _Stats(msgspec.Struct):
    uptime: int = 0
    capture: _Capture | None = None


class _StatsExtra(msgspec.Struct):
    in_iface: str | None = None
    stats: _Stats | None = None


_decode = msgspec.json.Decoder(_StatsExtra).decode


def add_stats(conn: sqlite3.Connection, stats: Sequence[EveRecord], sensor_id: int,
              settings: RollupSettings) -> None:  # fmt: skip
    """Add the kernel packets and drops of ``stats`` records to ``traffic_capture``."""
    rows: dict[tuple[Any, ...], list[int]] = {}
    last: dict[str, tuple[int, int, int, int]] = {}
    for record in sorted(stats, key=lambda r: r.ts):
        try:
            extra = _decode(record.raw)
        except msgspec.MsgspecError:
            continue
        if extra.stats is None or extra.stats.capture is None:
            continue  # reading a capture file: no kernel counters, and a wall-clock time
        iface, cap, uptime = extra.in_iface or "", extra.stats.capture, extra.stats.uptime
        prev = last.get(iface)
        if prev is None:
            row = conn.execute(
                "SELECT ts, uptime, packets, drops FROM traffic_capture_last "
                "WHERE sensor = ? AND iface = ?", (sensor_id, iface)).fetchone()  # fmt: skip
            prev = (int(row[0]), int(row[1]), int(row[2]), int(row[3])) if row else (0, 0, 0, 0)
        ts, prev_uptime, packets, drops = prev
        if record.ts <= ts:
            continue  # an older record than the last one counted
        restarted = uptime < prev_uptime or cap.kernel_packets < packets
        d_packets = cap.kernel_packets - (0 if restarted else packets)
        d_drops = cap.kernel_drops - (0 if restarted else drops)
        sums = rows.setdefault((record.ts - record.ts % MINUTE, sensor_id, iface), [0, 0])
        sums[0] += max(d_packets, 0)
        sums[1] += max(d_drops, 0)
        last[iface] = (record.ts, uptime, cap.kernel_packets, cap.kernel_drops)
    if rows:
        write_minutes(conn, {"traffic_capture": rows}, settings)
    conn.executemany(
        "INSERT INTO traffic_capture_last VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(sensor, iface) DO UPDATE SET ts = excluded.ts, uptime = "
        "excluded.uptime, packets = excluded.packets, drops = excluded.drops",
        [(sensor_id, iface, *values) for iface, values in last.items()],
    )
