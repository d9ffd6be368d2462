"""Building the inventory from the event store, incrementally.

The store keeps raw EVE records in compressed chunks whose ids grow in insertion order.
:class:`Inventory` keeps a cursor (the last chunk it read, in the state database's ``kv``
table) and reads only newer chunks, so ``spanwatch core`` can run it every few seconds
and ``spanwatch analyze`` once at the end. Each batch of chunks is written with the cursor
in one transaction: a crash re-reads the batch, and every write is an idempotent upsert
(first/last seen take min/max), so nothing is counted twice except flow counters of
services, which are informational.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.assets import ip_key, osguess
from appliance.assets.extract import _TLS_RANK, Observations, home_matcher
from appliance.assets.oui import OuiRegistry

if TYPE_CHECKING:
    from appliance.config import AppConfig
    from appliance.service import Service

logger = logging.getLogger(__name__)

CURSOR_KEY = "assets.chunk_cursor"
CLOCK_KEY = "assets.log_clock"
#: A MAC seen with more addresses than this (from Ethernet headers) is a router's.
GATEWAY_MAC_IPS = 4
#: OS clues kept per address and source.
MAX_HINTS_PER_SOURCE = 10


@dataclass(frozen=True, slots=True)
class InventoryResult:
    """What one run read and changed."""

    chunks: int = 0
    records: int = 0
    hosts: int = 0
    new_hosts: int = 0
    cursor: int = 0


def _tls_rank(version: str | None) -> int:
    return _TLS_RANK.get(version or "", 99)


class Inventory:
    """Reads new store chunks and folds them into the asset tables."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.cfg = service.cfg.assets
        self.is_home = home_matcher(service.cfg.networks.home)
        self.oui = OuiRegistry(self.cfg.oui_files)
        self._fingerprints: dict[tuple[str, str], str] = {
            (f.kind, f.value): f.os for f in self.cfg.os_fingerprints}

    def run_once(self, max_batches: int | None = None) -> InventoryResult:
        """Read every chunk after the cursor (in batches); return what was done."""
        total = InventoryResult(cursor=self.cursor())
        if not self.cfg.enabled:
            return total
        batches = 0
        while max_batches is None or batches < max_batches:
            result = self._run_batch(total.cursor)
            batches += 1
            if result.chunks == 0:
                break
            total = InventoryResult(
                total.chunks + result.chunks, total.records + result.records,
                total.hosts + result.hosts, total.new_hosts + result.new_hosts, result.cursor)
        if total.chunks:
            self._expire_outside_names()
            logger.info("Inventory read %d chunks (%d records): hosts=%d new=%d cursor=%d.",
                        total.chunks, total.records, total.hosts, total.new_hosts, total.cursor)
        return total

    def cursor(self) -> int:
        rows = self.service.state.query("SELECT value FROM kv WHERE key = ?", (CURSOR_KEY,))
        return int(rows[0][0]) if rows else 0

    def log_clock(self) -> int | None:
        """The newest event time the inventory has read (the clock of offline captures)."""
        rows = self.service.state.query("SELECT value FROM kv WHERE key = ?", (CLOCK_KEY,))
        return int(rows[0][0]) if rows else None

    # -- reading -----------------------------------------------------------------------

    def _run_batch(self, after: int) -> InventoryResult:
        cursor, records = self.service.store.events_after_chunk(
            after, max_chunks=self.cfg.batch_chunks)
        if cursor == after:
            return InventoryResult(cursor=after)
        obs = Observations(self.is_home, self._fingerprints)
        for record in records:
            obs.add(record, str(record.get("_sensor") or record.get("host") or ""))
        obs.resolve_dhcp(self._dhcp_address)
        chunks = len({r.get("_chunk") for r in records}) or 1
        new = self._write(obs, cursor)
        return InventoryResult(chunks, len(records), len(obs.hosts), new, cursor)

    def _expire_outside_names(self) -> None:
        """Keep at most ``max_outside_names`` names of outside hosts, the most recently seen.

        A count, not an age: an analysed capture from years ago keeps its names."""
        cap = self.cfg.max_outside_names
        with self.service.state.transaction() as conn:
            total = conn.execute("SELECT count(*) FROM asset_names").fetchone()[0]
            if total <= cap:
                return
            gone = conn.execute(
                "DELETE FROM asset_names WHERE (ip, name, source) IN (SELECT ip, name, source "
                "FROM asset_names WHERE ip NOT IN (SELECT ip FROM assets) ORDER BY last_seen "
                "LIMIT ?)", (total - cap,)).rowcount
        if gone:
            logger.info("Forgot %d names of outside hosts (kept the newest %d).", gone, cap)

    def _dhcp_address(self, mac: str) -> str | None:
        rows = self.service.state.query(
            "SELECT ip FROM asset_macs WHERE mac = ? AND source = 'dhcp' ORDER BY last_seen DESC "
            "LIMIT 1", (mac,))
        return str(rows[0][0]) if rows else None

    # -- writing -----------------------------------------------------------------------

    def _write(self, obs: Observations, cursor: int) -> int:
        now = time.time_ns() // 1000
        state = self.service.state
        with state.transaction() as conn:
            conn.create_function("tls_rank", 1, _tls_rank, deterministic=True)
            before = {r[0] for r in conn.execute(
                "SELECT ip FROM assets WHERE ip IN (SELECT value FROM json_each(?))",
                (json.dumps(list(obs.hosts)),))}  # fmt: skip
            self._write_facts(conn, obs)
            self._trim_names(conn, {(k[0], k[2]) for k in obs.names})
            self._trim_hints(conn, {(k[0], k[1]) for k in obs.os_hints})
            new_macs = {k[0] for k in obs.macs}
            # What derives from MACs and OS clues changes with them, and is set on new
            # hosts (their clues may predate them); a host only seen again keeps it.
            for ip in (set(obs.hosts) - before) | new_macs | {k[0] for k in obs.os_hints}:
                self._refresh_derived(conn, ip, ip in new_macs)
            conn.execute("INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                         "value = excluded.value, updated_at = excluded.updated_at",
                         (CURSOR_KEY, str(cursor), now))  # fmt: skip
            if obs.max_ts:
                conn.execute(
                    "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                    "max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER)), "
                    "updated_at = excluded.updated_at", (CLOCK_KEY, str(obs.max_ts), now))
        return len(set(obs.hosts) - before)

    def _write_facts(self, conn: sqlite3.Connection, obs: Observations) -> None:
        conn.executemany(
            "INSERT INTO assets(ip, ip_key, first_seen, last_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(ip) DO UPDATE SET first_seen = min(coalesce(first_seen, "
            "excluded.first_seen), excluded.first_seen), last_seen = max(coalesce(last_seen, 0), "
            "excluded.last_seen)",
            [(ip, ip_key(ip), a, b) for ip, (a, b) in obs.hosts.items()])
        span_upsert = ("ON CONFLICT DO UPDATE SET first_seen = min(first_seen, "
                       "excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)")
        conn.executemany(f"INSERT INTO asset_sensors VALUES (?, ?, ?, ?) {span_upsert}",
                         [(*k, a, b) for k, (a, b) in obs.sensors.items()])
        conn.executemany(f"INSERT INTO asset_macs VALUES (?, ?, ?, ?, ?) {span_upsert}",
                         [(*k, a, b) for k, (a, b) in obs.macs.items()])
        conn.executemany(f"INSERT INTO asset_names VALUES (?, ?, ?, ?, ?) {span_upsert}",
                         [(*k, a, b) for k, (a, b) in obs.names.items()])
        conn.executemany(
            "INSERT INTO asset_services VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO "
            "UPDATE SET app_proto = coalesce(excluded.app_proto, app_proto), "
            "banner = coalesce(excluded.banner, banner), "
            "tls_version = CASE WHEN tls_rank(excluded.tls_version) < tls_rank(tls_version) "
            "THEN excluded.tls_version ELSE tls_version END, "
            "flows = flows + excluded.flows, external_flows = external_flows + "
            "excluded.external_flows, first_seen = min(first_seen, excluded.first_seen), "
            "last_seen = max(last_seen, excluded.last_seen)",
            [(ip, port, proto, s.app_proto, s.banner, s.tls_version, s.flows, s.external_flows,
              s.first, s.last) for (ip, port, proto), s in obs.services.items()])  # fmt: skip
        conn.executemany(
            "INSERT INTO asset_os_hints VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "os = excluded.os, weight = excluded.weight, last_seen = max(last_seen, "
            "excluded.last_seen)",
            [(*k, os_name, w, ts) for k, (os_name, w, ts) in obs.os_hints.items()])
        conn.executemany(
            "INSERT INTO risk_evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO "
            "UPDATE SET label = excluded.label, category = excluded.category, "
            "severity = min(severity, excluded.severity), confidence = max(confidence, "
            "excluded.confidence), count = count + excluded.count, first_seen = "
            "min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
            [(*k, e.label, e.category, e.severity, e.confidence, e.count, e.first, e.last)
             for k, e in obs.evidence.items()])  # fmt: skip

    def _refresh_derived(self, conn: sqlite3.Connection, ip: str, macs_seen: bool) -> None:
        """Vendor (from the most trustworthy MAC, when MACs were seen) and the OS guess."""
        vendor = None
        for (mac,) in conn.execute(
            "SELECT m.mac FROM asset_macs m WHERE m.ip = ? AND (m.source != 'ethernet' OR "
            "(SELECT count(DISTINCT ip) FROM asset_macs x WHERE x.mac = m.mac) <= ?) "
            "ORDER BY m.source = 'dhcp' DESC, m.last_seen DESC",
            (ip, GATEWAY_MAC_IPS)) if macs_seen else ():  # fmt: skip
            vendor = self.oui.vendor(mac)
            if vendor:
                break
        hints = [osguess.OsHint(s, v, o, w) for s, v, o, w in conn.execute(
            "SELECT source, value, os, weight FROM asset_os_hints WHERE ip = ?", (ip,))]
        os_name, basis = osguess.guess(hints)
        conn.execute("UPDATE assets SET vendor = coalesce(?, vendor), os_guess = ?, "
                     "os_basis = ? WHERE ip = ?", (vendor, os_name, basis, ip))

    def _trim_names(self, conn: sqlite3.Connection, pairs: set[tuple[str, str]]) -> None:
        """Keep the newest names per address and source (a CDN address has thousands)."""
        cap = self.cfg.max_names_per_host
        for ip, source in pairs:
            conn.execute(
                "DELETE FROM asset_names WHERE ip = ? AND source = ? AND name NOT IN (SELECT name "
                "FROM asset_names WHERE ip = ? AND source = ? ORDER BY last_seen DESC LIMIT ?)",
                (ip, source, ip, source, cap))


    @staticmethod
    def _trim_hints(conn: sqlite3.Connection, pairs: set[tuple[str, str]]) -> None:
        """Keep the newest OS clues per address and source (a browser has many agents)."""
        for ip, source in pairs:
            conn.execute(
                "DELETE FROM asset_os_hints WHERE ip = ? AND source = ? AND value NOT IN (SELECT "
                "value FROM asset_os_hints WHERE ip = ? AND source = ? ORDER BY last_seen DESC "
                "LIMIT ?)", (ip, source, ip, source, MAX_HINTS_PER_SOURCE))


def run_inventory(service: Service) -> dict[str, Any]:
    """One inventory pass and a risk recompute: what ``spanwatch core`` and ``analyze`` call."""
    if not service.cfg.assets.enabled:
        return {"enabled": False}
    result = Inventory(service).run_once()
    risk = service.risk.recompute() if result.chunks else None  # type: ignore[attr-defined]
    return {"chunks": result.chunks, "records": result.records, "new_hosts": result.new_hosts,
            "network_risk": risk.score if risk is not None else None}


def update_inventory(cfg: AppConfig) -> dict[str, Any]:
    """Bring the inventory and risk scores up to date with the store (``spanwatch analyze``
    calls this once at the end). A failure is logged, never loses the analysis."""
    from appliance.service import Service

    service = Service(cfg)
    try:
        return run_inventory(service)
    except Exception:
        logger.exception("The asset inventory could not be updated; run `spanwatch assets`.")
        return {"error": True}
    finally:
        service.close()
