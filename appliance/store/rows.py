"""The store's rows for a batch of records, built before the write transaction.

Building rows is the Python half of ingest. :func:`prepare` runs in the reader's thread
(see ``sensors.ship.ThreadedSink``), so the writer's thread spends its time in SQLite,
which runs without the interpreter lock: the two halves use both cores. What only the
write transaction knows (sensor and event-type ids, chunk ids) is filled in by slice
assignment, at C speed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zstandard

from appliance.events import IP_CACHE, EveRecord, community_key, pack_ip, proto_number

#: Columns of an events row, in table order; values of a chunk are flat, COLUMNS per row.
COLUMNS = 16
SENSOR_SLOT, ETYPE_SLOT, CHUNK_SLOT = 2, 3, 14
_OFFSET_BITS = 40
#: zstd level of the chunks' raw records (3: fast, and ~4x on EVE JSON).
COMPRESS_LEVEL = 3
_PROTOS: dict[str, int] = {
    "TCP": 6, "UDP": 17, "ICMP": 1, "IPV6-ICMP": 58, "IPv6-ICMP": 58, "SCTP": 132, "GRE": 47,
}  # fmt: skip


@dataclass(slots=True)
class ChunkRows:
    """One future chunk: records of one kind from one source, and their row values.

    In ``values`` the sensor slot is empty, the event-type slot holds the type's name and
    the chunk slot is empty, until the write transaction fills them.
    """

    kind: str
    records: list[EveRecord]
    values: list[Any]
    hosts: list[bytes]
    #: The records' raw lines, zstd-compressed (the chunk's data).
    blob: bytes
    alerts: list[EveRecord]
    min_ts: int
    max_ts: int
    min_id: int
    max_id: int


@dataclass(slots=True)
class PreparedBatch:
    """The rows of a batch of records, by chunk."""

    records: Sequence[EveRecord]
    chunks: list[ChunkRows]
    #: The batch's flows summed for the traffic rollups, when the store's rollups are on
    #: and known to this thread (otherwise the writer sums them).
    flows: Any = None


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's compressor (one compressor must not serve two threads at once)."""
    found: zstandard.ZstdCompressor | None = getattr(_local, "zc", None)
    if found is None:
        found = _local.zc = zstandard.ZstdCompressor(level=COMPRESS_LEVEL)
    return found


def prepare(records: Sequence[EveRecord]) -> PreparedBatch:
    """Group ``records`` by kind and source, build their row values and compress them."""
    groups: dict[tuple[str, int], list[EveRecord]] = {}
    for record in records:
        groups.setdefault((record.kind, record.id >> _OFFSET_BITS), []).append(record)
    return PreparedBatch(records, [_chunk(kind, group) for (kind, _), group in groups.items()])


def _chunk(kind: str, group: list[EveRecord]) -> ChunkRows:
    """The hot loop of ingest: lookups cached in locals; a Community ID is keyed only on
    alerts and findings, the only rows its index covers."""
    ips, protos = IP_CACHE, _PROTOS
    values: list[Any] = []
    add = values.extend
    hosts: set[bytes | None] = set()
    note = hosts.add
    alerts: list[EveRecord] = []
    for pos, record in enumerate(group):
        head = record.head
        src, dest = head.src_ip, head.dest_ip
        src_b = ips.get(src) if src is not None else None
        if src_b is None and src is not None:
            src_b = pack_ip(src)
        dest_b = ips.get(dest) if dest is not None else None
        if dest_b is None and dest is not None:
            dest_b = pack_ip(dest)
        proto = head.proto
        if proto is not None and not isinstance(proto, int):
            proto = protos.get(proto) or proto_number(proto)
        sid = severity = cid = size = None
        alert = head.alert
        if alert is not None:
            sid, severity = alert.signature_id, alert.severity
            alerts.append(record)
        elif head.finding is not None:
            severity = head.finding.severity
        elif head.flow is not None and head.event_type == "flow":
            size = head.flow.bytes_toserver + head.flow.bytes_toclient
        if severity is not None:
            cid = community_key(head.community_id)
        add((record.id, record.ts, None, head.event_type, src_b, dest_b, head.src_port,
             head.dest_port, proto, head.flow_id, cid, sid, severity, size, None, pos))
        note(src_b)
        note(dest_b)
    hosts.discard(None)
    ts = [r.ts for r in group]
    blob = _compressor().compress(b"\n".join(r.raw for r in group))
    return ChunkRows(
        kind, group, values, sorted(hosts), blob, alerts,  # type: ignore[arg-type]
        min(ts), max(ts), group[0].id if len(group) == 1 else min(r.id for r in group),
        max(r.id for r in group),
    )
