"""The ingest API's batch: EVE records with their source and offset, zstd-compressed.

The body, once decompressed, is one JSON line of metadata (the sources the records come
from, by the sensor's own source id, with their fingerprints; the record count; the
sensor's counters), then one line per record: ``SOURCE OFFSET RAW_EVE_JSON``. The center
names each remote source by the sensor and the fingerprint, so a record keeps the same
event id however often it is sent: a replayed batch is stored once.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import zstandard

from appliance.events import EveDecodeError, EveRecord, decode_line
from appliance.store import OFFSET_BITS

#: Paths of the API (the center's side).
BATCH_PATH = "/api/ingest/v1/batch"
ENROL_PATH = "/api/ingest/v1/enrol"
CONTENT_TYPE = "application/x-spanwatch-batch"
FORMAT_VERSION = 1
_OFFSET_MASK = (1 << OFFSET_BITS) - 1
_FP_RE = re.compile(r"^[0-9a-f]{32,64}$")
_COUNTER_RE = re.compile(r"^[a-z0-9_.:-]{1,80}$")
_LEVEL = 3


class BatchError(ValueError):
    """A batch the center refuses: the HTTP status and a reason for the log and counters."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Source:
    """One EVE source of a sensor: its id there, fingerprint (hex) and path."""

    local_id: int
    fingerprint: str
    path: str


@dataclass(slots=True)
class Batch:
    """A decoded batch: records keyed by the sensor's source id and byte offset."""

    sources: dict[int, Source]
    items: list[tuple[int, int, bytes]]
    counters: dict[str, int] = field(default_factory=dict)


def encode_batch(
    sources: Sequence[Source], items: Sequence[tuple[int, int, bytes]],
    counters: Mapping[str, int] | None = None,
) -> bytes:  # fmt: skip
    """The compressed body of a batch (what the sensor spools and sends)."""
    meta = {
        "v": FORMAT_VERSION,
        "sources": {str(s.local_id): {"fp": s.fingerprint, "path": s.path} for s in sources},
        "records": len(items),
        "counters": {k: int(v) for k, v in (counters or {}).items() if v},
    }
    out = io.BytesIO()
    out.write(json.dumps(meta, ensure_ascii=True).encode() + b"\n")
    for source, offset, raw in items:
        out.write(b"%d %d " % (source, offset))
        out.write(raw)
        out.write(b"\n")
    return zstandard.ZstdCompressor(level=_LEVEL).compress(out.getvalue())


def decompress(body: bytes, limit: int) -> bytes:
    """The decompressed body; 413 past ``limit`` bytes, 400 if it is not zstd."""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body))
        data = reader.read(limit + 1)
    except zstandard.ZstdError as err:
        raise BatchError(400, "malformed", f"not a zstd stream ({err})") from err
    if len(data) > limit:
        raise BatchError(413, "oversized", f"more than {limit} bytes once decompressed")
    return data


def decode_batch(data: bytes) -> Batch:
    """Parse a decompressed body, checking every line; :class:`BatchError` (400) if bad."""
    head, _, rest = data.partition(b"\n")
    try:
        meta = json.loads(head)
        sources = _sources(meta["sources"])
        expected = int(meta["records"])
        counters = _counters(meta.get("counters") or {})
        if meta.get("v") != FORMAT_VERSION:
            raise ValueError(f"format version {meta.get('v')!r} (this center reads 1)")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BatchError(400, "malformed", f"bad batch header ({err})") from err
    lines = rest.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != expected:
        raise BatchError(400, "malformed", f"{len(lines)} records where {expected} were announced")
    items = []
    for number, line in enumerate(lines, 1):
        try:
            src, offset, raw = line.split(b" ", 2)
            source, off = int(src), int(offset)
        except ValueError as err:
            detail = f"record {number} is not SOURCE OFFSET JSON"
            raise BatchError(400, "malformed", detail) from err
        if source not in sources or not 0 <= off <= _OFFSET_MASK:
            raise BatchError(400, "malformed", f"record {number}: unknown source or offset")
        items.append((source, off, raw))
    return Batch(sources, items, counters)


def _sources(value: Any) -> dict[int, Source]:
    out = {}
    for key, spec in dict(value).items():
        fp, path = str(spec["fp"]), str(spec.get("path", ""))[:4096]
        if not _FP_RE.match(fp):
            raise ValueError(f"source {key} has no hex fingerprint")
        out[int(key)] = Source(int(key), fp, path)
    return out


def _counters(value: Any) -> dict[str, int]:
    out = {}
    for key, count in dict(value).items():
        if not _COUNTER_RE.match(str(key)) or not isinstance(count, int) or count < 0:
            raise ValueError(f"bad counter {str(key)[:40]!r}")
        out[str(key)] = count
    return out


def decode_records(batch: Batch, ids: Mapping[int, int]) -> list[EveRecord]:
    """The batch's records as the center stores them: ``ids`` maps sensor to center source."""
    records = []
    for number, (source, offset, raw) in enumerate(batch.items, 1):
        try:
            records.append(decode_line(raw, (ids[source] << OFFSET_BITS) | offset))
        except EveDecodeError as err:
            detail = f"record {number} is not EVE ({err.reason})"
            raise BatchError(400, "malformed", detail) from err
    return records


def encode_header(value: Mapping[str, Any]) -> str:
    """A JSON object as an HTTP header value (base64url)."""
    return base64.urlsafe_b64encode(json.dumps(value, default=str).encode()).decode()


def decode_header(value: str | None) -> dict[str, Any]:
    """The object of :func:`encode_header`; an empty dict if absent or unreadable."""
    if not value:
        return {}
    try:
        out = json.loads(base64.urlsafe_b64decode(value.encode()))
    except (ValueError, TypeError):
        return {}
    return out if isinstance(out, dict) else {}
