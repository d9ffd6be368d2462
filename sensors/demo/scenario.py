"""What a scenario is, the context it builds in, and the exchanges several scenarios share."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sensors.demo import dns, http, network, tls
from sensors.demo.network import Frame, IpIdCounter, PortAllocator, Session
from sensors.demo.tcp import Endpoint, TcpConnection, connect

RESOLVER = network.server("ns1").ip
FORWARDER = "198.51.100.53"
SECOND_US = 1_000_000


@dataclass
class Context:
    """The random stream, clock window and per-host counters one scenario builds with."""

    rng: random.Random
    start_us: int
    end_us: int
    ports: PortAllocator
    ids: IpIdCounter = field(init=False)

    def __post_init__(self) -> None:
        self.ids = IpIdCounter(self.rng)

    @property
    def span_us(self) -> int:
        """Length of the capture window."""
        return self.end_us - self.start_us

    def at(self, fraction: float) -> int:
        """Return the time a given fraction into the capture window."""
        return self.start_us + int(self.span_us * fraction)

    def arrivals(self, mean_gap_s: float, *, until_us: int | None = None) -> Iterator[int]:
        """Yield Poisson arrival times with the given mean gap across the window."""
        limit = self.end_us if until_us is None else until_us
        when = self.start_us + int(self.rng.expovariate(1 / mean_gap_s) * SECOND_US)
        while when < limit:
            yield when
            when += int(self.rng.expovariate(1 / mean_gap_s) * SECOND_US) + 1

    def lan(self, ip: str, port: int | None = None) -> Endpoint:
        """Return an inside endpoint a fraction of a millisecond from the SPAN port."""
        chosen = self.ports.take(ip) if port is None else port
        return Endpoint(ip, chosen, self.rng.randint(150, 600))

    def wan(self, ip: str, port: int | None = None) -> Endpoint:
        """Return an internet endpoint 15 to 80 ms away."""
        chosen = self.ports.take(ip) if port is None else port
        return Endpoint(ip, chosen, self.rng.randint(15_000, 80_000))


@dataclass(frozen=True)
class Scenario:
    """One strand of the demo traffic and what a detector should make of it."""

    name: str
    is_attack: bool
    attacker: str
    victim: str
    indicators: tuple[str, ...]
    build: Callable[[Context], Iterator[Session]]


def udp_exchange(
    ctx: Context,
    client: tuple[str, int],
    server: tuple[str, int],
    payloads: tuple[bytes, bytes],
    when_us: int,
    rtt_us: int,
) -> list[Frame]:
    """Return a request datagram at when_us and its answer rtt_us later."""
    ask = network.udp_frame(*client, *server, payloads[0], ctx.ids.take(client[0]))
    reply = network.udp_frame(*server, *client, payloads[1], ctx.ids.take(server[0]))
    return [(when_us, ask), (when_us + rtt_us, reply)]


def dns_lookup(
    ctx: Context,
    client: str,
    name: str,
    answer_ip: str | None,
    when_us: int,
    *,
    miss_rate: float = 0.3,
) -> list[Frame]:
    """Return an A lookup through the inside resolver, forwarded upstream on a cache miss."""
    ident = ctx.rng.getrandbits(16)
    records = [dns.a_record(answer_ip)] if answer_ip else []
    rcode = 0 if answer_ip else dns.RCODE_NXDOMAIN
    reply = dns.answer(ident, name, dns.TYPE_A, records, ttl=ctx.rng.randint(60, 3600), rcode=rcode)
    question = dns.query(ident, name, dns.TYPE_A)
    sport = ctx.ports.take(client)
    if name.endswith(".gov.example") or ctx.rng.random() >= miss_rate:
        rtt = ctx.rng.randint(200, 900)
        return udp_exchange(ctx, (client, sport), (RESOLVER, 53), (question, reply), when_us, rtt)
    upstream_rtt = ctx.rng.randint(8_000, 40_000)
    upstream = forward_query(ctx, name, dns.TYPE_A, reply, when_us + 300, upstream_rtt)
    frames = udp_exchange(
        ctx, (client, sport), (RESOLVER, 53), (question, reply), when_us, upstream_rtt + 800
    )
    return sorted(frames + upstream, key=lambda frame: frame[0])


def forward_query(
    ctx: Context, name: str, qtype: int, client_reply: bytes, when_us: int, rtt_us: int
) -> list[Frame]:
    """Return the resolver's own query to the upstream forwarder and its answer."""
    ident = ctx.rng.getrandbits(16)
    question = dns.query(ident, name, qtype)
    reply = ident.to_bytes(2, "big") + client_reply[2:]
    sport = ctx.ports.take(RESOLVER)
    return udp_exchange(ctx, (RESOLVER, sport), (FORWARDER, 53), (question, reply), when_us, rtt_us)


def http_exchange(
    conn: TcpConnection, request: bytes, response: bytes, *, think_us: int = 0, server_us: int = 0
) -> None:
    """Send one request and its response on an open connection."""
    conn.send(True, request, wait_us=think_us)
    conn.send(False, response, wait_us=server_us)


def fetch_page(
    ctx: Context,
    client: Endpoint,
    server: Endpoint,
    host: str,
    paths: list[str],
    when_us: int,
) -> TcpConnection:
    """Return a keep-alive connection that GETs each path in turn, then closes."""
    rng = ctx.rng
    conn = connect(client, server, when_us, rng, ctx.ids)
    for index, path in enumerate(paths):
        think = 0 if index == 0 else rng.randint(2, 20) * SECOND_US
        request = http.request(
            "GET",
            host,
            path,
            headers=(
                ("Accept", "text/html,*/*;q=0.8"),
                ("Accept-Encoding", "identity"),
                ("Connection", "keep-alive"),
            ),
        )
        date = http.http_date((conn.now + think) / SECOND_US)
        body = http.page(path.strip("/").split("/")[-1] or host, rng, rng.randint(1_500, 14_000))
        http_exchange(
            conn,
            request,
            http.response(200, "OK", body, date=date),
            think_us=think,
            server_us=rng.randint(1_000, 30_000),
        )
    conn.close(True, wait_us=rng.randint(1, 5) * SECOND_US)
    return conn


def tls_visit(
    ctx: Context, client: Endpoint, server: Endpoint, sni: str, when_us: int
) -> TcpConnection:
    """Return a TLS 1.3 connection: hellos, encrypted handshake tail, a few records, close."""
    rng = ctx.rng
    conn = connect(client, server, when_us, rng, ctx.ids)
    session_id = rng.randbytes(32)
    conn.send(True, tls.client_hello(sni, session_id, rng))
    conn.send(
        False,
        tls.server_hello(session_id, rng)
        + tls.application_data(rng, rng.randint(2_400, 4_800), rng.randint(250, 300), 53),
    )
    conn.send(True, tls.change_cipher_spec() + tls.application_data(rng, 53, rng.randint(300, 700)))
    conn.send(
        False,
        tls.application_data(rng, *(rng.randint(800, 6_000) for _ in range(3))),
        wait_us=rng.randint(2_000, 40_000),
    )
    for _ in range(rng.randint(0, 2)):
        conn.send(
            True,
            tls.application_data(rng, rng.randint(300, 900)),
            wait_us=rng.randint(1, 15) * SECOND_US,
        )
        conn.send(False, tls.application_data(rng, rng.randint(500, 9_000)))
    conn.send(True, tls.application_data(rng, 19), wait_us=rng.randint(1, 10) * SECOND_US)
    conn.close(True)
    return conn
