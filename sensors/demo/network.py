"""The demo network: hosts, addressing, and frames as a SPAN port on the core switch sees them.

Inside hosts live in 10.10.1.0/24 (servers) and 10.10.20.0/24 (workstations); the
"internet" uses the documentation ranges. A frame is captured at its first hop:
traffic from the internet arrives from the firewall's MAC, traffic between
subnets goes to the core router's MAC, and traffic inside a subnet is host to host.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass, field
from functools import lru_cache

from sensors.demo import wire

FIREWALL_MAC = "00:1b:17:3c:00:01"
ROUTER_MAC = "00:1c:73:0a:0a:01"

SERVER_NET = ipaddress.IPv4Network("10.10.1.0/24")
OFFICE_NET = ipaddress.IPv4Network("10.10.20.0/24")

# A frame on the wire and its capture time in microseconds since the epoch.
Frame = tuple[int, bytes]
# Frames that belong together (a lookup plus a connection, one scan burst), in time order.
Session = list[Frame]


@dataclass(frozen=True)
class Host:
    """One inside machine: its address and DNS name."""

    ip: str
    name: str


@dataclass(frozen=True)
class Site:
    """A web site on the internet: its name, address and whether it speaks TLS."""

    name: str
    ip: str
    is_tls: bool = True


GATEWAYS = {SERVER_NET: "10.10.1.1", OFFICE_NET: "10.10.20.1"}

SERVERS: dict[str, Host] = {
    host.name: host
    for host in (
        Host("10.10.1.5", "dc01.corp.gov.example"),
        Host("10.10.1.10", "intranet.gov.example"),
        Host("10.10.1.11", "www.gov.example"),
        Host("10.10.1.20", "app01.corp.gov.example"),
        Host("10.10.1.22", "bastion.gov.example"),
        Host("10.10.1.30", "files.gov.example"),
        Host("10.10.1.40", "mgmt.gov.example"),
        Host("10.10.1.50", "mon01.corp.gov.example"),
        Host("10.10.1.53", "ns1.gov.example"),
    )
}

WORKSTATIONS: tuple[Host, ...] = tuple(
    Host(f"10.10.20.{n}", f"ws-{n:04d}.corp.gov.example") for n in range(101, 125)
)

SITES: tuple[Site, ...] = (
    Site("www.example.com", "192.0.2.10"),
    Site("news.example.org", "192.0.2.20"),
    Site("portal.example.com", "198.51.100.10"),
    Site("static.example.com", "198.51.100.20"),
    Site("mail.example.org", "198.51.100.30"),
    Site("docs.example.org", "203.0.113.30"),
    Site("updates.example.org", "203.0.113.10", is_tls=False),
    Site("weather.example.com", "203.0.113.20", is_tls=False),
)

NTP_UPSTREAM = "192.0.2.123"


def server(name: str) -> Host:
    """Return the inside server with the given short or full name."""
    for host in SERVERS.values():
        if host.name == name or host.name.split(".")[0] == name:
            return host
    raise KeyError(name)


@lru_cache(maxsize=1024)
def host_mac(ip: str) -> str:
    """Return a stable MAC for an inside address: VMware OUI for servers, Dell for desks."""
    octets = ipaddress.IPv4Address(ip).packed
    oui = "00:50:56" if ipaddress.IPv4Address(ip) in SERVER_NET else "f8:bc:12"
    return f"{oui}:{octets[1]:02x}:{octets[2]:02x}:{octets[3]:02x}"


@lru_cache(maxsize=1024)
def outside_ttl(ip: str) -> int:
    """Return the TTL seen for an internet host: its initial 64 minus 6 to 13 hops."""
    digest = hashlib.sha256(ip.encode()).digest()
    return 64 - 6 - digest[0] % 8


@lru_cache(maxsize=1024)
def _subnet(ip: str) -> ipaddress.IPv4Network | None:
    address = ipaddress.IPv4Address(ip)
    for net in GATEWAYS:
        if address in net:
            return net
    return None


@lru_cache(maxsize=1024)
def link_macs(src: str, dst: str) -> tuple[bytes, bytes]:
    """Return (source MAC, destination MAC) of a packet's first hop."""
    src_net, dst_net = _subnet(src), _subnet(dst)
    src_mac = host_mac(src) if src_net is not None else FIREWALL_MAC
    if src_net is not None and src_net == dst_net:
        dst_mac = host_mac(dst)
    else:
        dst_mac = ROUTER_MAC
    return wire.mac_bytes(src_mac), wire.mac_bytes(dst_mac)


@lru_cache(maxsize=1024)
def ttl_of(ip: str) -> int:
    """Return the TTL a packet from ip carries when captured."""
    if _subnet(ip) is None:
        return outside_ttl(ip)
    if ipaddress.IPv4Address(ip) in OFFICE_NET:
        return 128
    return 64


def ip_frame(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    """Return an Ethernet frame carrying an IPv4 packet from src to dst."""
    src_mac, dst_mac = link_macs(src, dst)
    packet = wire.ipv4(src, dst, proto, payload, ident=ident, ttl=ttl_of(src))
    return wire.ethernet(dst_mac, src_mac, wire.ETH_IPV4, packet)


def udp_frame(src: str, sport: int, dst: str, dport: int, payload: bytes, ident: int) -> bytes:
    """Return an Ethernet frame carrying one UDP datagram."""
    datagram = wire.udp(src, dst, sport, dport, payload)
    return ip_frame(src, dst, wire.PROTO_UDP, datagram, ident)


def icmp_frame(src: str, dst: str, kind: int, ident: int, seq: int, ip_id: int) -> bytes:
    """Return an ICMP echo request (kind 8) or reply (kind 0) with a Linux ping payload."""
    payload = bytes(range(16, 16 + 48))
    return ip_frame(src, dst, wire.PROTO_ICMP, wire.icmp_echo(kind, ident, seq, payload), ip_id)


def arp_request(sender_ip: str, target_ip: str, *, sender_mac: str | None = None) -> bytes:
    """Return a broadcast ARP who-has frame."""
    mac = wire.mac_bytes(sender_mac or host_mac(sender_ip))
    body = wire.arp(1, mac, sender_ip, b"\x00" * 6, target_ip)
    return wire.ethernet(wire.BROADCAST_MAC, mac, wire.ETH_ARP, body)


def arp_reply(
    sender_ip: str, target_ip: str, target_mac: str, *, sender_mac: str | None = None
) -> bytes:
    """Return a unicast ARP is-at frame from sender_ip to the asker."""
    mac = wire.mac_bytes(sender_mac or host_mac(sender_ip))
    other = wire.mac_bytes(target_mac)
    body = wire.arp(2, mac, sender_ip, other, target_ip)
    return wire.ethernet(other, mac, wire.ETH_ARP, body)


def gateway_of(ip: str) -> str:
    """Return the default gateway of an inside address."""
    net = _subnet(ip)
    if net is None:
        raise ValueError(f"{ip} is not in an inside subnet")
    return GATEWAYS[net]


@dataclass
class PortAllocator:
    """Hands out ephemeral source ports per host, increasing like a real stack's."""

    rng: random.Random
    base: int = 49152
    _next: dict[str, int] = field(default_factory=dict)

    def take(self, ip: str) -> int:
        """Return the next source port for ip."""
        port = self._next.get(ip)
        if port is None:
            port = self.base + self.rng.randrange(0, 2000)
        self._next[ip] = port + self.rng.randint(1, 4)
        return 49152 + (port - 49152) % 16384


@dataclass
class IpIdCounter:
    """Per-host IPv4 identification counters, as Windows and older stacks increment them."""

    rng: random.Random
    _next: dict[str, int] = field(default_factory=dict)

    def take(self, ip: str) -> int:
        """Return the next IP id for a packet sent by ip."""
        value = self._next.get(ip)
        if value is None:
            value = self.rng.randrange(0, 0x10000)
        self._next[ip] = (value + 1) & 0xFFFF
        return value
