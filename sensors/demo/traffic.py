"""Ordinary traffic of a small government data center: the bulk of the demo capture."""

from __future__ import annotations

from collections.abc import Iterator

from sensors.demo import http, network, protocol, wire
from sensors.demo.network import SERVERS, SITES, WORKSTATIONS, Frame, Session
from sensors.demo.scenario import (
    SECOND_US,
    Context,
    Scenario,
    dns_lookup,
    fetch_page,
    tls_visit,
    udp_exchange,
)
from sensors.demo.tcp import connect

INTRANET = network.server("intranet")
FILES = network.server("files")
BASTION = network.server("bastion")
MONITOR = network.server("mon01")
DC = network.server("dc01")
ADMIN_WORKSTATION = "10.10.20.110"
DHCP_CLIENT = "10.10.20.118"

INTRANET_PATHS = (
    "/",
    "/news/2025/budget-review",
    "/hr/forms/leave-request",
    "/directory?q=smith",
    "/policies/it-acceptable-use",
    "/facilities/room-booking",
    "/finance/travel-claims",
    "/it/service-desk",
    "/news/2025/office-move",
    "/static/css/site.css",
)
BACKGROUND_NAMES = (
    ("wpad.corp.gov.example", None),
    ("dc01.corp.gov.example", DC.ip),
    ("files.gov.example", FILES.ip),
    ("login.example.com", "192.0.2.40"),
    ("telemetry.example.org", "203.0.113.40"),
    ("crl.example.com", "198.51.100.40"),
)


def _browse_web(ctx: Context) -> Iterator[Session]:
    """Workstations look up outside sites and visit them over TLS or plain HTTP."""
    rng = ctx.rng
    for when in ctx.arrivals(24):
        desk = rng.choice(WORKSTATIONS).ip
        site = rng.choice(SITES)
        frames = dns_lookup(ctx, desk, site.name, site.ip, when)
        start = frames[-1][0] + rng.randint(300, 2_000)
        if site.is_tls:
            conn = tls_visit(ctx, ctx.lan(desk), ctx.wan(site.ip, 443), site.name, start)
        else:
            paths = [rng.choice(("/", "/index.html", "/forecast/today", "/channel/stable.xml"))]
            conn = fetch_page(ctx, ctx.lan(desk), ctx.wan(site.ip, 80), site.name, paths, start)
        yield frames + conn.frames


def _use_intranet(ctx: Context) -> Iterator[Session]:
    """Workstations read pages on the intranet server, a few per keep-alive connection."""
    rng = ctx.rng
    for when in ctx.arrivals(40):
        desk = rng.choice(WORKSTATIONS).ip
        frames = dns_lookup(ctx, desk, INTRANET.name, INTRANET.ip, when)
        paths = rng.sample(INTRANET_PATHS, rng.randint(1, 3))
        start = frames[-1][0] + rng.randint(300, 1_500)
        conn = fetch_page(ctx, ctx.lan(desk), ctx.lan(INTRANET.ip, 80), INTRANET.name, paths, start)
        yield frames + conn.frames


def _resolve_background(ctx: Context) -> Iterator[Session]:
    """Workstations resolve names the operating system asks for on its own."""
    for when in ctx.arrivals(30):
        name, address = ctx.rng.choice(BACKGROUND_NAMES)
        yield dns_lookup(ctx, ctx.rng.choice(WORKSTATIONS).ip, name, address, when)


def _open_shares(ctx: Context) -> Iterator[Session]:
    """Workstations negotiate SMB2 with the file server."""
    rng = ctx.rng
    for when in ctx.arrivals(150):
        desk = rng.choice(WORKSTATIONS).ip
        conn = connect(ctx.lan(desk), ctx.lan(FILES.ip, 445), when, rng, ctx.ids)
        conn.send(True, protocol.smb2_negotiate_request(rng.randbytes(16)))
        conn.send(False, protocol.smb2_negotiate_response(rng.randbytes(16), conn.now / SECOND_US))
        conn.close(True, wait_us=rng.randint(1, 20) * SECOND_US)
        yield conn.frames


def _administer_over_ssh(ctx: Context) -> Iterator[Session]:
    """The admin workstation logs in to the bastion a few times and types commands."""
    rng = ctx.rng
    for when in ctx.arrivals(ctx.span_us / SECOND_US / 3):
        conn = connect(ctx.lan(ADMIN_WORKSTATION), ctx.lan(BASTION.ip, 22), when, rng, ctx.ids)
        conn.send(False, protocol.ssh_banner("OpenSSH_9.2p1 Debian-2+deb12u3"))
        conn.send(True, protocol.ssh_banner("OpenSSH_for_Windows_9.5"))
        conn.send(True, protocol.ssh_kexinit(rng))
        conn.send(False, protocol.ssh_kexinit(rng))
        conn.send(True, protocol.ssh_key_exchange(rng, from_client=True))
        conn.send(False, protocol.ssh_key_exchange(rng, from_client=False))
        conn.send(True, protocol.ssh_newkeys(rng) + rng.randbytes(rng.randint(60, 120)))
        for _ in range(rng.randint(10, 30)):
            conn.send(True, rng.randbytes(36), wait_us=rng.randint(80_000, 900_000))
            conn.send(False, rng.randbytes(rng.choice((36, 36, 52, 180, 620))))
        conn.close(True, wait_us=rng.randint(1, 3) * SECOND_US)
        yield conn.frames


def _sync_time(ctx: Context) -> Iterator[Session]:
    """Workstations ask the domain controller for time; it asks an outside pool."""
    rng = ctx.rng
    for when in ctx.arrivals(30):
        if rng.random() < 0.2:
            client, server, stratum, ref = DC.ip, network.NTP_UPSTREAM, 2, b"\xc0\x00\x02\x7c"
        else:
            client, server, stratum, ref = (
                rng.choice(WORKSTATIONS).ip,
                DC.ip,
                3,
                b"\xc0\x00\x02\x7b",
            )
        rtt = (
            rng.randint(10_000, 40_000) if server == network.NTP_UPSTREAM else rng.randint(300, 900)
        )
        sent = when / SECOND_US
        payloads = (
            protocol.ntp_request(sent),
            protocol.ntp_response(sent, sent + rtt / 2 / SECOND_US, stratum=stratum, ref_id=ref),
        )
        yield udp_exchange(ctx, (client, 123), (server, 123), payloads, when, rtt)


SYSLOG_LINES = (
    ("intranet", "nginx", "GET /news/2025/budget-review HTTP/1.1 200"),
    ("app01", "java", "INFO  [pool-3-thread-7] PermitService: permit 2025-{n} approved"),
    ("files", "smbd", "connect to service share initially as user CORP\\\\jdoe"),
    ("dc01", "chronyd", "Selected source 192.0.2.123"),
    ("bastion", "sshd", "Accepted publickey for admin from 10.10.20.110 port {n} ssh2"),
    ("www", "apache2", "AH00558: Could not reliably determine the server's fully qualified name"),
    ("app01", "CRON", "(root) CMD (/usr/local/bin/backup-permits --incremental)"),
)


def syslog_line(host: str, program: str, message: str, epoch_s: float, pid: int) -> bytes:
    """Return an RFC 3164 syslog message from host."""
    stamp = http.http_date(epoch_s)[5:].split(" GMT")[0]
    day, month, _year, clock = stamp.split(" ")
    return f"<134>{month} {int(day):2d} {clock} {host} {program}[{pid}]: {message}".encode()


def _send_syslog(ctx: Context) -> Iterator[Session]:
    """Servers send their logs to the monitoring host over UDP 514."""
    rng = ctx.rng
    for when in ctx.arrivals(12):
        name, program, text = rng.choice(SYSLOG_LINES)
        host = network.server(name)
        line = syslog_line(
            name,
            program,
            text.format(n=rng.randint(1000, 60000)),
            when / SECOND_US,
            rng.randint(300, 30000),
        )
        datagram = network.udp_frame(host.ip, 514, MONITOR.ip, 514, line, ctx.ids.take(host.ip))
        yield [(when, datagram)]


def _ping_servers(ctx: Context) -> Iterator[Session]:
    """The monitoring host pings every server every three minutes."""
    targets = [host.ip for host in SERVERS.values() if host.ip != MONITOR.ip]
    when, seq = ctx.start_us + 2 * SECOND_US, 1
    while when < ctx.end_us:
        frames: list[Frame] = []
        for offset, target in enumerate(targets):
            sent = when + offset * 1_000
            ask = network.icmp_frame(MONITOR.ip, target, 8, 0x4D31, seq, ctx.ids.take(MONITOR.ip))
            reply = network.icmp_frame(target, MONITOR.ip, 0, 0x4D31, seq, ctx.ids.take(target))
            frames += [(sent, ask), (sent + ctx.rng.randint(150, 500), reply)]
        yield sorted(frames, key=lambda frame: frame[0])
        when, seq = when + 180 * SECOND_US, seq + 1


def _resolve_neighbours(ctx: Context) -> Iterator[Session]:
    """Workstations and the router refresh their ARP caches for each other."""
    rng = ctx.rng
    router = network.ROUTER_MAC
    for when in ctx.arrivals(40):
        desk = rng.choice(WORKSTATIONS).ip
        gateway = network.gateway_of(desk)
        if rng.random() < 0.5:
            ask = network.arp_request(gateway, desk, sender_mac=router)
            reply = network.arp_reply(desk, gateway, router)
        else:
            ask = network.arp_request(desk, gateway)
            reply = network.arp_reply(gateway, desk, network.host_mac(desk), sender_mac=router)
        yield [(when, ask), (when + rng.randint(100, 400), reply)]


def _dhcp_frame(
    src: str, dst: str, dst_mac: str, src_mac: str, message: bytes, ident: int
) -> bytes:
    ports = (68, 67) if src_mac != network.ROUTER_MAC else (67, 68)
    datagram = wire.udp(src, dst, ports[0], ports[1], message)
    packet = wire.ipv4(
        src, dst, wire.PROTO_UDP, datagram, ident=ident, ttl=128 if ports[0] == 68 else 64
    )
    return wire.ethernet(wire.mac_bytes(dst_mac), wire.mac_bytes(src_mac), wire.ETH_IPV4, packet)


def _dhcp_options(kind: int, server: str, *, is_reply: bool) -> list[tuple[int, bytes]]:
    options = [(53, bytes([kind])), (54, wire.ip_bytes(server))]
    if is_reply:
        options += [
            (51, (28800).to_bytes(4, "big")),
            (1, wire.ip_bytes("255.255.255.0")),
            (3, wire.ip_bytes(server)),
            (6, wire.ip_bytes(network.server("ns1").ip)),
            (15, b"corp.gov.example"),
        ]
    else:
        options += [
            (50, wire.ip_bytes(DHCP_CLIENT)),
            (12, b"ws-0118"),
            (55, bytes([1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252])),
        ]
    return options


def _lease_address(ctx: Context) -> Iterator[Session]:
    """A workstation boots and takes a lease (request/ack), then renews it later."""
    mac, server = network.host_mac(DHCP_CLIENT), network.gateway_of(DHCP_CLIENT)
    for when, is_renewal in ((ctx.at(0.03), False), (ctx.at(0.6), True)):
        xid = ctx.rng.getrandbits(32)
        src, dst = (DHCP_CLIENT, server) if is_renewal else ("0.0.0.0", "255.255.255.255")
        dst_mac = network.ROUTER_MAC if is_renewal else "ff:ff:ff:ff:ff:ff"
        request = protocol.dhcp_message(
            1, xid, mac, options=_dhcp_options(3, server, is_reply=False)
        )
        ack = protocol.dhcp_message(
            2,
            xid,
            mac,
            yiaddr=DHCP_CLIENT,
            siaddr=server,
            options=_dhcp_options(5, server, is_reply=True),
        )
        yield [
            (when, _dhcp_frame(src, dst, dst_mac, mac, request, ctx.ids.take(DHCP_CLIENT))),
            (
                when + ctx.rng.randint(800, 3_000),
                _dhcp_frame(
                    server, DHCP_CLIENT, mac, network.ROUTER_MAC, ack, ctx.ids.take(server)
                ),
            ),
        ]


ORDINARY: tuple[Scenario, ...] = (
    Scenario(
        "web_browsing",
        False,
        "10.10.20.0/24",
        "internet",
        (
            "dns queries for example.com/example.org names",
            "tls events with sni",
            "http events to updates.example.org and weather.example.com",
        ),
        _browse_web,
    ),
    Scenario(
        "intranet",
        False,
        "10.10.20.0/24",
        INTRANET.ip,
        ("http events with hostname intranet.gov.example",),
        _use_intranet,
    ),
    Scenario(
        "background_dns",
        False,
        "10.10.20.0/24",
        network.server("ns1").ip,
        ("dns queries, NXDOMAIN for wpad.corp.gov.example",),
        _resolve_background,
    ),
    Scenario(
        "file_shares",
        False,
        "10.10.20.0/24",
        FILES.ip,
        ("smb negotiate events, dialect 3.0.2",),
        _open_shares,
    ),
    Scenario(
        "admin_ssh",
        False,
        ADMIN_WORKSTATION,
        BASTION.ip,
        ("a few long ssh sessions with OpenSSH banners",),
        _administer_over_ssh,
    ),
    Scenario(
        "ntp",
        False,
        "10.10.20.0/24",
        DC.ip,
        ("udp/123 flows to dc01 and from dc01 to 192.0.2.123",),
        _sync_time,
    ),
    Scenario(
        "syslog", False, "10.10.1.0/24", MONITOR.ip, ("udp/514 flows to mon01",), _send_syslog
    ),
    Scenario(
        "monitoring_ping",
        False,
        MONITOR.ip,
        "10.10.1.0/24",
        ("icmp echo every 180 s",),
        _ping_servers,
    ),
    Scenario(
        "arp",
        False,
        "10.10.20.0/24",
        "10.10.20.1",
        ("arp requests and replies",),
        _resolve_neighbours,
    ),
    Scenario(
        "dhcp", False, DHCP_CLIENT, "10.10.20.1", ("dhcp request/ack for ws-0118",), _lease_address
    ),
)
