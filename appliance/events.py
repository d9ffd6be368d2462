"""Canonical event records: decoding EVE lines into the columns the store indexes.

Suricata's EVE records and our own findings (``event_type: "finding"``) share one shape.
Decoding reads only the indexed fields (msgspec ignores the rest), so a line costs about
a microsecond; analyzers that need the whole record ask for :attr:`EveRecord.data`.
"""

from __future__ import annotations

import calendar
import datetime
import socket
from typing import Annotated, Any

import msgspec
import orjson

#: Kinds of data with their own retention budget.
KIND_ALERTS = "alerts"
KIND_METADATA = "metadata"
#: Event types kept under the alerts budget; everything else is metadata.
ALERT_TYPES = frozenset({"alert", "finding", "anomaly", "drop"})

_PROTO_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPV6-ICMP": 58, "IPv6-ICMP": 58, "SCTP": 132,
                  "GRE": 47}

#: The store's integer columns are 64-bit: a larger number in an indexed field is a
#: schema error of the line, not a crash of the batch.
Int64 = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]


class _AlertHead(msgspec.Struct, gc=False):
    signature_id: Int64 | None = None
    gid: Int64 | None = None
    rev: Int64 | None = None
    signature: str | None = None
    category: str | None = None
    severity: Int64 | None = None


class _FindingHead(msgspec.Struct, gc=False):
    type: str | None = None
    severity: Int64 | None = None


class _FlowHead(msgspec.Struct, gc=False):
    # Stored (their sum, in the ``bytes`` column): 64-bit like the indexed fields.
    bytes_toserver: Int64 = 0
    bytes_toclient: Int64 = 0
    # Read for the traffic rollups, not indexed: any value is accepted here (a record is
    # never refused for them) and checked where it is used.
    pkts_toserver: Any = 0
    pkts_toclient: Any = 0
    start: Any = None
    end: Any = None


class EveHead(msgspec.Struct, gc=False):
    """The fields of an EVE record that the store indexes."""

    timestamp: str
    event_type: str
    src_ip: str | None = None
    dest_ip: str | None = None
    src_port: Int64 | None = None
    dest_port: Int64 | None = None
    proto: str | Int64 | None = None
    flow_id: Int64 | None = None
    community_id: str | None = None
    host: str | None = None
    alert: _AlertHead | None = None
    finding: _FindingHead | None = None
    flow: _FlowHead | None = None
    app_proto: Any = None  # for the rollups, like the flow's packets and times
    in_iface: Any = None


class FlowLine(msgspec.Struct, gc=False):
    """The fields of a flow record the traffic rollups read (fewer than :class:`EveHead`:
    a quarter less decoding, per flow of a busy link)."""

    timestamp: str
    event_type: str
    src_ip: str | None = None
    dest_ip: str | None = None
    dest_port: Int64 | None = None
    proto: str | Int64 | None = None
    flow: _FlowHead | None = None
    app_proto: Any = None
    in_iface: Any = None


_decoder = msgspec.json.Decoder(EveHead)
_flow_decoder = msgspec.json.Decoder(FlowLine)


def decode_head(raw: bytes) -> EveHead:
    """The indexed fields of a line the store holds (it was checked as it was stored:
    readers that need no more skip :func:`decode_line`'s checks and time parsing)."""
    return _decoder.decode(raw)


def decode_flow(raw: bytes) -> FlowLine:
    """What the traffic rollups read of a flow line the store holds (as :func:`decode_head`)."""
    return _flow_decoder.decode(raw)


class EveDecodeError(ValueError):
    """A line is not an EVE record; ``reason`` is short and stable for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class EveRecord(msgspec.Struct, gc=False):
    """One decoded EVE line with its identity in the store.

    A struct, not a dataclass: one is made per line read, and a struct is made in a
    third of the time and is not tracked by the garbage collector (it holds no cycle).
    """

    id: int
    raw: bytes
    head: EveHead
    ts: int  # microseconds since the epoch, UTC
    _data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The whole record, parsed on first use."""
        if self._data is None:
            self._data = orjson.loads(self.raw)
        return self._data

    @property
    def kind(self) -> str:
        """Retention kind: alerts or metadata."""
        return KIND_ALERTS if self.head.event_type in ALERT_TYPES else KIND_METADATA

    @property
    def flow_bytes(self) -> int | None:
        """Bytes in both directions, for flow records."""
        flow = self.head.flow
        if flow is None or self.head.event_type != "flow":
            return None
        return flow.bytes_toserver + flow.bytes_toclient

    @property
    def severity(self) -> int | None:
        """Severity of an alert or a finding (1 = high, as Suricata counts)."""
        head = self.head
        if head.alert is not None:
            return head.alert.severity
        if head.finding is not None:
            return head.finding.severity
        return None


_ts_cache: dict[str, int] = {}  # by second and zone
_minute_cache: dict[str, int] = {}  # by minute and zone


def parse_timestamp(value: str) -> int:
    """EVE timestamp (``2024-05-01T12:00:00.123456+0700``) to UTC microseconds."""
    if (len(value) == 31 and value[26] in "+-" and value[19] == "." and value[16] == ":"
            and value[10] in "T " and value[27:].isdigit() and value.isascii()):  # fmt: skip
        # Suricata's own form, parsed in C (0.5 µs less per record): datetime checks the
        # digits and ranges, but takes other separators and offsets, checked here first.
        # What it refuses goes the long way, which accepts or refuses it as before.
        try:
            return (_from_iso(value) - _EPOCH) // _MICROSECOND
        except ValueError:
            pass
    return _parse_any(value)


_from_iso = datetime.datetime.fromisoformat
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _parse_any(value: str) -> int:
    """:func:`parse_timestamp` of every form it takes (Suricata's, with a ``Z``, without a
    zone or fraction), with the dates and times it has seen cached."""
    try:
        key = value[:19] + value[-5:]
        base = _ts_cache.get(key)
        if base is None:
            base = _second(value)
            if len(_ts_cache) > 100_000:
                _ts_cache.clear()
            _ts_cache[key] = base
        if len(value) > 26 and value[19] == "." and value[26] in "+-Z":
            return base + int(value[20:26])  # Suricata's own form: 6 digits of fraction
        micros = 0
        if len(value) > 20 and value[19] == ".":
            frac = value[20:].split("+")[0].split("-")[0].rstrip("Z")
            micros = int((frac + "000000")[:6])
        return base + micros
    except (ValueError, IndexError) as err:
        raise EveDecodeError("bad-timestamp", repr(value[:64])) from err


def _second(value: str) -> int:
    """The start of the second of ``value`` in UTC, in microseconds: a date and time are
    parsed once per minute (flow starts of a busy link fall in many seconds)."""
    key = value[:16] + value[-5:]
    base = _minute_cache.get(key)
    if base is None:
        base = _parse_minute(value)
        if len(_minute_cache) > 100_000:
            _minute_cache.clear()
        _minute_cache[key] = base
    secs = value[17:19]
    if value[16] != ":" or not (secs.isascii() and secs.isdigit()) or secs > "59":
        raise ValueError("bad seconds")
    return base + int(secs) * 1_000_000


def _parse_minute(value: str) -> int:
    """The start of the minute of ``value`` in UTC, in microseconds (the whole stamp is
    checked, seconds included)."""
    y, mo, d = int(value[0:4]), int(value[5:7]), int(value[8:10])
    h, mi, s = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if value[4] != "-" or value[10] not in "T " or value[13] != ":":
        raise ValueError("not an ISO 8601 timestamp")
    datetime.datetime(y, mo, d, h, mi, s)  # range check: timegm takes February 30
    secs = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))
    tail = value[-5:]
    if tail[0] in "+-" and tail[1:].isdigit():
        offset = int(tail[1:3]) * 3600 + int(tail[3:5]) * 60
        secs -= offset if tail[0] == "+" else -offset
    elif not (value.endswith("Z") or len(value) in (19, 26)):
        raise ValueError("no UTC offset")
    return secs * 1_000_000


def decode_line(raw: bytes, event_id: int) -> EveRecord:
    """Decode one EVE line; raise :class:`EveDecodeError` if it is not an EVE record."""
    try:
        head = _decoder.decode(raw)
    except msgspec.ValidationError as err:
        reason = "not-an-object" if "Expected `object`" in str(err) else "schema"
        raise EveDecodeError(reason, str(err)) from err
    except msgspec.DecodeError as err:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise EveDecodeError("not-utf8", str(err)) from err
        raise EveDecodeError("bad-json", str(err)) from err
    except UnicodeDecodeError as err:  # in a string field msgspec decodes
        raise EveDecodeError("not-utf8", str(err)) from err
    except RecursionError as err:
        raise EveDecodeError("bad-json", "nested too deeply") from err
    if not raw.isascii():
        # msgspec skips the fields it does not index without checking their UTF-8, and the
        # store keeps the raw line, which must stay readable.
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise EveDecodeError("not-utf8", str(err)) from err
    return EveRecord(event_id, raw, head, parse_timestamp(head.timestamp))


#: Packed addresses by their text.
IP_CACHE: dict[str, bytes] = {}


def pack_ip(value: str | None) -> bytes | None:
    """An IP address as 4 or 16 bytes, for compact indexes; None for missing or bad."""
    if value is None:
        return None
    packed = IP_CACHE.get(value)
    if packed is None:
        try:
            family = socket.AF_INET6 if ":" in value else socket.AF_INET
            packed = socket.inet_pton(family, value)
        except OSError:
            return None
        if len(IP_CACHE) > 200_000:
            IP_CACHE.clear()
        IP_CACHE[value] = packed
    return packed


def unpack_ip(value: bytes | None) -> str | None:
    """Inverse of :func:`pack_ip`."""
    if value is None:
        return None
    return socket.inet_ntop(socket.AF_INET6 if len(value) == 16 else socket.AF_INET, value)


def proto_number(value: str | int | None) -> int | None:
    """IP protocol number from EVE's ``proto`` (a name or a number)."""
    if value is None or isinstance(value, int):
        return value
    number = _PROTO_NUMBERS.get(value)
    if number is None:
        number = _PROTO_NUMBERS.get(value.upper())
    if number is None:
        try:
            number = socket.getprotobyname(value.lower())
        except OSError:
            return None
    return number


def community_key(value: str | None) -> int | None:
    """An index key for a Community ID: its first 8 base64 characters as an integer.

    48 bits of the hash are plenty to find a flow's records; the full value stays in the
    raw record, and callers compare it after the index lookup.
    """
    if not value or len(value) < 10 or not value.startswith("1:"):
        return None
    return int.from_bytes(value[2:10].encode("ascii", "replace"), "big")


def make_finding(
    *,
    type: str,
    category: str,
    severity: int,
    confidence: float,
    timestamp: str,
    src_ip: str | None,
    dest_ip: str | None,
    explanation: dict[str, str],
    evidence: dict[str, Any],
    **extra: Any,
) -> bytes:
    """An EVE-shaped finding record, serialized, ready for the sink."""
    record: dict[str, Any] = {
        "timestamp": timestamp,
        "event_type": "finding",
        "src_ip": src_ip,
        "dest_ip": dest_ip,
        **extra,
        "finding": {
            "type": type,
            "category": category,
            "severity": severity,
            "confidence": round(confidence, 3),
            "explanation": explanation,
            "evidence": evidence,
        },
    }
    return orjson.dumps(record)
