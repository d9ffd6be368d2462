"""Storing a sensor's batch at the center: source ids per sensor, clock skew, idempotence."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from appliance.center.batch import Batch, decode_records
from appliance.center.registry import EnrolledSensor, SensorRegistry
from appliance.config import CenterConfig
from appliance.store import EventStore

logger = logging.getLogger(__name__)

_DAY_US = 86_400 * 1_000_000


@dataclass(slots=True)
class IngestResult:
    """What the center did with one batch (the API's answer)."""

    stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"stored": self.stored, "duplicates": self.duplicates, "rejected": self.rejected}


def center_fingerprint(sensor: str, fingerprint_hex: str) -> bytes:
    """The center's fingerprint of a sensor's source: namespaced by the sensor's name."""
    return hashlib.sha256(
        b"spanwatch-remote\0" + sensor.encode() + b"\0" + bytes.fromhex(fingerprint_hex)
    ).digest()[:16]


class Ingestor:
    """Writes batches into the center's store; one writer at a time, decoding in parallel."""

    def __init__(self, store: EventStore, registry: SensorRegistry, cfg: CenterConfig) -> None:
        self.store = store
        self.registry = registry
        self.cfg = cfg
        self._lock = threading.Lock()
        self._ids: dict[bytes, int] = {}

    def _source_ids(self, sensor: str, batch: Batch) -> dict[int, int]:
        out = {}
        for local_id, source in batch.sources.items():
            fp = center_fingerprint(sensor, source.fingerprint)
            found = self._ids.get(fp)
            if found is None:
                with self._lock:
                    found = self._ids[fp] = self.store.source_id(fp, f"{sensor}:{source.path}")
            out[local_id] = found
        return out

    def ingest(
        self, sensor: EnrolledSensor, batch: Batch, *, address: str, health: dict[str, Any],
        now_us: int | None = None,
    ) -> IngestResult:  # fmt: skip
        """Store what the batch holds that is new; records outside the skew are refused."""
        records = decode_records(batch, self._source_ids(sensor.name, batch))
        now = int(time.time() * 1_000_000) if now_us is None else now_us
        newest = now + self.cfg.max_future_seconds * 1_000_000
        oldest = now - self.cfg.max_past_days * _DAY_US if self.cfg.max_past_days else None
        kept = [r for r in records if r.ts <= newest and (oldest is None or r.ts >= oldest)]
        result = IngestResult()
        skewed = len(records) - len(kept)
        if skewed:
            result.rejected["skew"] = skewed
            self.registry.add_rejections(
                sensor.name, "skew", skewed,
                f"{skewed} records outside -{self.cfg.max_past_days} d/+"
                f"{self.cfg.max_future_seconds} s of the center's clock",
            )  # fmt: skip
            logger.warning(
                "Refused records beyond the clock skew: sensor=%s count=%d of=%d.",
                sensor.name, skewed, len(records),
            )  # fmt: skip
        counters = {f"remote.{sensor.name}.{k}": v for k, v in batch.counters.items()}
        prepared = self.store.prepare(kept)
        with self._lock:
            result.stored = self.store.add_events(
                kept, sensor.name, counters=counters, prepared=prepared
            )
        result.duplicates = len(kept) - result.stored
        self.registry.record_contact(
            sensor.id, address=address, health=health, records=result.stored,
            duplicates=result.duplicates,
        )  # fmt: skip
        return result
