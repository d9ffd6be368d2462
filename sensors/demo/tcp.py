"""A TCP connection builder: handshake, data with correct seq/ack, FIN or RST teardown.

Timing follows a capture point near one end: each side has a round-trip time from the
SPAN port, so a packet that answers the other side is seen one round trip (plus a
little processing) after the packet it answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sensors.demo import network, wire
from sensors.demo.network import Frame, IpIdCounter

MSS = 1460
BURST_SEGMENTS = 10


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection and its round-trip time from the capture point."""

    ip: str
    port: int
    rtt_us: int


class TcpConnection:
    """Builds the frames of one TCP connection in time order."""

    def __init__(
        self,
        client: Endpoint,
        server: Endpoint,
        start_us: int,
        rng: random.Random,
        ids: IpIdCounter,
    ) -> None:
        self.ends = (client, server)
        self.now = start_us
        self.rng = rng
        self.ids = ids
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.windows = (1026, 502)
        self.last_sender = 1
        self._frames: list[Frame] = []

    @property
    def frames(self) -> list[Frame]:
        """All frames so far, sorted by capture time (acks can trail the data they ack)."""
        return sorted(self._frames, key=lambda frame: frame[0])

    def _emit(
        self,
        side: int,
        when: int,
        flags: int,
        payload: bytes = b"",
        *,
        window: int | None = None,
        options: bytes = b"",
    ) -> None:
        src, dst = self.ends[side], self.ends[1 - side]
        segment = wire.tcp(
            src.ip,
            dst.ip,
            (src.port, dst.port),
            self.seq[side],
            self.seq[1 - side],
            flags,
            window=window or self.windows[side],
            payload=payload,
            options=options,
        )
        frame = network.ip_frame(src.ip, dst.ip, wire.PROTO_TCP, segment, self.ids.take(src.ip))
        self._frames.append((when, frame))
        self.seq[side] = self.seq[side] + len(payload) + bool(flags & (wire.SYN | wire.FIN))
        self.seq[side] &= 0xFFFFFFFF

    def _react(self, side: int, wait_us: int) -> int:
        """Advance the clock to when side sends next, one round trip after the other side."""
        if side != self.last_sender:
            self.now += self.ends[side].rtt_us + self.rng.randint(40, 250)
        self.now += wait_us
        self.last_sender = side
        return self.now

    def handshake(self) -> None:
        """Emit SYN, SYN/ACK and ACK."""
        self._emit(0, self.now, wire.SYN, window=64240, options=wire.tcp_syn_options(wscale=8))
        self.last_sender = 0
        syn_ack = wire.SYN | wire.ACK
        options = wire.tcp_syn_options(wscale=7)
        self._emit(1, self._react(1, 0), syn_ack, window=65160, options=options)
        self._emit(0, self._react(0, 0), wire.ACK)

    def send(self, from_client: bool, data: bytes, *, wait_us: int = 0) -> None:
        """Send data from one side in MSS segments; the receiver acks every second one."""
        side = 0 if from_client else 1
        receiver = self.ends[1 - side]
        when = self._react(side, wait_us)
        chunks = [data[i : i + MSS] for i in range(0, len(data), MSS)]
        for index, chunk in enumerate(chunks):
            is_last = index == len(chunks) - 1
            self._emit(side, when, wire.ACK | (wire.PSH if is_last else 0), chunk)
            if index % 2 == 1 or (is_last and len(chunks) > 1):
                ack_at = when + receiver.rtt_us + self.rng.randint(30, 200)
                self._emit(1 - side, ack_at, wire.ACK)
            when += self.rng.randint(20, 150)
            if index % BURST_SEGMENTS == BURST_SEGMENTS - 1:
                when += self.ends[side].rtt_us + receiver.rtt_us
        self.now = when

    def close(self, from_client: bool = True, *, wait_us: int = 0) -> None:
        """Emit FIN/ACK from one side, FIN/ACK from the other, and the last ACK."""
        side = 0 if from_client else 1
        self._emit(side, self._react(side, wait_us), wire.FIN | wire.ACK)
        self._emit(1 - side, self._react(1 - side, 0), wire.FIN | wire.ACK)
        self._emit(side, self._react(side, 0), wire.ACK)

    def reset(self, from_client: bool = True, *, wait_us: int = 0) -> None:
        """Abort the connection with RST/ACK from one side."""
        side = 0 if from_client else 1
        self._emit(side, self._react(side, wait_us), wire.RST | wire.ACK)


def connect(
    client: Endpoint,
    server: Endpoint,
    start_us: int,
    rng: random.Random,
    ids: IpIdCounter,
) -> TcpConnection:
    """Return a connection whose three-way handshake starts at start_us."""
    connection = TcpConnection(client, server, start_us, rng, ids)
    connection.handshake()
    return connection
