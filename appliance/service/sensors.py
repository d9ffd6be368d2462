"""Health of every sensor, local or remote: contact, lag, buffer, capture, versions, rules.

Remote sensors report with each batch (versions, disk buffer, oldest unshipped event,
rules); the center's store adds what every sensor's Suricata says in its stats records
(packets and kernel drops per interface, through the traffic rollups) and how many
records arrived lately. A version differing from the center's is shown, never a reason
to drop data.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import appliance
from appliance.center.registry import EnrolledSensor, SensorRegistry

if TYPE_CHECKING:
    from appliance.service import Service

#: Window for the EVE rate, seconds.
RATE_WINDOW_S = 300
WARN_DROP_RATIO = 0.01
WARN_LAG_S = 300
WARN_BUFFER_SHARE = 0.5
WARN_RULES_AGE_S = 8 * 86400


@dataclass
class InterfaceHealth:
    """One capture interface of a sensor, from its Suricata's latest stats record."""

    name: str
    packets: int
    drops: int
    uptime_s: int
    updated_at: int  # UTC µs of the stats record

    @property
    def drop_ratio(self) -> float:
        seen = self.packets + self.drops
        return self.drops / seen if seen else 0.0


@dataclass
class SensorHealth:
    """What the sensors page and ``spanwatch sensors`` show for one sensor."""

    name: str
    kind: str  # "local" or "remote"
    status: str  # ok, warn, down, pending, revoked
    enrolment: str | None = None  # remote: pending, approved, revoked
    fingerprint: str | None = None
    last_contact: int | None = None  # UTC µs: last batch (remote) or last record (local)
    last_event: int | None = None  # UTC µs of the newest record stored lately
    last_stored: int | None = None  # UTC µs when the sensor's last batch was stored
    lag_seconds: float | None = None
    buffer_bytes: int | None = None
    buffer_budget: int | None = None
    buffer_dropped: int = 0
    events: int = 0  # records stored in the last RATE_WINDOW_S
    eve_rate: float = 0.0  # records per second over that window
    packets: int = 0
    drops: int = 0
    interfaces: list[InterfaceHealth] = field(default_factory=list)
    suricata_version: str | None = None
    spanwatch_version: str | None = None
    version_mismatch: bool = False
    rule_count: int | None = None
    rules_updated_at: int | None = None  # UTC µs
    address: str | None = None
    notes: list[str] = field(default_factory=list)  # English, one per problem
    notes_vi: list[str] = field(default_factory=list)

    @property
    def drop_ratio(self) -> float:
        seen = self.packets + self.drops
        return self.drops / seen if seen else 0.0

    @property
    def buffer_share(self) -> float | None:
        if not self.buffer_budget or self.buffer_bytes is None:
            return None
        return self.buffer_bytes / self.buffer_budget

    @property
    def last_contact_text(self) -> str:
        if self.last_contact is None:
            return "never"
        return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.last_contact / 1e6))

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["drop_ratio"] = self.drop_ratio
        out["buffer_share"] = self.buffer_share
        return out


class SensorService:
    """``Service.sensors``: every sensor's health, and enrolment decisions (audited)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.cfg = service.cfg
        self.registry = SensorRegistry(service.state)

    # -- enrolment -----------------------------------------------------------------------

    def approve(self, name: str, *, actor: str, fingerprint: str | None = None) -> EnrolledSensor:
        """Approve an enrolment request (optionally checking the fingerprint the sensor printed)."""
        return self.registry.approve(name, actor=actor, fingerprint=fingerprint)

    def revoke(self, name: str, *, actor: str) -> EnrolledSensor:
        """Revoke a sensor's token; its batches are refused (403) from now on."""
        return self.registry.revoke(name, actor=actor)

    def enrolments(self) -> list[EnrolledSensor]:
        """Every enrolled sensor and request."""
        return self.registry.list()

    def rejections(self) -> dict[tuple[str, str], int]:
        """What the ingest API refused, by (sensor, reason)."""
        return self.registry.rejections()

    # -- health --------------------------------------------------------------------------

    def list(self, now_us: int | None = None) -> list[SensorHealth]:
        """Every sensor: remote ones enrolled here, local ones that stored records."""
        now = int(time.time() * 1_000_000) if now_us is None else now_us
        store = _store_facts(self.service, now)
        remote = {s.name: s for s in self.registry.list()}
        out = [self._remote(s, store, now) for s in remote.values()]
        for name in sorted(set(store["names"]) - set(remote)):
            out.append(self._local(name, store, now))
        order = {"down": 0, "warn": 1, "pending": 2, "ok": 3, "revoked": 4}
        return sorted(out, key=lambda s: (order.get(s.status, 5), s.name))

    def get(self, name: str, now_us: int | None = None) -> SensorHealth | None:
        """One sensor's health."""
        return next((s for s in self.list(now_us) if s.name == name), None)

    def _remote(self, s: EnrolledSensor, store: dict[str, Any], now: int) -> SensorHealth:
        h = s.health
        out = SensorHealth(
            name=s.name, kind="remote", status=s.status, enrolment=s.status,
            fingerprint=s.fingerprint, last_contact=s.last_contact,
            buffer_bytes=_int(h.get("buffer_bytes")), buffer_budget=_int(h.get("buffer_budget")),
            buffer_dropped=_int(h.get("buffer_dropped")) or 0,
            suricata_version=s.suricata_version, spanwatch_version=s.spanwatch_version,
            rule_count=_int(h.get("rule_count")), rules_updated_at=_int(h.get("rules_updated_at")),
            address=s.last_address or s.requested_from,
        )  # fmt: skip
        oldest = _int(h.get("oldest_unshipped"))
        if s.last_contact is not None:
            behind = (now - s.last_contact) / 1e6
            out.lag_seconds = behind + (max(0.0, (s.last_contact - oldest) / 1e6) if oldest else 0)
        self._fill_store(out, store)
        if s.status == "approved":
            out.status = self._judge(out, now)
        return out

    def _local(self, name: str, store: dict[str, Any], now: int) -> SensorHealth:
        out = SensorHealth(name=name, kind="local", status="ok",
                           spanwatch_version=appliance.__version__,
                           suricata_version=suricata_version(self.cfg.suricata.binary))  # fmt: skip
        out.rule_count, out.rules_updated_at = rule_facts(self.cfg.rules_dir / "suricata.rules")
        self._fill_store(out, store)
        # A local sensor's contact is its last write into the store, or else its Suricata's
        # last stats record (live capture stamps them with the wall clock).
        out.last_contact = out.last_stored or max(
            (i.updated_at for i in out.interfaces), default=None
        )
        out.lag_seconds = 0.0 if out.last_contact else None
        out.status = self._judge(out, now)
        return out

    @staticmethod
    def _fill_store(out: SensorHealth, store: dict[str, Any]) -> None:
        rate = store["rates"].get(out.name)
        if rate is not None:
            out.events, out.last_event, out.last_stored = rate
            out.eve_rate = out.events / RATE_WINDOW_S
        out.interfaces = store["ifaces"].get(out.name, [])
        out.packets = sum(i.packets for i in out.interfaces)
        out.drops = sum(i.drops for i in out.interfaces)

    def _judge(self, s: SensorHealth, now: int) -> str:
        """ok, warn or down, with a note (English and Vietnamese) for each problem."""
        def note(en: str, vi: str) -> None:
            s.notes.append(en)
            s.notes_vi.append(vi)

        down_after = self.cfg.center.down_after_seconds
        if s.last_contact is None:
            note("not heard from yet", "chưa nhận được dữ liệu lần nào")
            status = "down"
        elif (now - s.last_contact) / 1e6 > down_after:
            note(f"not heard from for more than {down_after} s",
                 f"không nhận được dữ liệu trong hơn {down_after} giây")  # fmt: skip
            status = "down"
        else:
            status = "ok"
        if s.drop_ratio > WARN_DROP_RATIO:
            note(f"capture drops {s.drop_ratio:.1%}", f"mất gói khi bắt {s.drop_ratio:.1%}")
        if s.lag_seconds is not None and s.lag_seconds > WARN_LAG_S and status != "down":
            note(f"{s.lag_seconds:.0f} s behind", f"chậm {s.lag_seconds:.0f} giây")
        share = s.buffer_share
        if share is not None and share > WARN_BUFFER_SHARE:
            note(f"disk buffer {share:.0%} full", f"bộ đệm đĩa đầy {share:.0%}")
        if s.buffer_dropped:
            note(f"{s.buffer_dropped} records dropped from a full buffer",
                 f"{s.buffer_dropped} bản ghi bị bỏ do bộ đệm đầy")  # fmt: skip
        if s.spanwatch_version and s.spanwatch_version != appliance.__version__:
            s.version_mismatch = True
            note(f"spanwatch {s.spanwatch_version} (center {appliance.__version__}); data kept",
                 f"spanwatch {s.spanwatch_version} khác trung tâm "
                 f"({appliance.__version__}); dữ liệu vẫn được lưu")  # fmt: skip
        if s.rules_updated_at and (now - s.rules_updated_at) / 1e6 > WARN_RULES_AGE_S:
            days = (now - s.rules_updated_at) / 86_400e6
            note(f"rules {days:.0f} days old", f"bộ luật đã {days:.0f} ngày chưa cập nhật")
        if status == "ok" and s.notes:
            status = "warn"
        return status


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _store_facts(service: Service, now: int) -> dict[str, Any]:
    """Sensor names, recent records per sensor and the latest capture counters."""
    facts: dict[str, Any] = {"names": [], "rates": {}, "ifaces": {}}
    db: sqlite3.Connection | None = getattr(service.store, "connection", None)
    if db is None:
        return facts
    names = dict(db.execute("SELECT id, name FROM sensors").fetchall())
    facts["names"] = list(names.values())
    since = now - RATE_WINDOW_S * 1_000_000
    rates: dict[str, tuple[int, int, int]] = {}
    # Recent chunks (indexed by ingest time); one chunk holds one sensor's batch.
    for n, newest, ingested, first_id in db.execute(
        "SELECT n, max_ts, ingested_at, min_id FROM chunks "
        "WHERE kind IN ('alerts', 'metadata') AND ingested_at >= ?", (since,)
    ).fetchall():  # fmt: skip
        row = db.execute("SELECT sensor FROM events WHERE id = ?", (first_id,)).fetchone()
        if row is None:
            continue
        name = names.get(row[0], str(row[0]))
        count, last, stored = rates.get(name, (0, 0, 0))
        rates[name] = (count + int(n), max(last, int(newest)), max(stored, int(ingested)))
    facts["rates"] = rates
    try:
        rows = db.execute(
            "SELECT sensor, iface, ts, uptime, packets, drops FROM traffic_capture_last"
        ).fetchall()
    except sqlite3.Error:
        rows = []
    for sensor, iface, ts, uptime, packets, drops in rows:
        facts["ifaces"].setdefault(names.get(sensor, str(sensor)), []).append(
            InterfaceHealth(iface or "-", int(packets), int(drops), int(uptime), int(ts))
        )
    return facts


@functools.lru_cache(maxsize=4)
def suricata_version(binary: str | Path) -> str | None:
    """The installed Suricata's version (``suricata -V``), once per process."""
    try:
        out = subprocess.run([str(binary), "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"version (\S+)", out.stdout + out.stderr)
    return found.group(1) if found else None


_rule_cache: dict[Path, tuple[float, int]] = {}


def rule_facts(path: Path) -> tuple[int | None, int | None]:
    """How many rules the active ruleset enables, and when it was written (UTC µs)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None, None
    cached = _rule_cache.get(path)
    if cached is None or cached[0] != mtime:
        with path.open("rb") as f:
            count = sum(1 for line in f if line[:1] not in (b"#", b"\n", b"", b" "))
        cached = _rule_cache[path] = (mtime, count)
    return cached[1], int(mtime * 1_000_000)
