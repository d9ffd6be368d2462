"""Synthetic alerts and findings in a real store, for the incident tests.

Records are EVE-shaped dicts (``alert``, ``finding``) written through the store's own
``add_events``, one chunk per call, so the correlator reads them as it reads ingest.
Addresses come from the documentation ranges plus 10.0.0.0/8 as the monitored network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import yaml

from appliance.config import AppConfig, load_config
from appliance.events import decode_line
from appliance.store import EventStore, event_id

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)
_offsets = itertools.count(1)


def ts(minutes: float) -> str:
    """An EVE timestamp ``minutes`` after T0."""
    return (T0 + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def us(minutes: float) -> int:
    """UTC microseconds ``minutes`` after T0."""
    return int((T0 + dt.timedelta(minutes=minutes)).timestamp() * 1_000_000)


def alert(minutes: float, src: str, dest: str, sid: int, signature: str, *,
          category: str = "Misc Attack", severity: int = 2) -> dict[str, Any]:  # fmt: skip
    return {"timestamp": ts(minutes), "event_type": "alert", "src_ip": src, "dest_ip": dest,
            "src_port": 40000, "dest_port": 80, "proto": "TCP",
            "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                      "signature": signature, "category": category, "severity": severity}}


def finding(minutes: float, kind: str, category: str, src: str | None, dest: str | None,
            *, severity: int = 2, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    # fmt: skip
    return {"timestamp": ts(minutes), "event_type": "finding", "src_ip": src, "dest_ip": dest,
            "finding": {"type": kind, "category": category, "severity": severity,
                        "confidence": 0.9, "explanation": {"en": kind, "vi": kind},
                        "evidence": evidence or {}}}  # fmt: skip


def add_records(store: EventStore, records: Iterable[dict[str, Any]], *,
                source: str = "synthetic", sensor: str = "test-sensor") -> list[int]:  # fmt: skip
    """Store ``records`` as one batch of one source; their event ids."""
    sid = store.source_id(hashlib.sha256(source.encode()).digest(), f"/synthetic/{source}")
    decoded = [decode_line(orjson.dumps(r), event_id(sid, next(_offsets))) for r in records]
    store.add_events(decoded, sensor)
    return [r.id for r in decoded]


def incident_config(tmp: Path, **incidents: Any) -> AppConfig:
    """An appliance configuration with its own data directory under ``tmp``."""
    path = tmp / "appliance.yaml"
    data = {"sensor": {"name": "test-sensor"}, "data_dir": str(tmp / "data"),
            "networks": {"home": ["10.0.0.0/8"]}, "incidents": incidents}  # fmt: skip
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path)
