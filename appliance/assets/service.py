"""``Service.assets``: list, search, read and edit the inventory; CSV import and export."""

from __future__ import annotations

import builtins
import json
import logging
import re
import sqlite3
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from appliance.assets import CRITICALITIES, Asset, AssetDetail, ip_key
from appliance.assets.csvio import CsvRow, export_rows, parse_csv
from appliance.errors import ApplianceError

if TYPE_CHECKING:
    from appliance.service import Page, Service

logger = logging.getLogger(__name__)

_SORTS = {
    "risk": "coalesce(a.risk, -1) DESC, a.ip_key",
    "ip": "a.ip_key",
    "last_seen": "coalesce(a.last_seen, 0) DESC, a.ip_key",
    "first_seen": "coalesce(a.first_seen, 0) DESC, a.ip_key",
    "criticality": "CASE a.criticality WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' "
                   "THEN 2 ELSE 3 END, coalesce(a.risk, -1) DESC, a.ip_key",
}  # fmt: skip
_ASSET_COLS = ("a.ip, a.vendor, a.os_guess, a.os_basis, a.first_seen, a.last_seen, a.owner, "
               "a.agency, a.criticality, a.tags, a.risk")  # fmt: skip
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class AssetError(ApplianceError):
    """An edit of the inventory was refused (unknown asset, bad value)."""


def clean_field(value: str | None, what: str, limit: int = 200) -> str | None:
    """A free-text field an admin typed: trimmed, bounded, no control characters."""
    if value is None:
        return None
    text = value.strip()
    if _CONTROL_RE.search(text):
        raise ValueError(f"{what} contains control characters")
    if len(text) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    return text or None


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Tags: trimmed, unique, in order; each at most 40 characters, at most 20 of them."""
    out: list[str] = []
    for tag in tags:
        text = clean_field(tag, "a tag", 40)
        if text and text not in out:
            if any(c in text for c in ",;|"):
                raise ValueError(f"tag {text!r} contains , ; or |")
            out.append(text)
    if len(out) > 20:
        raise ValueError("more than 20 tags")
    return out


class AssetService:
    """The inventory as the web UI, the reports and the CLI see it."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def _state(self) -> Any:
        return self.service.state

    # -- reading -----------------------------------------------------------------------

    def list(self, *, q: str | None = None, offset: int = 0, limit: int = 50,
             sort: str = "risk", criticality: str | None = None, tag: str | None = None,
             sensor: str | None = None) -> Page[Asset]:  # fmt: skip
        """A page of assets matching ``q`` (address, name, MAC, vendor, OS, owner, agency,
        tag or service banner, case-insensitive) and the exact filters, sorted by ``sort``."""
        from appliance.service import Page

        if sort not in _SORTS:
            raise AssetError(f"Unknown sort {sort!r}; use one of {', '.join(_SORTS)}.")
        clauses, params = self._search(q)
        for clause, value in (("a.criticality = ?", criticality),
                              ("EXISTS (SELECT 1 FROM json_each(a.tags) WHERE value = ?)", tag),
                              ("a.ip IN (SELECT ip FROM asset_sensors WHERE sensor = ?)", sensor)):
            if value is not None:
                clauses.append(clause)
                params = (*params, value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        total = self._state.query(f"SELECT count(*) FROM assets a{where}", params)[0][0]
        rows = self._state.query(
            f"SELECT {_ASSET_COLS} FROM assets a{where} ORDER BY {_SORTS[sort]} LIMIT ? OFFSET ?",
            (*params, max(0, limit), max(0, offset)))
        return Page(self._assets(rows), int(total), offset, limit)

    def _search(self, q: str | None) -> tuple[builtins.list[str], tuple[Any, ...]]:
        """The WHERE clauses (one, or none) and parameters of a free-text search."""
        if not q or not q.strip():
            return [], ()
        like = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        fields = ["a.ip", "a.vendor", "a.os_guess", "a.owner", "a.agency", "a.tags"]
        ors = [f"lower({f}) LIKE ? ESCAPE '\\'" for f in fields]
        for table, col in (("asset_names", "name"), ("asset_macs", "mac"),
                           ("asset_services", "banner")):  # fmt: skip
            ors.append(f"a.ip IN (SELECT ip FROM {table} WHERE lower({col}) LIKE ? "
                       f"ESCAPE '\\')")  # fmt: skip
        return ["(" + " OR ".join(ors) + ")"], tuple([like] * len(ors))

    def _assets(self, rows: Sequence[sqlite3.Row]) -> builtins.list[Asset]:
        ips = json.dumps([r[0] for r in rows])
        names: dict[str, builtins.list[tuple[str, str]]] = {}
        for ip, name, source in self._state.query(
            "SELECT ip, name, source FROM asset_names WHERE ip IN (SELECT value FROM "
            "json_each(?)) ORDER BY last_seen DESC", (ips,)):
            names.setdefault(ip, []).append((name, source))
        macs: dict[str, builtins.list[str]] = {}
        for ip, mac in self._state.query(
            "SELECT DISTINCT ip, mac FROM asset_macs WHERE ip IN (SELECT value FROM json_each(?)) "
            "ORDER BY source = 'dhcp' DESC, last_seen DESC", (ips,)):
            if mac not in macs.setdefault(ip, []):
                macs[ip].append(mac)
        services = self._services_of(ips)
        sensors: dict[str, builtins.list[str]] = {}
        for ip, sensor in self._state.query(
            "SELECT ip, sensor FROM asset_sensors WHERE ip IN (SELECT value FROM json_each(?)) "
            "ORDER BY sensor", (ips,)):
            sensors.setdefault(ip, []).append(sensor)
        return [Asset(
            ip=r[0], macs=macs.get(r[0], []), vendor=r[1], hostnames=names.get(r[0], []),
            os_guess=r[2], os_basis=r[3] or "", services=services.get(r[0], []),
            first_seen=r[4], last_seen=r[5], sensors=sensors.get(r[0], []), owner=r[6],
            agency=r[7], criticality=r[8], tags=json.loads(r[9] or "[]"), risk=r[10],
        ) for r in rows]  # fmt: skip

    def _services_of(self, ips_json: str) -> dict[str, builtins.list[dict[str, Any]]]:
        out: dict[str, builtins.list[dict[str, Any]]] = {}
        for r in self._state.query(
            "SELECT ip, port, proto, app_proto, banner, tls_version, flows, external_flows, "
            "first_seen, last_seen FROM asset_services WHERE ip IN (SELECT value FROM "
            "json_each(?)) ORDER BY ip, port, proto", (ips_json,)):
            out.setdefault(r[0], []).append({
                "port": r[1], "proto": r[2], "app_proto": r[3], "banner": r[4],
                "tls_version": r[5], "flows": r[6], "external_flows": r[7],
                "first_seen": r[8], "last_seen": r[9]})  # fmt: skip
        return out

    def get(self, ip: str) -> AssetDetail | None:
        """Everything known about one asset, with its current risk factors."""
        rows = self._state.query(f"SELECT {_ASSET_COLS} FROM assets a WHERE a.ip = ?", (ip,))
        if not rows:
            return None
        asset = self._assets(rows)[0]
        names = [dict(name=r[0], source=r[1], first_seen=r[2], last_seen=r[3])
                 for r in self._state.query(
                     "SELECT name, source, first_seen, last_seen FROM asset_names WHERE ip = ? "
                     "ORDER BY source, last_seen DESC", (ip,))]  # fmt: skip
        macs = [dict(mac=r[0], source=r[1], first_seen=r[2], last_seen=r[3])
                for r in self._state.query(
                    "SELECT mac, source, first_seen, last_seen FROM asset_macs WHERE ip = ? "
                    "ORDER BY last_seen DESC", (ip,))]  # fmt: skip
        hints = [dict(source=r[0], value=r[1], os=r[2], weight=r[3], last_seen=r[4])
                 for r in self._state.query(
                     "SELECT source, value, os, weight, last_seen FROM asset_os_hints "
                     "WHERE ip = ? ORDER BY weight DESC, last_seen DESC", (ip,))]  # fmt: skip
        same_mac = [dict(ip=r[0], mac=r[1], last_seen=r[2]) for r in self._state.query(
            "SELECT ip, mac, max(last_seen) FROM asset_macs WHERE source != 'ethernet' AND "
            "mac IN (SELECT mac FROM asset_macs WHERE ip = ? AND source != 'ethernet') "
            "AND ip != ? GROUP BY ip, mac ORDER BY 3 DESC LIMIT 50", (ip, ip))]  # fmt: skip
        risk = self.service.risk.host(ip)  # type: ignore[attr-defined]
        return AssetDetail(asset, names, macs, asset.services, hints, risk, same_mac)

    def names(self, ip: str) -> builtins.list[tuple[str, str]]:
        """Names of any address, inside HOME_NET or not, newest first, with their source."""
        return [(r[0], r[1]) for r in self._state.query(
            "SELECT name, source FROM asset_names WHERE ip = ? ORDER BY last_seen DESC", (ip,))]

    def criticality(self, ips: Sequence[str]) -> dict[str, str]:
        """The criticality of each address that is an asset (for incident severity)."""
        return {r[0]: r[1] for r in self._state.query(
            "SELECT ip, criticality FROM assets WHERE ip IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ips)),))}

    def new_since(self, since_us: int) -> builtins.list[Asset]:
        """Assets first seen at or after ``since_us`` (in traffic time), oldest first."""
        rows = self._state.query(
            f"SELECT {_ASSET_COLS} FROM assets a WHERE a.first_seen >= ? ORDER BY a.first_seen",
            (since_us,))
        return self._assets(rows)

    # -- editing -----------------------------------------------------------------------

    def delete(self, ip: str, *, actor: str) -> None:
        """Remove an asset and what the inventory knew of it (a decommissioned host); it
        comes back, without the admin's fields, if traffic shows it again."""
        with self._state.transaction() as conn:
            if conn.execute("DELETE FROM assets WHERE ip = ?", (ip,)).rowcount == 0:
                raise AssetError(f"No asset {ip} in the inventory.")
            for table in ("asset_macs", "asset_names", "asset_services", "asset_sensors",
                          "asset_os_hints", "risk_evidence", "risk_history"):  # fmt: skip
                conn.execute(f"DELETE FROM {table} WHERE ip = ?", (ip,))
        self._audit(actor, "asset.delete", ip, {})

    def update(self, ip: str, *, owner: str | None = None, agency: str | None = None,
               criticality: str | None = None, tags: Sequence[str] | None = None,
               actor: str) -> Asset:  # fmt: skip
        """Set what admins know about an asset (None leaves a field as it is; "" clears)."""
        try:
            changes = self._changes(owner, agency, criticality, tags)
        except ValueError as err:
            raise AssetError(f"{ip}: {err}.") from err
        with self._state.transaction() as conn:
            if conn.execute("SELECT 1 FROM assets WHERE ip = ?", (ip,)).fetchone() is None:
                raise AssetError(f"No asset {ip} in the inventory.")
            self._apply(conn, ip, changes, actor)
        self._audit(actor, "asset.update", ip, changes)
        if "criticality" in changes:
            self.service.risk.refresh([ip])  # type: ignore[attr-defined]
        return self._assets(self._state.query(
            f"SELECT {_ASSET_COLS} FROM assets a WHERE a.ip = ?", (ip,)))[0]

    @staticmethod
    def _changes(owner: str | None, agency: str | None, criticality: str | None,
                 tags: Sequence[str] | None) -> dict[str, Any]:  # fmt: skip
        changes: dict[str, Any] = {}
        if owner is not None:
            changes["owner"] = clean_field(owner, "owner")
        if agency is not None:
            changes["agency"] = clean_field(agency, "agency")
        if criticality is not None:
            if criticality not in CRITICALITIES:
                raise ValueError(f"criticality must be one of {', '.join(CRITICALITIES)}, "
                                 f"not {criticality!r}")  # fmt: skip
            changes["criticality"] = criticality
        if tags is not None:
            changes["tags"] = json.dumps(clean_tags(tags), ensure_ascii=False)
        return changes

    @staticmethod
    def _apply(conn: sqlite3.Connection, ip: str, changes: dict[str, Any], actor: str) -> None:
        sets = "".join(f"{k} = ?, " for k in changes)
        conn.execute(f"UPDATE assets SET {sets}edited_at = ?, edited_by = ? WHERE ip = ?",
                     (*changes.values(), time.time_ns() // 1000, actor, ip))

    def import_csv(self, text: str, *, actor: str) -> tuple[int, int, builtins.list[str]]:
        """(created, updated, errors) from CSV text; with any error nothing is changed.

        Columns (header required): ``ip`` and any of ``owner``, ``agency``,
        ``criticality``, ``tags`` (separated by ``;``); others (an export's) are ignored.
        An address not yet seen is registered, to be filled in when traffic shows it.
        """
        rows, errors = parse_csv(text)
        if errors:
            return 0, 0, errors
        created = updated = 0
        with self._state.transaction() as conn:
            for row in rows:
                exists = conn.execute("SELECT 1 FROM assets WHERE ip = ?", (row.ip,)).fetchone()
                if exists is None:
                    conn.execute("INSERT INTO assets(ip, ip_key) VALUES (?, ?)",
                                 (row.ip, ip_key(row.ip)))  # fmt: skip
                    created += 1
                else:
                    updated += 1
                self._apply(conn, row.ip, self._row_changes(row), actor)
        self._audit(actor, "asset.import", "csv", {"created": created, "updated": updated})
        changed = [row.ip for row in rows if row.criticality is not None]
        if changed and len(changed) <= 1000:
            self.service.risk.refresh(changed)  # type: ignore[attr-defined]
        return created, updated, []

    def _row_changes(self, row: CsvRow) -> dict[str, Any]:
        return self._changes(row.owner, row.agency, row.criticality, row.tags)

    def export_csv(self) -> str:
        """Every asset as CSV (the import format plus what the inventory found)."""
        rows = self._state.query(f"SELECT {_ASSET_COLS} FROM assets a ORDER BY a.ip_key")
        return export_rows(self._assets(rows))

    def _audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        try:
            from appliance.audit import record  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            logger.info("Audit: actor=%s action=%s target=%s detail=%s.", actor, action,
                        target, detail)  # fmt: skip
            return
        record(self._state, actor, action, target, detail)
