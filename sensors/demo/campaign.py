"""One intrusion told end to end over a quiet evening of ordinary traffic.

An attacker on the internet sweeps the server subnet for SSH, SYN-scans the bastion,
guesses its SSH password (many short failed sessions) and gets in on the last attempt
(one long session, in which it uploads an implant). From then on the bastion calls its
command-and-control server every minute over TLS, and later sends data out hidden in
DNS names through the site's own resolver, the way Cobalt Strike's DNS channel does.

The intrusion fills the last 50 minutes of the window; whatever comes before is quiet
history. Keeping it within the last hour matters offline: Suricata logs most flows of a
capture file only at its end, and flow analyzers (the scan analyzer's
``max_delay_seconds``) drop flows that began more than an hour before the newest one.
The ordinary traffic (the bastion's admin sessions, syslog and pings included) runs
throughout, at a third of the demo's rate so that 90 minutes stay a few megabytes.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sensors.demo import dns, network, protocol, tls, wire
from sensors.demo.attack import COMMON_PORTS
from sensors.demo.capture import DemoSummary, write_demo_capture
from sensors.demo.network import SERVER_NET, SERVERS, Frame, Session
from sensors.demo.scenario import (
    RESOLVER,
    SECOND_US,
    Context,
    Scenario,
    dns_lookup,
    forward_query,
    udp_exchange,
)
from sensors.demo.tcp import TcpConnection, connect
from sensors.demo.traffic import ORDINARY, syslog_line

ATTACKER = "203.0.113.45"
BASTION = network.server("bastion")
MONITOR = network.server("mon01")
C2 = "198.51.100.147"
C2_NAME = "sync.example.net"
#: 18:00 in Hanoi (UTC+7): the office has gone home.
CAMPAIGN_START = datetime(2025, 3, 4, 11, 0, tzinfo=timezone.utc).timestamp()
#: Ordinary traffic comes this many times less often than in the demo.
BACKGROUND_PACE = 3.0
#: The intrusion, from the first probe to the end of the capture.
INTRUSION_MINUTES = 50
#: Shortest window: the intrusion after ten quiet minutes.
MIN_MINUTES = INTRUSION_MINUTES + 10
MINUTE_US = 60 * SECOND_US

SCANNED_PORTS = 1000
SSH_OPEN = frozenset({BASTION.ip, network.server("app01").ip, MONITOR.ip})
GUESSES = 48
GUESSED_USERS = ("root", "admin", "ubuntu", "oracle", "test", "postgres", "git", "deploy")
STOLEN_USER = "deploy"
SESSION_COMMANDS = (
    "id", "uname -a", "cat /etc/os-release", "sudo -l", "ls -la ~/.ssh",
    "cat ~/.ssh/known_hosts", "ip -4 addr", "cd /tmp", "chmod +x .sysd",
    "nohup ./.sysd >/dev/null 2>&1 &", "history -c", "exit",
)  # fmt: skip
BEACON_PERIOD_US = 60 * SECOND_US
BEACON_JITTER = 0.05
EXFIL_BYTES = 24_000
EXFIL_CHUNK = 75  # bytes per query: two labels of 60 base32 characters


@dataclass(frozen=True)
class Timeline:
    """When each phase of the intrusion begins (microseconds since the epoch)."""

    sweep_us: int
    scan_us: int
    guess_us: int
    login_us: int
    logout_us: int
    beacon_us: int
    exfil_us: int


def plan(start_us: int, end_us: int) -> Timeline:
    """Return the phases for a capture window: quiet history, then the intrusion to the end."""
    sweep = end_us - INTRUSION_MINUTES * MINUTE_US
    guess = sweep + 6 * MINUTE_US
    login = guess + 5 * MINUTE_US
    beacon = login + 4 * MINUTE_US + 45 * SECOND_US
    exfil = beacon + 15 * MINUTE_US
    return Timeline(sweep, sweep + 150 * SECOND_US, guess, login, login + 4 * MINUTE_US,
                    beacon, exfil)  # fmt: skip


def _plan(ctx: Context) -> Timeline:
    return plan(ctx.start_us, ctx.end_us)


# -- reconnaissance ----------------------------------------------------------------------


def _syn_probe(
    ctx: Context, target: str, ports: tuple[int, int], when: int, answer: str
) -> Session:
    """One SYN probe; answer is "open" (SYN/ACK, then the scanner's RST), "closed" (RST/ACK)
    or "silent" (no host: the router's ARP request goes unanswered)."""
    rng, (sport, port) = ctx.rng, ports
    seq = rng.getrandbits(32)
    options = wire.tcp_syn_options(wscale=None, sack=False)
    syn = wire.tcp(ATTACKER, target, ports, seq, 0, wire.SYN, window=1024, options=options)
    frames = [(when, network.ip_frame(ATTACKER, target, wire.PROTO_TCP, syn, rng.getrandbits(16)))]
    back = when + rng.randint(80, 400)
    if answer == "silent":
        who = network.arp_request(network.gateway_of(target), target, sender_mac=network.ROUTER_MAC)
        return frames + [(back, who)]
    if answer == "open":
        syn_ack, options = wire.SYN | wire.ACK, wire.tcp_syn_options()
        reply = wire.tcp(target, ATTACKER, (port, sport), rng.getrandbits(32), seq + 1, syn_ack,
                         window=64240, options=options)  # fmt: skip
        reset = wire.tcp(ATTACKER, target, ports, seq + 1, 0, wire.RST, window=0)
        frames.append((back + 40_000, network.ip_frame(ATTACKER, target, wire.PROTO_TCP, reset, 0)))
    else:
        reply = wire.tcp(target, ATTACKER, (port, sport), 0, seq + 1, wire.RST | wire.ACK, window=0)
    reply_frame = network.ip_frame(target, ATTACKER, wire.PROTO_TCP, reply, ctx.ids.take(target))
    return sorted(frames + [(back, reply_frame)], key=lambda frame: frame[0])


def _sweep_for_ssh(ctx: Context) -> Iterator[Session]:
    """The attacker sends a SYN to 22/tcp of every address of 10.10.1.0/24, in random order."""
    rng = ctx.rng
    live = {host.ip for host in SERVERS.values()} | {network.gateway_of(BASTION.ip)}
    targets = [str(address) for address in SERVER_NET.hosts()]
    rng.shuffle(targets)
    when, sport = _plan(ctx).sweep_us, rng.randint(40000, 65000)
    for target in targets:
        answer = "open" if target in SSH_OPEN else "closed" if target in live else "silent"
        yield _syn_probe(ctx, target, (sport, 22), when, answer)
        when += rng.randint(10_000, 40_000)


def _scan_bastion(ctx: Context) -> Iterator[Session]:
    """The attacker SYN-scans the bastion's 1,000 most common ports; only SSH answers."""
    rng = ctx.rng
    ports = list(COMMON_PORTS)
    while len(ports) < SCANNED_PORTS:
        candidate = rng.randint(1, 49151)
        if candidate not in ports:
            ports.append(candidate)
    rng.shuffle(ports)
    when, sport = _plan(ctx).scan_us, rng.randint(40000, 65000)
    for port in ports:
        answer = "open" if port == 22 else "closed"
        yield _syn_probe(ctx, BASTION.ip, (sport, port), when, answer)
        when += rng.randint(2_000, 12_000)


# -- credential access ----------------------------------------------------------------------


def _ssh_open(ctx: Context, when: int, software: str) -> TcpConnection:
    """An attacker's SSH connection to the bastion up to the encrypted user-auth service."""
    rng = ctx.rng
    conn = connect(ctx.wan(ATTACKER), ctx.lan(BASTION.ip, 22), when, rng, ctx.ids)
    conn.send(False, protocol.ssh_banner("OpenSSH_9.2p1 Debian-2+deb12u3"))
    conn.send(True, protocol.ssh_banner(software))
    conn.send(True, protocol.ssh_kexinit(rng))
    conn.send(False, protocol.ssh_kexinit(rng))
    conn.send(True, protocol.ssh_key_exchange(rng, from_client=True))
    conn.send(False, protocol.ssh_key_exchange(rng, from_client=False))
    conn.send(True, protocol.ssh_newkeys(rng) + rng.randbytes(52))  # SERVICE_REQUEST
    conn.send(False, rng.randbytes(52))  # SERVICE_ACCEPT
    return conn


def _sshd_log(ctx: Context, conn: TcpConnection, text: str) -> Frame:
    """The bastion's sshd line about this connection, sent to the syslog server."""
    when = conn.now + ctx.rng.randint(200, 900)
    line = syslog_line("bastion", "sshd", text, when / SECOND_US, ctx.rng.randint(9000, 30000))
    datagram = network.udp_frame(BASTION.ip, 514, MONITOR.ip, 514, line, ctx.ids.take(BASTION.ip))
    return when, datagram


def _guess_passwords(ctx: Context) -> Iterator[Session]:
    """48 libssh sessions in five minutes, each failing one to three passwords."""
    rng, timeline = ctx.rng, _plan(ctx)
    gap = (timeline.login_us - timeline.guess_us) // GUESSES
    for index in range(GUESSES):
        when = timeline.guess_us + index * gap + rng.randint(0, gap // 3)
        conn = _ssh_open(ctx, when, "libssh_0.9.6")
        frames: list[Frame] = []
        user = GUESSED_USERS[index % len(GUESSED_USERS)]
        for _ in range(rng.randint(1, 3)):
            conn.send(True, rng.randbytes(rng.choice((84, 100, 116))), wait_us=rng.randint(1, 9000))
            conn.send(False, rng.randbytes(36), wait_us=rng.randint(1_900_000, 2_400_000))
            port = conn.ends[0].port
            frames.append(_sshd_log(ctx, conn, f"Failed password for {user} from {ATTACKER} "
                                    f"port {port} ssh2"))  # fmt: skip
        conn.close(True, wait_us=rng.randint(2_000, 40_000))
        yield sorted(conn.frames + frames, key=lambda frame: frame[0])


def _log_in(ctx: Context) -> Iterator[Session]:
    """The last guess works: a four-minute session that uploads and starts an implant."""
    rng, timeline = ctx.rng, _plan(ctx)
    conn = _ssh_open(ctx, timeline.login_us, "libssh_0.9.6")
    conn.send(True, rng.randbytes(100), wait_us=rng.randint(1, 9000))
    conn.send(False, rng.randbytes(20))  # USERAUTH_SUCCESS
    port = conn.ends[0].port
    logs = [_sshd_log(ctx, conn, f"Accepted password for {STOLEN_USER} from {ATTACKER} "
                      f"port {port} ssh2")]  # fmt: skip
    conn.send(True, rng.randbytes(120))  # session channel, pty, shell
    conn.send(False, rng.randbytes(rng.randint(600, 900)))  # banner and prompt
    for command in SESSION_COMMANDS:
        if conn.now > timeline.logout_us - 30 * SECOND_US:
            break
        think = rng.randint(3, 12) * SECOND_US
        for index in range(len(command) + 1):  # one packet per keystroke, echoed
            conn.send(
                True,
                rng.randbytes(36),
                wait_us=think if index == 0 else rng.randint(60_000, 250_000),
            )
            conn.send(False, rng.randbytes(36))
        conn.send(False, rng.randbytes(rng.randint(100, 3_000)))
        if command == "cd /tmp":  # the implant arrives over the same channel (scp -> .sysd)
            conn.send(True, rng.randbytes(96_000), wait_us=rng.randint(1, 3) * SECOND_US)
            conn.send(False, rng.randbytes(52))
    conn.close(True, wait_us=max(0, timeline.logout_us - conn.now))
    yield sorted(conn.frames + logs, key=lambda frame: frame[0])


# -- command and control, exfiltration ------------------------------------------------------


def _check_in(ctx: Context, when: int, is_tasked: bool) -> TcpConnection:
    """One TLS check-in: hello with the C2 name, a small request, a small answer (or a task)."""
    rng = ctx.rng
    conn = connect(ctx.lan(BASTION.ip), ctx.wan(C2, 443), when, rng, ctx.ids)
    session_id = rng.randbytes(32)
    conn.send(True, tls.client_hello(C2_NAME, session_id, rng))
    conn.send(False, tls.server_hello(session_id, rng) + tls.application_data(rng, 2_100, 264, 53))
    conn.send(
        True, tls.change_cipher_spec() + tls.application_data(rng, 53, 288 + rng.randint(0, 8))
    )
    answer = rng.randint(1_300, 1_500) if is_tasked else rng.randint(90, 130)
    conn.send(False, tls.application_data(rng, answer), wait_us=rng.randint(20_000, 90_000))
    conn.close(True, wait_us=rng.randint(1_000, 20_000))
    return conn


def _beacon(ctx: Context) -> Iterator[Session]:
    """The implant checks in every 60 s +/- 5% until the capture ends; it looks its server
    up again every five minutes, and the check-in before the exfiltration gets a task."""
    rng, timeline = ctx.rng, _plan(ctx)
    when, looked_up = timeline.beacon_us, 0
    jitter = int(BEACON_PERIOD_US * BEACON_JITTER)
    while when < ctx.end_us - 10 * SECOND_US:
        following = when + BEACON_PERIOD_US + rng.randint(-jitter, jitter)
        frames: list[Frame] = []
        if when - looked_up >= 5 * MINUTE_US:
            frames = dns_lookup(ctx, BASTION.ip, C2_NAME, C2, when)
            looked_up, when = when, frames[-1][0] + rng.randint(200, 900)
        is_tasked = when < timeline.exfil_us <= following
        yield frames + _check_in(ctx, when, is_tasked).frames
        when = following


def _exfiltrate_over_dns(ctx: Context) -> Iterator[Session]:
    """The implant sends 24 kB in A queries: two 60-character base32 labels of data, a
    sequence label and a session tag per name under sync.example.net, through ns1."""
    rng = ctx.rng
    data, tag = rng.randbytes(EXFIL_BYTES), rng.randbytes(3).hex()
    when = _plan(ctx).exfil_us + rng.randint(5, 20) * SECOND_US
    for seq, offset in enumerate(range(0, len(data), EXFIL_CHUNK)):
        text = base64.b32encode(data[offset : offset + EXFIL_CHUNK]).decode().rstrip("=").lower()
        labels = [text[i : i + 60] for i in range(0, len(text), 60)]
        name = ".".join([*labels, f"{seq:04x}{tag}", C2_NAME])
        ident = rng.getrandbits(16)
        reply = dns.answer(ident, name, dns.TYPE_A, [dns.a_record("0.0.0.0")], ttl=1)
        upstream_rtt = rng.randint(20_000, 70_000)
        upstream = forward_query(ctx, name, dns.TYPE_A, reply, when + 300, upstream_rtt)
        local = udp_exchange(
            ctx, (BASTION.ip, ctx.ports.take(BASTION.ip)), (RESOLVER, 53),
            (dns.query(ident, name, dns.TYPE_A), reply), when, upstream_rtt + 900,
        )  # fmt: skip
        yield sorted(local + upstream, key=lambda frame: frame[0])
        when += rng.randint(400_000, 1_400_000)


# -- the capture -------------------------------------------------------------------------


@dataclass
class _PacedContext(Context):
    """A context whose Poisson arrivals come ``pace`` times less often."""

    pace: float = 1.0

    def arrivals(self, mean_gap_s: float, *, until_us: int | None = None) -> Iterator[int]:
        """Yield arrival times with the mean gap stretched by the pace."""
        return super().arrivals(mean_gap_s * self.pace, until_us=until_us)


def _quiet(scenario: Scenario) -> Scenario:
    """The same ordinary scenario at BACKGROUND_PACE times fewer sessions."""
    build: Callable[[Context], Iterator[Session]] = scenario.build

    def run(ctx: Context) -> Iterator[Session]:
        return build(_PacedContext(ctx.rng, ctx.start_us, ctx.end_us, ctx.ports, BACKGROUND_PACE))

    return dataclasses.replace(scenario, build=run)


INTRUSION: tuple[Scenario, ...] = (
    Scenario("ssh_sweep", True, ATTACKER, str(SERVER_NET),
             ("SYN to 22/tcp of all 254 addresses from one source port",
              "SYN/ACK from bastion, app01, mon01; RST from other servers; router ARP for "
              "unused addresses"), _sweep_for_ssh),
    Scenario("bastion_port_scan", True, ATTACKER, BASTION.ip,
             (f"SYN scan of {SCANNED_PORTS} ports from one source port, only 22/tcp open",),
             _scan_bastion),
    Scenario("ssh_brute_force", True, ATTACKER, BASTION.ip,
             (f"{GUESSES} short libssh sessions in 5 minutes, 1-3 failed passwords each",
              "sshd 'Failed password' syslog lines to mon01"), _guess_passwords),
    Scenario("ssh_login", True, ATTACKER, BASTION.ip,
             ("the last attempt succeeds: one 4-minute session, a 96 kB implant uploaded",
              f"sshd 'Accepted password for {STOLEN_USER}' syslog line"), _log_in),
    Scenario("c2_beacon", True, BASTION.ip, C2,
             (f"TLS with SNI {C2_NAME} to {C2}:443 every 60 s +/- 5%",
              "a larger answer (the task) just before the exfiltration"), _beacon),
    Scenario("dns_exfiltration", True, BASTION.ip, C2_NAME,
             (f"{-(-EXFIL_BYTES // EXFIL_CHUNK)} A queries carrying 120 base32 characters each "
              f"under {C2_NAME}", "ns1 forwards each to 198.51.100.53"), _exfiltrate_over_dns),
)  # fmt: skip
CAMPAIGN: tuple[Scenario, ...] = tuple(_quiet(s) for s in ORDINARY) + INTRUSION


def write_campaign_capture(
    path: Path, *, seed: int = 1, minutes: int = 90, start: float | None = None
) -> DemoSummary:
    """Write a deterministic capture of one intrusion, reconnaissance to exfiltration."""
    if minutes < MIN_MINUTES:
        raise ValueError(f"the campaign needs at least {MIN_MINUTES} minutes, not {minutes}")
    begin = CAMPAIGN_START if start is None else start
    return write_demo_capture(path, seed=seed, start=begin, minutes=minutes, scenarios=CAMPAIGN)
