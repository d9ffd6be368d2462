"""Traffic whose every name is an attack on the analyst's browser.

Packet data is attacker-controlled: a host name, a URI, a user agent, a DNS name, a TLS
server name or a file name can carry HTML and JavaScript, and the web UI shows them all.
This capture puts a payload in each of those fields (and in an FTP user name, which the
cleartext-credentials finding quotes in its explanation), over a few minutes of the
demo's ordinary traffic, so a test can analyse it, open every page in a real browser and
check that nothing runs and the text is shown as text. Each payload calls ``alert()``
with the name of its field, which tells a failing test where the hole is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sensors.demo import dns, http, network
from sensors.demo.capture import DemoSummary, write_demo_capture
from sensors.demo.network import Session
from sensors.demo.scenario import (
    RESOLVER,
    SECOND_US,
    Context,
    Scenario,
    http_exchange,
    tls_visit,
    udp_exchange,
)
from sensors.demo.tcp import connect
from sensors.demo.traffic import ORDINARY

VICTIM = "10.10.20.131"
INTRANET = network.server("intranet")
FILES = network.server("files")
EVIL_SERVER = "198.51.100.66"

#: The payload of each field, by field name. No spaces where the protocol has none, no
#: dots inside a DNS label, at most 63 bytes a label.
PAYLOADS = {
    "host": "<svg/onload=alert('host')>",
    "uri": "/spanwatch-test/<script>alert('uri')</script>?q=\"><img/src/onerror=alert('q')>",
    "user_agent": "Mozilla/5.0 <script>alert('ua')</script><img src=x onerror=alert('ua')>",
    "dns": "<svg/onload=alert('dns')>.xss.example",
    "sni": "<img/src/onerror=alert('sni')>.xss.example",
    "file": "<img src=x onerror=alert('file')>.html",
    "ftp_user": "<script>alert('ftp')</script>",
}


def _http_with_payloads(ctx: Context) -> Iterator[Session]:
    """A workstation asks for /spanwatch-test/... with a hostile Host, URI and user agent;
    the answer is a download whose file name is hostile too."""
    rng = ctx.rng
    conn = connect(ctx.lan(VICTIM), ctx.lan(INTRANET.ip, 80), ctx.at(0.2), rng, ctx.ids)
    request = http.request("GET", PAYLOADS["host"], PAYLOADS["uri"],
                           user_agent=PAYLOADS["user_agent"])  # fmt: skip
    body = b"<html><body>report</body></html>\n"
    disposition = f'attachment; filename="{PAYLOADS["file"]}"'
    reply = http.response(200, "OK", body, date=http.http_date(conn.now / SECOND_US),
                          headers=(("Content-Disposition", disposition),))  # fmt: skip
    http_exchange(conn, request, reply, server_us=rng.randint(1_000, 9_000))
    conn.close(True, wait_us=rng.randint(1, 3) * SECOND_US)
    yield conn.frames


def _dns_with_payload(ctx: Context) -> Iterator[Session]:
    """A lookup of a hostile name through the site's resolver, answered."""
    ident = ctx.rng.getrandbits(16)
    name = PAYLOADS["dns"]
    reply = dns.answer(ident, name, dns.TYPE_A, [dns.a_record(EVIL_SERVER)], ttl=60)
    client = (VICTIM, ctx.ports.take(VICTIM))
    yield udp_exchange(ctx, client, (RESOLVER, 53), (dns.query(ident, name, dns.TYPE_A), reply),
                       ctx.at(0.3), 700)  # fmt: skip


def _tls_with_payload(ctx: Context) -> Iterator[Session]:
    """A TLS connection whose ClientHello names a hostile server."""
    yield tls_visit(ctx, ctx.lan(VICTIM), ctx.wan(EVIL_SERVER, 443), PAYLOADS["sni"],
                    ctx.at(0.4)).frames  # fmt: skip


def _ftp_with_payload(ctx: Context) -> Iterator[Session]:
    """An FTP login whose user name is hostile (the password crosses in cleartext)."""
    rng = ctx.rng
    conn = connect(ctx.lan(VICTIM), ctx.lan(FILES.ip, 21), ctx.at(0.5), rng, ctx.ids)
    dialogue = ((False, "220 (vsFTPd 3.0.5)"), (True, f"USER {PAYLOADS['ftp_user']}"),
                (False, "331 Please specify the password."), (True, "PASS hunter2"),
                (False, "530 Login incorrect."), (True, "QUIT"),
                (False, "221 Goodbye."))  # fmt: skip
    for from_client, line in dialogue:
        wait = rng.randint(200_000, 900_000) if from_client else rng.randint(100, 2_000)
        conn.send(from_client, f"{line}\r\n".encode("latin-1"), wait_us=wait)
    conn.close(False)
    yield conn.frames


HOSTILE: tuple[Scenario, ...] = (
    Scenario("hostile_http", True, VICTIM, INTRANET.ip,
             ("HTML/JavaScript in the Host header, URI, user agent and download file name",
              "alert sid 9000001 (the URI starts with /spanwatch-test)"), _http_with_payloads),
    Scenario("hostile_dns", True, VICTIM, RESOLVER,
             (f"A query for {PAYLOADS['dns']!r}",), _dns_with_payload),
    Scenario("hostile_tls", True, VICTIM, EVIL_SERVER,
             (f"TLS ClientHello with SNI {PAYLOADS['sni']!r}",), _tls_with_payload),
    Scenario("hostile_ftp", True, VICTIM, FILES.ip,
             (f"FTP USER {PAYLOADS['ftp_user']!r}, password in cleartext",), _ftp_with_payload),
)  # fmt: skip


def write_hostile_capture(path: Path, *, seed: int = 1, minutes: int = 5) -> DemoSummary:
    """Write the hostile-names capture: ordinary traffic plus the four hostile exchanges."""
    return write_demo_capture(path, seed=seed, minutes=minutes, scenarios=ORDINARY + HOSTILE)

