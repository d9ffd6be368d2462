"""Traffic rollups: bytes, packets and flows per minute from flow and stats records.

A :class:`Rollup` adds records to the rollups inside a write transaction of the store; a
:class:`~appliance.traffic.follow.RollupFollower` feeds it the records of each new chunk,
with its cursor in the same transaction, so every record is counted exactly once, off
the ingest's path. A batch is first summed per minute and flow key in Python
(:mod:`.aggregate`; one row per minute and key, never one per flow), then per dimension,
and each dimension's rows are upserted. A flow's bytes and packets are spread over the
minutes it spans; the flow itself counts in the minute it started. Minutes older than a
fold watermark (late flows, old captures) are added to the hours and days too, so every
resolution keeps exact totals.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.events import EveRecord, pack_ip
from appliance.store.turns import write_transaction
from appliance.traffic.aggregate import Compound
from appliance.traffic.capture import add_stats
from appliance.traffic.fold import (
    fold_late,
    maintain,
    watermarks,
    write_minutes,
)
from appliance.traffic.geo import GeoDatabase, Place, shared_database
from appliance.traffic.settings import (
    OTHER_HOSTS,
    RollupSettings,
    load_settings,
)
from appliance.traffic.sql import SEEN_UPSERT

logger = logging.getLogger(__name__)

#: How often (wall clock) the rollups also fold and expire buckets, and read their settings.
MAINTAIN_SECONDS = 60.0
#: Late rows appended before they are folded sooner than that (an old capture being read:
#: a small late table keeps the views' reads of it cheap and the file from growing).
LATE_FOLD_ROWS = 50_000
#: Host pairs with rows of their own remembered, over all minutes (the oldest minutes are
#: forgotten first; about 25 MB).
PAIRS_KEPT = 200_000


class Rollup:
    """Rolls batches up into one store; holds the settings and caches of its process."""

    def __init__(self, conn: sqlite3.Connection, geo: GeoDatabase | None = None) -> None:
        self._conn = conn
        self._geo = geo
        self._last_maintain = 0.0
        self._late = 0  # late rows appended since the last fold
        self._where: dict[str, tuple[bytes | None, bool, Place | None]] = {}
        self._nets: list[tuple[int, int, int]] = []
        #: Host pairs given conversation rows of their own, per minute (see _admit).
        self._pairs: dict[int, set[tuple[bytes, bytes]]] = {}
        self._pairs_kept = 0
        #: Minutes after this one had no conversation rows but this rollup's (None: not read).
        self._known: int | None = None
        self.settings = RollupSettings()
        self.reload(conn, force=True)

    def reload(self, conn: sqlite3.Connection, *, force: bool = False) -> None:
        """Read the settings again (another process may have written them)."""
        settings = load_settings(conn)
        if force or settings != self.settings:
            self.settings = settings
            self._nets = []
            for net in settings.networks():
                size = 32 if isinstance(net, ipaddress.IPv4Network) else 128
                self._nets.append((size, int(net.network_address), int(net.netmask)))
            self._where.clear()

    def _locate(self, ip: str) -> tuple[bytes | None, bool, Place | None]:
        """Packed address, whether it is inside HOME_NET (integer masks), and for an
        outside one its country and AS when those are on (cached)."""
        found = self._where.get(ip)
        if found is None:
            packed = pack_ip(ip) if ip else None
            inside = False
            place = None
            if packed is not None:
                n, bits = int.from_bytes(packed, "big"), len(packed) * 8
                inside = self._inside(n, bits)
                geo = self._geo if self._geo is not None else (
                    shared_database() if self.settings.geo else None)  # fmt: skip
                if not inside and geo is not None:
                    # Uncached there: this cache holds it (a flood's sources are all new).
                    place = geo.place(n, bits)
            found = (packed, inside, place)
            if len(self._where) > 200_000:
                self._where.clear()
            self._where[ip] = found
        return found

    def due(self, conn: sqlite3.Connection) -> bool:
        """Whether a minute has passed since the last fold; if so, read the settings again
        (another process may have changed them) before the next records are summed."""
        if time.monotonic() - self._last_maintain < MAINTAIN_SECONDS:
            return False
        self.reload(conn)
        return True

    def add(self, conn: sqlite3.Connection, sensor_id: int, flows: Summed | None,
            stats: Sequence[EveRecord] = ()) -> None:  # fmt: skip
        """Add a sensor's ``flows`` (summed by :meth:`sum_flows`, outside the transaction)
        and ``stats`` records to the rollups, in the store's open transaction."""
        if not self.settings.enabled:
            return
        if flows is not None:
            self._late += self.add_flows(conn, flows, sensor_id)
        if stats:
            add_stats(conn, stats, sensor_id, self.settings)

    def tend(self, conn: sqlite3.Connection, due: bool) -> None:
        """After adding (in the same transaction): fold and expire when ``due``
        (:meth:`due`), or fold the late rows sooner when many have piled up."""
        if due:
            self._last_maintain, self._late = time.monotonic(), 0
            if self.settings.enabled:
                maintain(conn, self.settings)
        elif self._late >= LATE_FOLD_ROWS:
            self._late = 0
            fold_late(conn, self.settings, watermarks(conn))

    def fold_late(self, conn: sqlite3.Connection) -> None:
        """Fold the late rows appended since the last fold into the hours and days now, in
        a transaction of its own (when a follower finishes: the hours and days need not
        read them). Folding complete hours and expiring old rows stay with the periodic
        maintenance (:meth:`due`: ``spanwatch core`` every minute, a follower's first
        round), which a finishing ``spanwatch ingest`` or ``analyze`` does not wait for.
        A failure leaves the late rows to the next fold; the queries read late rows
        meanwhile, so no total is wrong."""
        if not self._late or not self.settings.enabled:
            return
        try:
            with write_transaction(conn):
                fold_late(conn, self.settings, watermarks(conn))
        except sqlite3.Error as err:
            logger.warning("Traffic rollups: the late rows stay for the next fold: %s", err)
            return
        self._late = 0

    def add_flows(self, conn: sqlite3.Connection, flows: Compound | Summed, sensor_id: int,
                   *, unroll: bool = False) -> int:  # fmt: skip
        """Sum the compound rows per dimension (unless summed already), upsert each one;
        return the number of late rows appended. With ``unroll`` (negated sums of flows
        counted before), each pair is taken from the row that counted it, its own or its
        inside host's with other hosts, and no first contact is recorded."""
        if isinstance(flows, Summed):
            summed = flows
        else:
            summed = self.sum_flows(flows, capped=not unroll)
        if unroll:
            self._counted_rows(conn, summed.dims["traffic_conv"])
        dims = dict(summed.dims)
        dims["traffic_iface"] = {(minute, sensor_id, iface): sums
                                 for (minute, iface), sums in summed.iface.items()}  # fmt: skip
        late = write_minutes(conn, dims, self.settings)
        if summed.seen and not unroll:
            conn.executemany(SEEN_UPSERT, [(bytearray(h), kind, key, v)
                                           for (h, kind, key), v in summed.seen.items()])
        return late

    def sum_flows(self, flows: Compound, *, capped: bool = True) -> Summed:
        """The compound rows summed per dimension, outside the write transaction (in the
        thread of the connection the rollup was made with).

        Per minute, the first ``conversations_per_minute`` host pairs get conversation rows
        of their own; a later new pair (``capped``) is counted with its inside host and
        other hosts (:meth:`_admit`).
        """
        locate, where = self._locate, self._where
        admit = self._admit if capped else None
        served: dict[tuple[bytes, int, int], int] = {}
        remote: dict[tuple[bytes, str, str], int] = {}
        iface_d: Sums = {}
        app_d: Sums = {}
        service_d: Sums = {}
        conv_d: Sums = {}
        host_d: Sums = {}
        cc_d: Sums = {}
        asn_d: Sums = {}
        for (minute, iface, app, proto, port, src, dest), (bts, btc, pts, ptc, n) in flows.items():
            b, p = bts + btc, pts + ptc
            key: tuple[Any, ...] = (minute, iface)
            sums = iface_d.get(key)
            if sums is None:
                iface_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            key = (minute, app)
            sums = app_d.get(key)
            if sums is None:
                app_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            key = (minute, proto, port)
            sums = service_d.get(key)
            if sums is None:
                service_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            src_b, src_in, src_place = where.get(src) or locate(src)
            dest_b, dest_in, dest_place = where.get(dest) or locate(dest)
            if src_b is None or dest_b is None:
                continue
            key = (minute, src_b, dest_b)
            sums = conv_d.get(key)
            if sums is None and admit is not None:
                past = admit(minute, src_b, dest_b, src_in, dest_in)
                if past is not None:
                    key = past
                    sums = conv_d.get(key)
            if sums is None:
                conv_d[key] = [b, p, n]
            else:
                sums[0] += b
                sums[1] += p
                sums[2] += n
            if src_in:
                key = (minute, src_b)
                sums = host_d.get(key)
                if sums is None:
                    host_d[key] = [bts, btc, pts, ptc, n, 0]
                else:
                    sums[0] += bts
                    sums[1] += btc
                    sums[2] += pts
                    sums[3] += ptc
                    sums[4] += n
            if dest_in:
                key = (minute, dest_b)
                sums = host_d.get(key)
                if sums is None:
                    host_d[key] = [btc, bts, ptc, pts, 0, n]
                else:
                    sums[0] += btc
                    sums[1] += bts
                    sums[2] += ptc
                    sums[3] += pts
                    sums[5] += n
                if btc > 0 and port >= 0:
                    skey = (dest_b, proto, port)
                    if minute < served.get(skey, minute + 1):
                        served[skey] = minute
            if src_in == dest_in:
                continue
            inner, place = (src_b, dest_place) if src_in else (dest_b, src_place)
            if place is None:  # countries and AS are off
                continue
            for table, key in ((cc_d, (minute, place.country)), (asn_d, (minute, place.asn))):
                sums = table.get(key)
                if sums is None:
                    table[key] = [b, p, n]
                else:
                    sums[0] += b
                    sums[1] += p
                    sums[2] += n
            rkey = (inner, place.country, place.asn)
            if minute < remote.get(rkey, minute + 1):
                remote[rkey] = minute
        seen = _first_contacts(host_d, served, remote)
        dims = {"traffic_app": app_d, "traffic_service": service_d, "traffic_conv": conv_d,
                "traffic_host": host_d, "traffic_country": cc_d, "traffic_asn": asn_d}
        return Summed(iface_d, dims, seen)

    def _admit(self, minute: int, src: bytes, dest: bytes, src_in: bool, dest_in: bool
               ) -> tuple[int, bytes, bytes] | None:  # fmt: skip
        """None if the pair keeps a conversation row of its own in ``minute``; past the
        minute's number of pairs, the key it counts under instead: its inside host (the
        source first: a scanner) with other hosts, or other hosts on both sides.

        A flood with spoofed sources or a scan makes every flow a new pair: their rows
        would outnumber the flows.
        """
        pairs = self._pairs.get(minute)
        if pairs is None:
            pairs = self._minute_pairs(minute)
        pair = (src, dest)
        if pair in pairs:
            return None
        if len(pairs) < self.settings.conversations_per_minute:
            pairs.add(pair)
            self._pairs_kept += 1
            return None
        return _with_other_hosts(minute, src, dest, src_in, dest_in)

    def _minute_pairs(self, minute: int) -> set[tuple[bytes, bytes]]:
        """The pairs with rows of their own in ``minute``, remembered from now on.

        A minute newer than every conversation row when this rollup first looked (live
        traffic: every new minute) has only the rows it gives; an older one (an old
        capture, rows from before a restart) is read from the store. The oldest minutes
        are forgotten past :data:`PAIRS_KEPT` pairs, and read again if they come up (a
        minute forgotten before its round is written reads fewer back: it may then admit
        up to twice its number). Followers that write the same minute at once each admit
        up to its number.
        """
        if self._known is None:
            row = self._conn.execute("SELECT max(bucket) FROM traffic_conv WHERE res = 0")
            newest = row.fetchone()[0]
            self._known = -1 if newest is None else int(newest)
        pairs: set[tuple[bytes, bytes]] = set()
        if minute <= self._known:
            pairs.update(self._conn.execute(
                "SELECT src, dest FROM traffic_conv WHERE res = 0 AND bucket = ? "
                "AND src != ?2 AND dest != ?2", (minute, OTHER_HOSTS)))  # fmt: skip
        while self._pairs and self._pairs_kept + len(pairs) > PAIRS_KEPT:
            oldest = min(self._pairs)
            self._pairs_kept -= len(self._pairs.pop(oldest))
            self._known = max(self._known, oldest)
        self._pairs_kept += len(pairs)
        self._pairs[minute] = pairs
        return pairs

    def _counted_rows(self, conn: sqlite3.Connection, conv: Sums) -> None:
        """Move each pair of ``conv`` to the minute row that counted it: its own, or else
        (past the minute's number of pairs) its inside host's with other hosts."""
        for key in list(conv):
            minute, src, dest = key
            if _has_row(conn, minute, src, dest):
                continue
            other = _with_other_hosts(
                minute, src, dest, self._inside(int.from_bytes(src, "big"), len(src) * 8),
                self._inside(int.from_bytes(dest, "big"), len(dest) * 8))  # fmt: skip
            if _has_row(conn, *other):
                sums = conv.pop(key)
                have = conv.setdefault(other, [0] * len(sums))
                for i, v in enumerate(sums):
                    have[i] += v

    def _inside(self, n: int, bits: int) -> bool:
        """Whether an address (an integer of ``bits`` bits) is inside HOME_NET."""
        for size, net, mask in self._nets:
            if size == bits and n & mask == net:
                return True
        return False


Sums = dict[tuple[Any, ...], list[int]]


def _with_other_hosts(minute: int, src: bytes, dest: bytes, src_in: bool, dest_in: bool
                      ) -> tuple[int, bytes, bytes]:  # fmt: skip
    """The conversation key a pair past its minute's number counts under: its inside host
    (the source first: a scanner) with other hosts, or other hosts on both sides."""
    if src_in:
        return (minute, src, OTHER_HOSTS)
    if dest_in:
        return (minute, OTHER_HOSTS, dest)
    return (minute, OTHER_HOSTS, OTHER_HOSTS)


def _has_row(conn: sqlite3.Connection, minute: int, src: bytes, dest: bytes) -> bool:
    return conn.execute("SELECT 1 FROM traffic_conv WHERE res = 0 AND bucket = ? AND src = ? "
                        "AND dest = ?", (minute, src, dest)).fetchone() is not None


@dataclass
class Summed:
    """A batch's flows summed per dimension; ``iface`` is keyed (minute, iface), the sensor
    id is added when written."""

    iface: Sums
    dims: dict[str, Sums]
    seen: dict[tuple[bytes, str, str], int]


def _first_contacts(hosts: Sums, served: dict[tuple[bytes, int, int], int],
                    remote: dict[tuple[bytes, str, str], int]
                    ) -> dict[tuple[bytes, str, str], int]:  # fmt: skip
    """{(host, kind, key): earliest minute} of the batch's hosts, served ports and places."""
    seen: dict[tuple[bytes, str, str], int] = {}
    for minute, ip in hosts:
        key = (ip, "host", "")
        if minute < seen.get(key, minute + 1):
            seen[key] = minute
    for (ip, proto, port), minute in served.items():
        seen[(ip, "port", f"{proto}/{port}")] = minute
    for (ip, country, asn), minute in remote.items():
        key = (ip, "cc", country)
        if minute < seen.get(key, minute + 1):
            seen[key] = minute
        if asn:
            key = (ip, "as", asn)
            if minute < seen.get(key, minute + 1):
                seen[key] = minute
    return seen
