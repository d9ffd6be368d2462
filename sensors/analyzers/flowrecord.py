"""Suricata ``flow`` records as the flow analyzers need them, and how a connection attempt ended.

Only the fields the analyzers use are decoded (msgspec skips the rest), which costs about
a microsecond a record instead of a full JSON parse.

A flow record's own ``timestamp`` is when Suricata logged it; reading a capture, Suricata 7
stamps every flow with the capture's first second and flushes most flows at shutdown in
hash order. Event time is therefore the flow's ``start`` (and ``end``), and the analyzers
must accept flows in any order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from operator import attrgetter, is_

import msgspec

from appliance.events import EveDecodeError, EveRecord, parse_timestamp

logger = logging.getLogger(__name__)

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
#: ICMP echo request types (ICMPv4, ICMPv6): the probes of a ping sweep.
ECHO_REQUESTS = frozenset({8, 128})
ICMP_PROTOS = frozenset({"ICMP", "IPv6-ICMP", "IPV6-ICMP"})


class FlowCounters(msgspec.Struct, gc=False):
    """The ``flow`` object of a flow record."""

    pkts_toserver: int = 0
    pkts_toclient: int = 0
    bytes_toserver: int = 0
    bytes_toclient: int = 0
    start: str = ""
    end: str = ""
    state: str = ""


class TcpFlags(msgspec.Struct, gc=False):
    """The ``tcp`` object of a flow record: flags seen from each side, in hex."""

    tcp_flags_ts: str = ""
    tcp_flags_tc: str = ""


class FlowRecord(msgspec.Struct, gc=False):
    """One ended flow: endpoints as Suricata oriented them (src = the side that began).

    Decoded straight from the line (no per-record Python construction) and untracked by
    the garbage collector; times and flags are converted on first use.
    """

    src_ip: str = ""
    dest_ip: str = ""
    src_port: int = 0
    dest_port: int = 0
    proto: str = ""  # a number here fails the decode: no analyzer wants such flows
    flow_id: int | None = None
    community_id: str | None = None
    icmp_type: int | None = None
    counts: FlowCounters = msgspec.field(default_factory=FlowCounters, name="flow")
    tcp: TcpFlags | None = None
    # Not in EVE (a JSON key this name would be overwritten): computed once at decode.
    start_cache: int = -1  # the flow's start in microseconds
    fts: int = 0  # TCP flags the source sent, as a number
    ftc: int = 0  # TCP flags the destination sent

    @property
    def start_us(self) -> int:
        """When the flow began, in microseconds since the epoch (event time)."""
        if self.start_cache < 0:
            self.start_cache = parse_timestamp(self.counts.start)
        return self.start_cache

    @property
    def end_us(self) -> int:
        """When the flow's last packet was seen, in microseconds since the epoch."""
        end = self.counts.end
        return max(parse_timestamp(end), self.start_us) if end else self.start_us

    @property
    def end(self) -> str:
        """EVE timestamp string of the flow's last packet."""
        return self.counts.end or self.counts.start

    @property
    def flags_ts(self) -> int:
        return self.fts

    @property
    def flags_tc(self) -> int:
        return self.ftc


_decoder = msgspec.json.Decoder(FlowRecord)
#: Flows decoded recently, by record id: the flow analyzers see the same batch in turn.
_recent: dict[int, tuple[bytes, FlowRecord | None]] = {}
_RECENT_LIMIT = 16_384


def decode_flow(record: EveRecord) -> FlowRecord | None:
    """The flow record's fields, or None when it lacks addresses, protocol or start."""
    cached = _recent.get(record.id)
    if cached is not None and cached[0] is record.raw:
        return cached[1]
    flow = _decode(record)
    if len(_recent) >= _RECENT_LIMIT:
        _recent.clear()
    _recent[record.id] = (record.raw, flow)
    return flow


def _decode(record: EveRecord) -> FlowRecord | None:
    try:
        flow = _decoder.decode(record.raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        logger.debug("Flow record with unexpected fields: id=%d.", record.id)
        return None
    if not (flow.src_ip and flow.dest_ip and flow.proto and flow.counts.start):
        return None
    try:
        flow.start_cache = parse_timestamp(flow.counts.start)
    except EveDecodeError:
        return None
    tcp = flow.tcp
    if tcp is None:
        flow.fts = flow.ftc = 0
    else:
        flow.fts, flow.ftc = _flags(tcp.tcp_flags_ts), _flags(tcp.tcp_flags_tc)
    return flow


class FlowBatch:
    """A batch's usable flows, decoded once for every flow analyzer that sees the batch."""

    __slots__ = ("records", "flows", "owners", "clock")

    def __init__(self, records: Sequence[EveRecord]) -> None:
        self.records = tuple(records)
        self.flows: list[FlowRecord] = []
        self.owners: list[EveRecord] = []  # the record of each flow
        flows, owners = self.flows, self.owners
        for record in self.records:
            flow = _decode(record)
            if flow is not None:
                flows.append(flow)
                owners.append(record)
        #: The log clock: the latest record timestamp (when Suricata wrote it).
        self.clock = max(map(_ts_of, records), default=0)


_ts_of = attrgetter("ts")
_last_batch: FlowBatch | None = None


def flow_batch(records: Sequence[EveRecord]) -> FlowBatch:
    """The batch's usable flows in order (see :func:`decode_flow`), and its log clock.

    The analyzers get the same batch in turn, so the last one is kept: a batch of the very
    same records (by identity) is decoded once.
    """
    global _last_batch
    last = _last_batch
    if (
        last is not None
        and len(last.records) == len(records)
        and all(map(is_, last.records, records))
    ):
        return last
    _last_batch = batch = FlowBatch(records)
    return batch


def attempt_failed(flow: FlowRecord) -> bool | None:
    """Whether the source's connection attempt failed; None when the flow is no attempt.

    Failed means no service answered: a TCP handshake never completed or was refused or
    reset before any exchange, a UDP datagram got no UDP answer (an ICMP error counts as
    none: Suricata adds it to the flow but keeps the state ``new``), an echo request got
    no reply. Flows the source sent nothing in (backscatter, answers to spoofed packets)
    are not attempts of the source.
    """
    counts = flow.counts
    if counts.pkts_toserver == 0:
        return None
    proto = flow.proto
    if proto == "TCP":
        return _tcp_failed(flow.fts, flow.ftc, counts)
    if proto == "UDP":
        return counts.state == "new"
    if proto in ICMP_PROTOS and flow.icmp_type in ECHO_REQUESTS:
        return counts.state == "new"
    return None


def _tcp_failed(ts: int, tc: int, counts: FlowCounters) -> bool | None:
    if ts & SYN:
        # A completed handshake that carried an exchange: the server answered more than
        # its SYN/ACK. A connect() scan completes the handshake and resets at once.
        answered = ts & ACK and tc & ACK and counts.pkts_toclient >= 2 and counts.pkts_toserver >= 2
        return not answered
    if ts & ACK:
        # Picked up mid-stream, or an ACK probe that the target reset.
        if tc & RST and counts.pkts_toserver <= 2 and counts.pkts_toclient <= 2:
            return True
        return False if counts.pkts_toclient >= 2 else None
    # Neither SYN nor ACK: Suricata tracks no TCP session (flags 00). Only a NULL, FIN or
    # Xmas probe draws an answer (a RST from a closed port); a stray RST draws none.
    return True if counts.pkts_toclient else None


#: Suricata's hex flag strings ("1b") as numbers.
_FLAG_VALUES = {f"{n:02x}": n for n in range(256)}


def _flags(value: str) -> int:
    flags = _FLAG_VALUES.get(value)
    if flags is None:
        try:
            return int(value, 16) if value else 0
        except ValueError:
            return 0
    return flags
