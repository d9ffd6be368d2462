"""The per-flow step of the rollup: a batch's flow records summed per minute and key.

Pure and settings-free. The hot loop of the rollup: the flow's fields come from the
record's head (the indexed fields), a cached minute for the flow's start, and one
dictionary update per flow (more only for flows that cross a minute).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from appliance.events import EveHead, FlowLine, parse_timestamp, proto_number
from appliance.traffic.settings import DAY, MINUTE

#: Packet counts beyond this are no real flow's (the rollups' columns are 64-bit).
_MAX = 1 << 48
#: A flow longer than this is spread over its last week only (the sums stay exact).
MAX_SPAN = 7 * DAY


_PROTOS: dict[str, int] = {"TCP": 6, "UDP": 17, "ICMP": 1, "IPv6-ICMP": 58, "IPV6-ICMP": 58,
                           "SCTP": 132, "GRE": 47}
#: (key, flows) per flow record: key = (minute, iface, app, proto, port, src, dest);
#: sums = [bytes to server, bytes to client, packets to server, packets to client, flows].
Compound = dict[tuple[Any, ...], list[int]]


def spread(start: int, end: int, values: Sequence[int]) -> list[tuple[int, list[int]]]:
    """``values`` shared over the minutes from ``start`` to ``end`` (µs), exactly.

    Each minute gets the share of the time the flow spent in it; shares are differences of
    rounded-down cumulative amounts, so they are integers that add up to ``values``.
    The definition: :func:`compound` does the same arithmetic in place (``_spread_into``),
    and a test holds the two equal.
    """
    if end - start > MAX_SPAN:
        start = end - MAX_SPAN
    first = start - start % MINUTE
    if end <= start:
        return [(end - end % MINUTE, list(values))]
    last = (end - 1) - (end - 1) % MINUTE  # a flow ending at 12:10:00.000 ends in 12:09
    if last <= first:
        return [(first, list(values))]
    total = end - start
    out = []
    given = [0] * len(values)
    minute = first
    while minute <= last:
        elapsed = min(end, minute + MINUTE) - start
        shares = []
        for i, v in enumerate(values):
            upto = v * elapsed // total
            shares.append(upto - given[i])
            given[i] = upto
        out.append((minute, shares))
        minute += MINUTE
    return out


_minutes: dict[str, int] = {}


def _minute(stamp: str) -> int:
    """Start of the minute of an EVE timestamp (cached by its minute and zone)."""
    key = stamp[:16] + stamp[-5:]
    found = _minutes.get(key)
    if found is None:
        ts = parse_timestamp(stamp)
        found = ts - ts % MINUTE
        if len(_minutes) > 50_000:
            _minutes.clear()
        _minutes[key] = found
    return found


def compound(heads: Iterable[EveHead | FlowLine]) -> Compound:
    """The flow records among ``heads`` summed per (minute, iface, app, proto, port, src,
    dest); other records (alerts carry a ``flow`` object too) are passed over."""
    out: Compound = {}
    get = out.get
    for head in heads:
        detail = head.flow
        if detail is None or head.event_type != "flow":
            continue
        pts, ptc = detail.pkts_toserver, detail.pkts_toclient
        if type(pts) is not int or type(ptc) is not int or not 0 <= pts <= _MAX >= ptc >= 0:
            continue  # the event is stored all the same; it just cannot be counted here
        # Strings only (EVE from any producer may carry anything); inlined: the hot loop.
        app, iface = head.app_proto, head.in_iface
        if type(app) is not str:
            app = None
        if type(iface) is not str:
            iface = None
        name = head.proto
        if isinstance(name, int):
            proto = name
        elif name is None:
            proto = 0
        else:
            found = _PROTOS.get(name)
            proto = found if found is not None else (proto_number(name) or 0)
        port = head.dest_port
        start_s, end_s = detail.start, detail.end
        if type(start_s) is not str:
            start_s = None
        if type(end_s) is not str:
            end_s = None
        span: tuple[int, int] | None = None
        try:
            minute = _minute(start_s if start_s is not None else head.timestamp)
            if end_s is not None and start_s is not None and (end_s[:16] != start_s[:16]
                                                              or end_s[-5:] != start_s[-5:]):
                span = parse_timestamp(start_s), parse_timestamp(end_s)
        except ValueError:  # a malformed start or end: the flow counts in its record's minute
            minute, span = _minute(head.timestamp), None
        if span is None:
            key = (minute, iface or "", app or "unknown", proto, -1 if port is None else port,
                   head.src_ip or "", head.dest_ip or "")  # fmt: skip
            sums = get(key)
            if sums is None:
                out[key] = [detail.bytes_toserver, detail.bytes_toclient, pts, ptc, 1]
            else:
                sums[0] += detail.bytes_toserver
                sums[1] += detail.bytes_toclient
                sums[2] += pts
                sums[3] += ptc
                sums[4] += 1
            continue
        base = (iface or "", app or "unknown", proto, -1 if port is None else port,
                head.src_ip or "", head.dest_ip or "")  # fmt: skip
        _spread_into(out, base, span[0], span[1], detail.bytes_toserver,
                     detail.bytes_toclient, pts, ptc)  # fmt: skip
    return out


def _spread_into(out: Compound, base: tuple[Any, ...], start: int, end: int, bts: int,
                 btc: int, pts: int, ptc: int) -> None:  # fmt: skip
    """:func:`spread` of a flow's four sums, added to ``out`` under ``(minute, *base)``; the
    flow counts in its first minute. The same arithmetic without a list per minute: a
    long flow of a busy link spans hundreds of minutes."""
    if end - start > MAX_SPAN:
        start = end - MAX_SPAN
    if end <= start:
        minute = last = end - end % MINUTE
    else:
        minute = start - start % MINUTE
        last = max(minute, (end - 1) - (end - 1) % MINUTE)
    total = end - start
    g0 = g1 = g2 = g3 = 0
    first = True
    get = out.get
    while minute <= last:
        if minute == last:  # the rest: exact, whatever the rounding before
            u0, u1, u2, u3 = bts, btc, pts, ptc
        else:
            elapsed = minute + MINUTE - start
            u0, u1 = bts * elapsed // total, btc * elapsed // total
            u2, u3 = pts * elapsed // total, ptc * elapsed // total
        key = (minute, *base)
        sums = get(key)
        if sums is None:
            out[key] = [u0 - g0, u1 - g1, u2 - g2, u3 - g3, 1 if first else 0]
        else:
            sums[0] += u0 - g0
            sums[1] += u1 - g1
            sums[2] += u2 - g2
            sums[3] += u3 - g3
            if first:
                sums[4] += 1
        g0, g1, g2, g3 = u0, u1, u2, u3
        first = False
        minute += MINUTE
