"""Configuration of the flow-based analyzers: scans, floods, exfiltration, beacons, DNS."""

from __future__ import annotations

import ipaddress
import re

from pydantic import (
    Field,
    field_validator,
)

from appliance.config_base import Cidr, _Model


class ScanConfig(_Model):
    """Port scans and host sweeps, from the failed connection attempts in flow records."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=120, ge=10,
        description="Window in which distinct ports or hosts are counted (120 s holds eight "
        "probes of nmap -T1, which waits 15 s between probes).",
    )  # fmt: skip
    min_ports: int = Field(
        default=6, ge=2,
        description="Distinct ports of one host with failed attempts that make a port scan. A "
        "client's legitimate failures cover one service and its fallback ports (e.g. LDAP "
        "389/636/3268/3269): at most about five.",
    )  # fmt: skip
    min_hosts: int = Field(
        default=6, ge=2,
        description="Distinct hosts with failed attempts on one port (or to ping) that make a "
        "host sweep. A client's server list for one service (resolvers, domain controllers, "
        "NTP) rarely exceeds five.",
    )  # fmt: skip
    min_failed_share: float = Field(
        default=0.5, gt=0, le=1,
        description="Share of the source's flows in the window (to that host, or to that "
        "port) that must have failed, so that busy clients that mostly succeed never fire.",
    )  # fmt: skip
    report_delay_seconds: int = Field(
        default=60, ge=0,
        description="A scan is reported once no new flow of it was logged for this long (by "
        "the flow records' timestamps: the wall clock when live; reading a capture, at its "
        "end), so that the finding holds the whole scan.",
    )  # fmt: skip
    max_delay_seconds: int = Field(
        default=3600, ge=60,
        description="Flows that began this much before the newest flow are too late to "
        "count; reported scans are remembered this long, and a longer scan is reported again.",
    )  # fmt: skip
    exempt_sources: list[Cidr] = Field(
        default=[], description="Authorised scanners (vulnerability scanners, monitoring)."
    )
    max_tracked: int = Field(
        default=100_000, ge=1000,
        description="Source-target pairs tracked at once; the least recently seen go first.",
    )  # fmt: skip


#: Source ports of UDP services abused for reflection and amplification (US-CERT alert
#: TA14-017A and later vectors: CLDAP, memcached, WS-Discovery, ARD, CoAP, Ubiquiti).
DEFAULT_REFLECTION_PORTS = [17, 19, 53, 69, 111, 123, 137, 161, 389, 520, 1900, 3283, 3702,
                            5353, 5683, 10001, 11211]  # fmt: skip


class FloodConfig(_Model):
    """SYN floods and UDP floods (reflection/amplification or direct) against one host."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(default=60, ge=10, description="Window of the flood counts.")
    syn_min_half_open: int = Field(
        default=1000, ge=10,
        description="Connection attempts to one host that never complete within the window. "
        "Half-open entries live about 60 s, so this overflows a default Linux SYN backlog "
        "(tcp_max_syn_backlog: 128 to 1024).",
    )  # fmt: skip
    syn_min_share: float = Field(
        default=0.5, gt=0, le=1,
        description="Share of the host's connection attempts that must be half-open.",
    )
    syn_min_sources: int = Field(
        default=50, ge=1,
        description="Distinct sources of a distributed or spoofed flood. Fewer sources count "
        "only if they aim at no more than syn_max_ports ports (many ports make a port scan).",
    )  # fmt: skip
    syn_max_ports: int = Field(default=5, ge=1, description="See syn_min_sources.")
    udp_reflection_ports: list[int] = Field(
        default=DEFAULT_REFLECTION_PORTS,
        description="Source ports of UDP services abused as reflectors (DNS, NTP, SSDP, ...).",
    )
    udp_min_bytes: int = Field(
        default=1_000_000, ge=1,
        description="Bytes from reflection ports toward one host within the window. "
        "Reflection is recognised by its shape (answers the host never asked for, from many "
        "servers), so this only ignores stray late answers.",
    )  # fmt: skip
    udp_min_reflectors: int = Field(
        default=10, ge=2,
        description="Distinct servers sending unasked answers to the host: a host asks a "
        "handful of resolvers or NTP servers.",
    )  # fmt: skip
    udp_min_amplification: float = Field(
        default=10.0, gt=1,
        description="Inside servers answering one outside host with this many times the bytes "
        "it sent are reported as abused reflectors (needs networks.home).",
    )  # fmt: skip
    udp_direct_min_bytes: int = Field(
        default=500_000_000, ge=1,
        description="Unanswered UDP bytes toward one host within the window from any port (a "
        "direct flood): about 67 Mbit/s, well above one-way media streams (5-20 Mbit/s).",
    )  # fmt: skip
    exempt_targets: list[Cidr] = Field(
        default=[], description="Hosts never reported as targets (e.g. syslog/NetFlow collectors)."
    )
    report_delay_seconds: int = Field(
        default=60, ge=0,
        description="A flood is reported once no new flow of it was logged for this long (by "
        "the flow records' timestamps: the wall clock when live; reading a capture, at its end).",
    )  # fmt: skip
    max_delay_seconds: int = Field(
        default=3600, ge=60,
        description="Flows that began this much before the newest are too late to count; a "
        "flood lasting longer is reported again.",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=1000, description="Target hosts tracked at once, per kind of flood."
    )


class ExfiltrationConfig(_Model):
    """Inside hosts sending far more out of the monitored networks than they usually do."""

    enabled: bool = Field(default=True)
    interval_seconds: int = Field(
        default=3600, ge=60,
        description="Each inside host's bytes sent out are summed per interval of this length.",
    )
    baseline_weight: float = Field(
        default=0.1, gt=0, le=1,
        description="Weight of the newest interval in a host's exponentially weighted "
        "baseline (0.1: roughly the last ten intervals count).",
    )  # fmt: skip
    min_history_intervals: int = Field(
        default=24, ge=1,
        description="Intervals a host must have been watched before its baseline is trusted "
        "(24 hourly intervals: one day and one night).",
    )  # fmt: skip
    baseline_multiplier: float = Field(
        default=10.0, gt=1, description="An interval above this many times the baseline fires."
    )
    min_bytes: int = Field(
        default=50_000_000, ge=1,
        description="Floor: an interval below this many bytes never fires, however small the "
        "baseline (mail attachments and cloud sync stay below it).",
    )  # fmt: skip
    upload_min_bytes: int = Field(
        default=100_000_000, ge=1,
        description="Bytes from one inside host to one outside destination within "
        "upload_window_seconds that fire without any baseline.",
    )  # fmt: skip
    upload_window_seconds: int = Field(
        default=3600, ge=60, description="Window of the large-upload rule."
    )
    exempt_destinations: list[Cidr] = Field(
        default=[], description="Sanctioned destinations (off-site backup, cloud sync)."
    )
    max_delay_seconds: int = Field(
        default=900, ge=60,
        description="An interval is judged once the flow records' timestamps (the wall clock "
        "when live; reading a capture, at its end) are this far past its end: flows are logged "
        "after Suricata's flow timeouts (600 s for an idle connection).",
    )  # fmt: skip
    max_hosts: int = Field(
        default=100_000, ge=100, description="Inside hosts with a baseline kept at once."
    )


class BeaconConfig(_Model):
    """Beaconing: an inside host connecting to one outside destination on a timer (C2).

    Scored as RITA does (interval and size regularity), with principled exclusions: only
    inside -> outside connections (inside-to-inside services such as monitoring, syslog,
    time and name servers poll by design), protocols that poll by design (DNS, NTP), and
    periods below ``min_period_seconds`` (retries, polling loops, brute force).
    """

    enabled: bool = Field(default=True)
    min_connections: int = Field(
        default=10, ge=4,
        description="Check-ins (connections more than burst_seconds apart) needed to score "
        "a destination: fewer give no stable median or quartiles.",
    )  # fmt: skip
    min_periods: int = Field(
        default=5, ge=2, description="The check-ins must span at least this many periods."
    )
    min_period_seconds: float = Field(
        default=10, gt=0,
        description="Shorter periods are bulk, interactive or retry traffic, not a timer.",
    )  # fmt: skip
    burst_seconds: float = Field(
        default=2, ge=0,
        description="Connections that start this close together are one check-in.",
    )  # fmt: skip
    jitter_tolerance: float = Field(
        default=0.2, gt=0, lt=0.5,
        description="A gap within this share of the period (or of a whole multiple of it) is "
        "on the beat: 0.2 covers a +-10% random jitter on each check-in's time.",
    )  # fmt: skip
    max_missed: int = Field(
        default=3, ge=0, description="Consecutive missed check-ins still counted as the beat."
    )
    min_score: float = Field(
        default=0.8, gt=0, le=1,
        description="Report at this score (0.7 x interval regularity + 0.3 x size regularity): "
        "a timer with +-10% jitter reaches it in 87% of 10-check-in and 99% of 30-check-in "
        "series, random (Poisson) connections in 0.3% of 10-connection series.",
    )  # fmt: skip
    window_hours: float = Field(
        default=24, gt=0, description="Connections are scored over this long, as RITA does."
    )
    include_internal: bool = Field(
        default=False, description="Also score destinations inside networks.home."
    )
    ignore_ports: list[str] = Field(
        default=["udp/53", "tcp/53", "udp/123"],
        description="Services that poll by design (proto/port, or a bare proto): DNS, NTP. "
        "DNS tunnels are the dns_tunnel analyzer's.",
    )  # fmt: skip
    ignore_destinations: list[Cidr] = Field(
        default=[], description="Known periodic destinations (update, monitoring services)."
    )
    ignore_domains: list[str] = Field(
        default=[],
        description="Known periodic services by HTTP host, TLS server name or the DNS name "
        "they were looked up by (a domain and its subdomains).",
    )  # fmt: skip
    max_connections: int = Field(
        default=1000, ge=20, description="Most recent connections kept per pair."
    )
    max_pairs: int = Field(
        default=50_000, ge=100, description="(Host, destination) pairs tracked at once."
    )

    @field_validator("ignore_ports")
    @classmethod
    def _check_ports(cls, value: list[str]) -> list[str]:
        for spec in value:
            if not re.fullmatch(r"(tcp|udp|icmp|sctp)(/\d{1,5})?", spec.lower()):
                raise ValueError(f"{spec!r} is not proto/port (e.g. udp/123)")
        return value


class DnsTunnelConfig(_Model):
    """DNS tunnels, exfiltration in DNS names and DGA lookups, from dns records."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=600, ge=10,
        description="Queries are counted per host and domain over this long; one finding "
        "per host, domain and kind in this time.",
    )  # fmt: skip
    min_data_chars: int = Field(
        default=24, ge=8,
        description="A name carries data when its labels left of the domain hold this many "
        "characters and look encoded; hostnames rarely have 24 characters of random text.",
    )  # fmt: skip
    min_unique_names: int = Field(
        default=20, ge=2,
        description="Distinct data-carrying names under one domain from one host that make a "
        "tunnel or exfiltration (a tool sends one per chunk; people resolve a few names).",
    )  # fmt: skip
    min_encoded_share: float = Field(
        default=0.5, gt=0, le=1,
        description="...and at least this share of the host's distinct names there.",
    )
    min_payload_queries: int = Field(
        default=20, ge=1,
        description="TXT/NULL/CNAME/MX/ANY queries under one domain that, with "
        "min_payload_names and min_answer_bytes, make a tunnel whose answers carry data.",
    )  # fmt: skip
    min_payload_names: int = Field(
        default=10, ge=1,
        description="Distinct names among them (SPF/TXT lookups touch a few per domain).",
    )
    min_answer_bytes: int = Field(
        default=2048, ge=0, description="Bytes of TXT/NULL/... answer data among them."
    )
    min_nxdomain_domains: int = Field(
        default=10, ge=2,
        description="Distinct registered domains answered NXDOMAIN (A/AAAA) to one host in "
        "the window that make a DGA finding; typos and stale names give one or two.",
    )  # fmt: skip
    min_random_share: float = Field(
        default=0.3, ge=0, le=1,
        description="...of which at least this share look machine-made (the test flags about "
        "half of random 8-letter names and few words; typo bursts are all words).",
    )
    dga_hex_names: bool = Field(
        default=True,
        description="Report contact with a domain whose registered label is a hex string "
        "of 8+ characters with letters and digits, as hash-based DGAs generate.",
    )  # fmt: skip
    ignore_domains: list[str] = Field(
        default=["sophosxl.net", "avqs.mcafee.com", "spamhaus.org", "spamcop.net",
                 "surbl.org", "uribl.com", "barracudacentral.org", "sorbs.net", "dnswl.org",
                 "mailspike.net"],
        description="Services that encode lookups in DNS names by design (anti-virus file "
        "reputation, mail block lists): a domain and its subdomains.",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="(Host, domain) windows tracked at once."
    )


#: Public DNS resolvers that answer DNS over HTTPS on port 443 at these addresses
#: (Cloudflare, Google, Quad9, OpenDNS, AdGuard: their published service addresses).
DEFAULT_PUBLIC_RESOLVERS = [
    "1.1.1.1", "1.0.0.1", "2606:4700:4700::1111", "2606:4700:4700::1001",
    "8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844",
    "9.9.9.9", "149.112.112.112", "2620:fe::fe", "2620:fe::9",
    "208.67.222.222", "208.67.220.220", "94.140.14.14", "94.140.15.15",
]  # fmt: skip


class CovertChannelConfig(_Model):
    """Tunnels around DNS inspection: data in ICMP echo, DNS over HTTPS/TLS."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=10, description="One finding per kind and host pair in this much time."
    )
    icmp_tunnel: bool = Field(default=True, description="Report data carried in ICMP echo.")
    icmp_min_bytes: int = Field(
        default=65_536, ge=1,
        description="Bytes in one ICMP echo session (flow) that make a tunnel...",
    )
    icmp_min_mean_packet_bytes: int = Field(
        default=200, ge=1,
        description="...at this mean frame size: ping sends 74 (Windows) to 98 (Linux) bytes.",
    )
    encrypted_dns: bool = Field(
        default=True,
        description="Report DNS over HTTPS to public resolvers and DNS over TLS (port 853) "
        "to outside servers: it hides the host's DNS, and DNS tunnels, from the sensor.",
    )
    public_resolvers: list[str] = Field(
        default=DEFAULT_PUBLIC_RESOLVERS,
        description="Addresses where TLS on port 443 is DNS over HTTPS.",
    )
    doh_names: list[str] = Field(
        default=["cloudflare-dns.com", "dns.google", "dns.quad9.net", "doh.opendns.com",
                 "dns.adguard-dns.com", "dns.nextdns.io"],
        description="TLS server names of DNS-over-HTTPS services (and their subdomains).",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported host pairs remembered to suppress repeats."
    )

    @field_validator("public_resolvers")
    @classmethod
    def _check_resolvers(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address") from None
        return value
