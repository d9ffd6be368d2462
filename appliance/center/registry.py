"""Enrolled sensors in the state database: requests, approval, revocation, tokens, contact.

Only a SHA-256 of each token is kept. A sensor asks to enrol with its name and token; an
admin compares the fingerprint it printed with the one listed here and approves it; from
then on the token authenticates it, until revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from appliance.audit import record as audit_record
from appliance.errors import ApplianceError
from appliance.state import StateDB

STATUSES = ("pending", "approved", "revoked")


class EnrolmentError(ApplianceError):
    """An enrolment request or decision that cannot be done (unknown name, conflict)."""


def token_hash(token: str) -> str:
    """What the state DB keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_fingerprint(token: str) -> str:
    """What the sensor prints and the admin compares: 16 hex digits in groups of four."""
    digest = hashlib.sha256(b"spanwatch-enrol\0" + token.encode()).hexdigest()[:16]
    return "-".join(digest[i:i + 4] for i in range(0, 16, 4))


def _now_us() -> int:
    return int(time.time() * 1_000_000)


@dataclass(frozen=True, slots=True)
class EnrolledSensor:
    """A sensor known to the center."""

    id: int
    name: str
    fingerprint: str
    status: str
    requested_at: int
    requested_from: str | None
    decided_at: int | None
    decided_by: str | None
    last_contact: int | None
    last_address: str | None
    spanwatch_version: str | None
    suricata_version: str | None
    health: dict[str, Any] = field(default_factory=dict)
    batches: int = 0
    records: int = 0
    duplicates: int = 0


def _sensor(row: sqlite3.Row) -> EnrolledSensor:
    try:
        health = json.loads(row["health"] or "{}")
    except ValueError:
        health = {}
    return EnrolledSensor(
        row["id"], row["name"], row["fingerprint"], row["status"], row["requested_at"],
        row["requested_from"], row["decided_at"], row["decided_by"], row["last_contact"],
        row["last_address"], row["spanwatch_version"], row["suricata_version"],
        health if isinstance(health, dict) else {}, row["batches"], row["records"],
        row["duplicates"],
    )  # fmt: skip


class SensorRegistry:
    """The enrolled sensors of a center and the ingest API's refusals."""

    def __init__(self, state: StateDB) -> None:
        self.state = state

    # -- enrolment -----------------------------------------------------------------------

    def request(
        self, name: str, token: str, *, address: str | None, max_pending: int,
        client_cert: str | None = None,
    ) -> str:  # fmt: skip
        """Record an enrolment request; returns the sensor's status after it.

        Asking again with the same token is harmless; a revoked sensor may ask again with
        a new token (and waits for approval); an approved or pending name with another
        token is refused, so nobody can take over an enrolled sensor's name.
        """
        digest, fp = token_hash(token), token_fingerprint(token)
        with self.state.transaction() as conn:
            row = conn.execute("SELECT * FROM sensors WHERE name = ?", (name,)).fetchone()
            if row is not None and hmac.compare_digest(row["token_hash"], digest):
                return str(row["status"])
            if row is not None and row["status"] != "revoked":
                raise EnrolmentError(f"sensor {name} is already {row['status']} with another key")
            if conn.execute("SELECT 1 FROM sensors WHERE token_hash = ?", (digest,)).fetchone():
                raise EnrolmentError("this token belongs to another sensor")
            pending = conn.execute(
                "SELECT count(*) FROM sensors WHERE status = 'pending'"
            ).fetchone()[0]
            if pending >= max_pending:
                raise EnrolmentError(f"{pending} enrolment requests already wait for approval")
            if row is None:
                conn.execute(
                    "INSERT INTO sensors(name, token_hash, fingerprint, status, requested_at, "
                    "requested_from) VALUES (?, ?, ?, 'pending', ?, ?)",
                    (name, digest, fp, _now_us(), address),
                )
                self._pin(conn, name, client_cert)
            else:
                conn.execute(
                    "UPDATE sensors SET token_hash = ?, fingerprint = ?, status = 'pending', "
                    "requested_at = ?, requested_from = ?, decided_at = NULL, decided_by = NULL "
                    "WHERE id = ?", (digest, fp, _now_us(), address, row["id"]),
                )  # fmt: skip
                self._pin(conn, name, client_cert)
        return "pending"

    @staticmethod
    def _pin(conn: sqlite3.Connection, name: str, pem: str | None) -> None:
        """Pin (or unpin) the client certificate a request came with."""
        if not _has_cert_table(conn):
            return
        conn.execute("DELETE FROM sensor_certs WHERE name = ?", (name,))
        if pem:
            conn.execute("INSERT INTO sensor_certs VALUES (?, ?, ?)",
                         (name, pem_fingerprint(pem), pem))  # fmt: skip

    def pinned_cert(self, name: str) -> str | None:
        """SHA-256 (hex) of the client certificate pinned for ``name``, if any."""
        if not _has_cert_table(self.state.conn):
            return None
        rows = self.state.query("SELECT fingerprint FROM sensor_certs WHERE name = ?", (name,))
        return str(rows[0]["fingerprint"]) if rows else None

    def pinned_pems(self) -> list[str]:
        """Every pinned client certificate (PEM), for the server's trust store."""
        if not _has_cert_table(self.state.conn):
            return []
        return [str(r["pem"]) for r in self.state.query("SELECT pem FROM sensor_certs")]

    def approve(self, name: str, *, actor: str, fingerprint: str | None = None) -> EnrolledSensor:
        """Approve a pending (or re-approve a revoked) sensor; audited."""
        return self._decide(name, "approved", actor=actor, fingerprint=fingerprint)

    def revoke(self, name: str, *, actor: str) -> EnrolledSensor:
        """Revoke a sensor: its token is refused from now on (403); audited."""
        return self._decide(name, "revoked", actor=actor)

    def _decide(
        self, name: str, status: str, *, actor: str, fingerprint: str | None = None
    ) -> EnrolledSensor:
        found = self.get(name)
        if found is None:
            raise EnrolmentError(f"no sensor or enrolment request named {name}")
        if fingerprint is not None and fingerprint.lower() != found.fingerprint:
            raise EnrolmentError(
                f"fingerprint {fingerprint} does not match the request's {found.fingerprint}"
            )
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE sensors SET status = ?, decided_at = ?, decided_by = ? WHERE id = ?",
                (status, _now_us(), actor, found.id),
            )
        verb = "approve" if status == "approved" else "revoke"
        audit_record(self.state, actor, f"sensors.{verb}", name,
                     {"fingerprint": found.fingerprint, "was": found.status})  # fmt: skip
        result = self.get(name)
        assert result is not None
        return result

    # -- lookups -------------------------------------------------------------------------

    def get(self, name: str) -> EnrolledSensor | None:
        """The sensor called ``name``, if known."""
        rows = self.state.query("SELECT * FROM sensors WHERE name = ?", (name,))
        return _sensor(rows[0]) if rows else None

    def list(self) -> list[EnrolledSensor]:
        """Every known sensor, pending requests first, then by name."""
        rows = self.state.query(
            "SELECT * FROM sensors ORDER BY status != 'pending', name"
        )
        return [_sensor(r) for r in rows]

    def authenticate(self, token: str) -> EnrolledSensor | None:
        """The sensor holding ``token`` (any status), or None."""
        rows = self.state.query(
            "SELECT * FROM sensors WHERE token_hash = ?", (token_hash(token),)
        )
        return _sensor(rows[0]) if rows else None

    # -- what the ingest API saw -----------------------------------------------------------

    def record_contact(
        self, sensor_id: int, *, address: str, health: dict[str, Any], records: int,
        duplicates: int,
    ) -> None:  # fmt: skip
        """One accepted batch: last contact, versions, health, totals."""
        with self.state.transaction() as conn:
            conn.execute(
                "UPDATE sensors SET last_contact = ?, last_address = ?, spanwatch_version = ?, "
                "suricata_version = ?, health = ?, batches = batches + 1, "
                "records = records + ?, duplicates = duplicates + ? WHERE id = ?",
                (_now_us(), address, _text(health.get("spanwatch_version")),
                 _text(health.get("suricata_version")), json.dumps(health)[:8192], records,
                 duplicates, sensor_id),
            )  # fmt: skip

    def count_rejection(self, sensor: str, reason: str, detail: str) -> None:
        """Count a refused request or record (``sensor`` '' when it is not known)."""
        with self.state.transaction() as conn:
            conn.execute(
                "INSERT INTO ingest_rejections VALUES (?, ?, 1, ?, ?) "
                "ON CONFLICT(sensor, reason) DO UPDATE SET count = count + 1, "
                "last_at = excluded.last_at, last_detail = excluded.last_detail",
                (sensor, reason, _now_us(), detail[:500]),
            )

    def add_rejections(self, sensor: str, reason: str, count: int, detail: str) -> None:
        """Count ``count`` refused records at once."""
        with self.state.transaction() as conn:
            conn.execute(
                "INSERT INTO ingest_rejections VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(sensor, reason) DO UPDATE SET count = count + excluded.count, "
                "last_at = excluded.last_at, last_detail = excluded.last_detail",
                (sensor, reason, count, _now_us(), detail[:500]),
            )

    def rejections(self) -> dict[tuple[str, str], int]:
        """Refusals so far by (sensor, reason)."""
        rows = self.state.query("SELECT sensor, reason, count FROM ingest_rejections")
        return {(r["sensor"], r["reason"]): int(r["count"]) for r in rows}


def pem_fingerprint(pem: str) -> str:
    """SHA-256 (hex) of a PEM certificate's DER form; ValueError if it is not one."""
    import ssl

    try:
        der = ssl.PEM_cert_to_DER_cert(pem)
    except ValueError as err:
        raise EnrolmentError(f"the client certificate is not PEM: {err}") from err
    return hashlib.sha256(der).hexdigest()


def _has_cert_table(conn: sqlite3.Connection) -> bool:
    # State databases migrated by an early 0006 have no pins table: no pinning there.
    return conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sensor_certs'"
    ).fetchone() is not None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:100]
