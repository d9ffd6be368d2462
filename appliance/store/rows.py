"""The store's rows for a batch of records, built before the write transaction.

Building rows is the Python half of ingest. :func:`prepare` runs in the reader's thread
(see ``sensors.ship.ThreadedSink``), so the writer's thread spends its time in SQLite and
zstd (:func:`compress`, at the write), which run without the interpreter lock: the two
halves use both cores. What only the write transaction knows (sensor and event-type ids,
chunk ids) is filled in by slice assignment, at C speed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zstandard

from appliance.events import EveRecord, community_key, pack_ip, proto_number

#: Values per events row built here: every column but the sensor and the chunk, which are
#: the same for a whole chunk and bound once per statement (see ``sqlite._rows_sql``).
#: Values of a chunk are flat, WIDTH per row, in this order:
ROW = ("id", "ts", "etype", "src_ip", "dest_ip", "src_port", "dest_port", "proto", "flow_id",
       "cid", "sid", "severity", "bytes", "pos")  # fmt: skip
#: The columns only alerts and findings fill: a chunk with neither (nearly every metadata
#: chunk) leaves them out of its rows, and its statement says NULL. Binding a None costs
#: the sqlite3 module a lookup for an adapter, about 1 µs with the interpreter lock held,
#: which the reader's thread waits for: a third of the writer's hold on the lock.
FLAGS = ("cid", "sid", "severity")
PLAIN_ROW = tuple(c for c in ROW if c not in FLAGS)
WIDTH, PLAIN_WIDTH = len(ROW), len(PLAIN_ROW)
ETYPE_SLOT = ROW.index("etype")
assert PLAIN_ROW.index("etype") == ETYPE_SLOT
_FLAGS_AT = ROW.index(FLAGS[0])
assert ROW[_FLAGS_AT:_FLAGS_AT + len(FLAGS)] == FLAGS  # side by side (see _widen)
_OFFSET_BITS = 40
#: zstd level of the chunks' raw records: level 1 compresses EVE JSON as well as 3 (10-11x
#: on whole batches), in two thirds of the time.
COMPRESS_LEVEL = 1
_PROTOS: dict[str, int] = {
    "TCP": 6, "UDP": 17, "ICMP": 1, "IPV6-ICMP": 58, "IPv6-ICMP": 58, "SCTP": 132, "GRE": 47,
}  # fmt: skip


@dataclass(slots=True)
class ChunkRows:
    """One future chunk: records of one kind from one source, and their row values.

    In ``values`` the event-type slot holds the type's name until the write transaction
    puts its id there.
    """

    kind: str
    records: list[EveRecord]
    #: PLAIN_ROW values per record if ``plain``, else ROW values.
    values: list[Any]
    #: Sorted packed addresses, as bytearrays (bound without an adapter lookup, as bytes are not).
    hosts: list[bytearray]
    #: The records' raw lines, one per line (the chunk's data, compressed by the writer:
    #: zstd releases the interpreter lock, the reader's thread decodes meanwhile).
    raw: bytes
    alerts: list[EveRecord]
    min_ts: int
    max_ts: int
    min_id: int
    max_id: int
    plain: bool


@dataclass(slots=True)
class PreparedBatch:
    """The rows of a batch of records, by chunk."""

    records: Sequence[EveRecord]
    chunks: list[ChunkRows]
    #: The batch's flows summed for the traffic rollups, when the store's rollups are on
    #: and known to this thread (otherwise the writer sums them).
    flows: Any = None


_local = threading.local()


def compress(raw: bytes) -> bytes:
    """A chunk's data as stored, compressed by this thread's compressor (one compressor
    must not serve two threads at once)."""
    found: zstandard.ZstdCompressor | None = getattr(_local, "zc", None)
    if found is None:
        found = _local.zc = zstandard.ZstdCompressor(level=COMPRESS_LEVEL)
    return found.compress(raw)


def prepare(records: Sequence[EveRecord]) -> PreparedBatch:
    """Group ``records`` by kind and source, build their row values and compress them."""
    groups: dict[tuple[str, int], list[EveRecord]] = {}
    for record in records:
        groups.setdefault((record.kind, record.id >> _OFFSET_BITS), []).append(record)
    return PreparedBatch(records, [_chunk(kind, group) for (kind, _), group in groups.items()])


#: Packed addresses as bytearrays, by their text: a row's addresses are bound as they are.
ROW_IPS: dict[str, bytearray] = {}


def _row_ip(value: str) -> bytearray | None:
    packed = pack_ip(value)
    if packed is None:
        return None
    if len(ROW_IPS) > 200_000:
        ROW_IPS.clear()
    found = ROW_IPS[value] = bytearray(packed)
    return found


def _chunk(kind: str, group: list[EveRecord]) -> ChunkRows:
    """The hot loop of ingest: lookups cached in locals; a Community ID is keyed only on
    alerts and findings, the only rows its index covers."""
    ips, protos = ROW_IPS, _PROTOS
    values: list[Any] = []
    add = values.extend
    hosts: set[str | None] = set()
    note = hosts.add
    alerts: list[EveRecord] = []
    plain = True
    for pos, record in enumerate(group):
        head = record.head
        src, dest = head.src_ip, head.dest_ip
        src_b = ips.get(src) if src is not None else None
        if src_b is None and src is not None:
            src_b = _row_ip(src)
        dest_b = ips.get(dest) if dest is not None else None
        if dest_b is None and dest is not None:
            dest_b = _row_ip(dest)
        proto = head.proto
        if proto is not None and not isinstance(proto, int):
            proto = protos.get(proto) or proto_number(proto)
        sid = severity = size = None
        alert = head.alert
        if alert is not None:
            sid, severity = alert.signature_id, alert.severity
            alerts.append(record)
        elif head.finding is not None:
            severity = head.finding.severity
        elif head.flow is not None and head.event_type == "flow":
            size = head.flow.bytes_toserver + head.flow.bytes_toclient
        note(src)
        note(dest)
        if plain and sid is None and severity is None:
            add((record.id, record.ts, head.event_type, src_b, dest_b, head.src_port,
                 head.dest_port, proto, head.flow_id, size, pos))
            continue
        if plain:
            values = _widen(values)
            add = values.extend
            plain = False
        cid = community_key(head.community_id) if severity is not None else None
        add((record.id, record.ts, head.event_type, src_b, dest_b, head.src_port,
             head.dest_port, proto, head.flow_id, cid, sid, severity, size, pos))
    found = []
    for host in hosts:
        if host is not None:
            packed = ips.get(host) or _row_ip(host)
            if packed is not None:
                found.append(packed)
    found.sort()  # bytearrays sort as the bytes they hold
    ts = [r.ts for r in group]
    ids = [r.id for r in group]
    raw = b"\n".join([r.raw for r in group])
    return ChunkRows(kind, group, values, found, raw, alerts, min(ts), max(ts), min(ids),
                     max(ids), plain)  # fmt: skip


def _widen(values: list[Any]) -> list[Any]:
    """PLAIN_ROW values made ROW values (a chunk's first alert or finding came up)."""
    at = _FLAGS_AT
    out: list[Any] = []
    for start in range(0, len(values), PLAIN_WIDTH):
        row = values[start:start + PLAIN_WIDTH]
        out.extend(row[:at])
        out.extend([None] * len(FLAGS))
        out.extend(row[at:])
    return out
