"""The one typed, validated configuration of an appliance (``appliance.yaml``).

Precedence: model defaults < the YAML file < ``SPANWATCH_*`` environment < CLI flags,
merged into one mapping before a single validation, so every error names the file,
the line, the field and the problem.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from appliance.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/spanwatch/appliance.yaml")
ENV_PREFIX = "SPANWATCH_"
# Environment variables that are not configuration overrides.
_ENV_NOT_CONFIG = {"SPANWATCH_CONFIG", "SPANWATCH_TESTDATA"}
_IFACE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not a network in CIDR form (e.g. 10.0.0.0/8)") from None


Cidr = Annotated[str, BeforeValidator(str), AfterValidator(_check_cidr)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorConfig(_Model):
    """Identity of this sensor."""

    name: str = Field(
        default_factory=lambda: socket.gethostname().split(".")[0] or "sensor",
        description="Sensor name stored with every event (default: the host name).",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("must be 1-63 letters, digits, '.', '_' or '-'")
        return value


class NetworksConfig(_Model):
    """The monitored networks: Suricata's HOME_NET and EXTERNAL_NET."""

    home: list[Cidr] = Field(
        default=["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        description="Monitored networks (HOME_NET), as CIDRs.",
    )
    external: list[Cidr] | None = Field(
        default=None,
        description="EXTERNAL_NET as CIDRs; empty means everything outside HOME_NET.",
    )

    @field_validator("home")
    @classmethod
    def _check_home_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one monitored network is required")
        return value


class InterfaceConfig(_Model):
    """One capture (SPAN/mirror) interface."""

    name: str = Field(description="Interface name, e.g. eth1.")
    threads: int | Literal["auto"] = Field(default="auto", description="Capture threads.")
    cluster_id: int = Field(default=99, ge=0, le=65535, description="AF_PACKET fanout group.")
    bpf_filter: str = Field(default="", description="Optional BPF filter for Suricata.")

    @field_validator("name")
    @classmethod
    def _check_iface(cls, value: str) -> str:
        if not _IFACE_RE.match(value):
            raise ValueError("is not a valid interface name (1-15 characters)")
        return value


class PcapRingConfig(_Model):
    """Suricata's conditional pcap ring: packets of flows that raised an alert."""

    enabled: bool = Field(default=True, description="Keep packets of alerting flows.")
    file_size_mb: int = Field(default=64, ge=1, description="Size of one ring file.")
    max_files: int = Field(default=100, ge=2, description="Number of ring files.")


class SuricataConfig(_Model):
    """How spanwatch runs Suricata."""

    binary: Path = Field(default=Path("/usr/bin/suricata"), description="Suricata binary.")
    classification_file: Path = Field(
        default=Path("/etc/suricata/classification.config"),
        description="Suricata classification.config.",
    )
    reference_config_file: Path = Field(
        default=Path("/etc/suricata/reference.config"),
        description="Suricata reference.config.",
    )
    run_dir: Path = Field(
        default=Path("/run/spanwatch"), description="Directory for the unix sockets."
    )
    pcap_ring: PcapRingConfig = Field(default_factory=PcapRingConfig)
    file_extraction: bool = Field(default=True, description="Store files seen on the wire.")
    file_max_mb: int = Field(default=20, ge=1, description="Largest file extracted.")
    midstream: bool = Field(
        default=True, description="Pick up TCP sessions already running when capture starts."
    )
    checksum_checks: Literal["auto", "yes", "no"] = Field(
        default="auto", description="TCP/IP checksum validation (mirrored traffic: auto)."
    )


class RuleSource(_Model):
    """A rule source handed to suricata-update."""

    name: str = Field(description="Source name, e.g. et/open or local-bundle.")
    url: str | None = Field(default=None, description="Download URL (online appliances).")
    path: Path | None = Field(default=None, description="Local rules file, directory or bundle.")
    enabled: bool = Field(default=True)


class RulesConfig(_Model):
    """Rule sources and the project's own local rules."""

    local: list[Path] = Field(
        default=[Path("/etc/spanwatch/rules/local.rules")],
        description="Our own rule files, always loaded.",
    )
    sources: list[RuleSource] = Field(
        default=[RuleSource(name="et/open")],
        description="suricata-update sources; et/open needs the Internet.",
    )
    update_binary: Path = Field(
        default=Path("/usr/bin/suricata-update"), description="suricata-update binary."
    )


class RetentionBudget(_Model):
    """Age and size budget for one kind of data."""

    max_days: int = Field(ge=1, description="Delete data older than this many days.")
    max_mb: int = Field(ge=1, description="Delete the oldest data beyond this many MiB.")


class RetentionConfig(_Model):
    """Retention budgets, on by default."""

    alerts: RetentionBudget = Field(
        default=RetentionBudget(max_days=365, max_mb=4096),
        description="Alerts, findings and anomalies in the store.",
    )
    metadata: RetentionBudget = Field(
        default=RetentionBudget(max_days=30, max_mb=16384),
        description="Protocol metadata in the store: flow, dns, http, tls, files, stats...",
    )
    pcap: RetentionBudget = Field(
        default=RetentionBudget(max_days=14, max_mb=20480),
        description="Evidence pcap of alerting flows and extracted files on disk.",
    )


class IngestConfig(_Model):
    """How the sensor reads EVE and writes batches."""

    batch_size: int = Field(default=5000, ge=1, le=100000, description="Records per batch.")
    batch_seconds: float = Field(
        default=0.5, gt=0, le=60, description="Longest wait before a partial batch is written."
    )
    max_line_bytes: int = Field(
        default=8 * 1024 * 1024, ge=4096, description="Longer EVE lines go to the dead letters."
    )


class CaptureLossConfig(_Model):
    """The built-in capture-loss analyzer (kernel drops from Suricata's stats)."""

    enabled: bool = Field(default=True)
    max_drop_percent: float = Field(
        default=1.0, gt=0, le=100, description="Drops above this share of packets raise a finding."
    )
    min_packets: int = Field(
        default=1000, ge=1, description="Ignore intervals with fewer packets than this."
    )


#: How Suricata writes each kind of fingerprint (SHA-1 also without colons).
_FINGERPRINT_FORMS = {
    "ja3": "[0-9a-f]{32}", "ja3s": "[0-9a-f]{32}",
    "cert-sha1": "[0-9a-f]{40}|([0-9a-f]{2}:){19}[0-9a-f]{2}",
    "ja4": "[tqd][0-9a-z]{9}_[0-9a-f]{12}_[0-9a-f]{12}",
}  # fmt: skip


class TlsFingerprint(_Model):
    """A TLS fingerprint of known-bad software: a client (JA3, JA4), a server's answer
    (JA3S) or a server certificate (its SHA-1 fingerprint)."""

    kind: Literal["ja3", "ja3s", "ja4", "cert-sha1"] = Field(description="What the hash is of.")
    hash: str = Field(description="The fingerprint as Suricata logs it.")
    name: str = Field(description="What it identifies, shown in the finding.")
    ja3s: str | None = Field(
        default=None,
        description="For kind ja3: match only when the server answers with this JA3S too.",
    )
    category: Literal["command-and-control", "threat-intel", "policy"] = Field(
        default="threat-intel", description="Finding category of a match."
    )
    reference: str = Field(default="", description="Where the fingerprint is published.")

    @field_validator("hash", "ja3s")
    @classmethod
    def _check_hash(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        kind = "ja3s" if info.field_name == "ja3s" else info.data.get("kind")
        if not re.fullmatch(_FINGERPRINT_FORMS.get(kind, "$^"), value):
            raise ValueError(f"{value!r} is not a {kind} fingerprint")
        return value


#: JA3 + JA3S pairs published by JA3's authors as examples of malware talking to its own
#: C2 servers: J. Althouse, "TLS Fingerprinting with JA3 and JA3S", Salesforce
#: Engineering, 2019-01-15 (also github.com/salesforce/ja3, README). A JA3 alone is shared
#: by other programs built on the same TLS library; the pair is what the post matches.
_JA3S_BLOG = "Althouse 2019, TLS Fingerprinting with JA3 and JA3S (Salesforce)"
DEFAULT_TLS_FINGERPRINTS = (
    TlsFingerprint(kind="ja3", hash="6734f37431670b3ab4292b8f60f29984",
                   ja3s="623de93db17d313345d7ea481e7443cf", name="Trickbot malware and its C2",
                   category="command-and-control", reference=_JA3S_BLOG),
    TlsFingerprint(kind="ja3", hash="4d7a28d6f2263ed61de88ca66eb011e3",
                   ja3s="80b3a14bccc8598a1f3bbe83e71f735f", name="Emotet malware and its C2",
                   category="command-and-control", reference=_JA3S_BLOG),
)  # fmt: skip


class TlsHygieneConfig(_Model):
    """TLS hygiene: broken certificates, outdated versions, known-bad fingerprints."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1,
        description="One finding per problem, server and server name in this much time.",
    )  # fmt: skip
    clock_skew_seconds: int = Field(
        default=300, ge=0,
        description="Validity dates are checked with this much tolerance for clock skew.",
    )  # fmt: skip
    weak_versions: list[Literal["SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1"]] = Field(
        default=["SSLv2", "SSLv3", "TLS 1.0", "TLS 1.1"],
        description="Negotiated versions reported as weak (RFC 6176, 7568, 8996).",
    )
    exempt_servers: list[Cidr] = Field(
        default=[],
        description="Servers whose certificate problems are known and accepted (CIDRs).",
    )
    fingerprints: list[TlsFingerprint] = Field(
        default=list(DEFAULT_TLS_FINGERPRINTS),
        description="Known-bad fingerprints: kind (ja3, ja3s, ja4, cert-sha1), hash, name.",
    )
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported findings remembered to suppress repeats."
    )


class MalwareFileConfig(_Model):
    """Malware files: hashes of files seen on the wire and YARA rules over stored files."""

    enabled: bool = Field(default=True)
    include_eicar: bool = Field(
        default=True, description="Report the harmless EICAR anti-virus test file."
    )
    hash_lists: list[Path] = Field(
        default=[],
        description="Files of MD5, SHA-1 or SHA-256 hashes, one per line, each optionally "
        "followed by a name; '#' starts a comment.",
    )
    yara_rules: list[Path] = Field(
        default=[],
        description="YARA rule files, or folders of *.yar/*.yara, run over the files Suricata "
        "stored (needs yara-python).",
    )
    file_dirs: list[Path] = Field(
        default=[],
        description="More Suricata file-store folders to look in; the sensors' and analyze "
        "runs' own under data_dir are always searched.",
    )
    yara_timeout_seconds: int = Field(
        default=10, ge=1, description="Longest YARA scan of one file."
    )
    window_seconds: int = Field(
        default=3600, ge=1,
        description="One finding per file, sender and receiver in this much time.",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported findings remembered to suppress repeats."
    )

    @field_validator("hash_lists", "yara_rules")
    @classmethod
    def _check_exists(cls, value: list[Path]) -> list[Path]:
        missing = [str(path) for path in value if not path.exists()]
        if missing:
            raise ValueError(f"not found: {', '.join(missing)}")
        return value

    @field_validator("yara_rules")
    @classmethod
    def _check_yara(cls, value: list[Path]) -> list[Path]:
        from importlib.util import find_spec

        if value and find_spec("yara") is None:
            raise ValueError(
                "YARA rules are configured but yara-python is not installed "
                "(pip install yara-python)"
            )
        return value


def _check_ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _check_mac(value: str) -> str:
    mac = str(value).strip().lower().replace("-", ":")
    if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac):
        raise ValueError(f"{value!r} is not a MAC address (e.g. 00:25:b3:bf:91:ee)")
    return mac


def _check_ipv4_or_mac(value: str) -> str:
    return _check_mac(value) if ":" in str(value) or "-" in str(value) else _check_ipv4(value)


IPv4 = Annotated[str, BeforeValidator(str), AfterValidator(_check_ipv4)]
Mac = Annotated[str, AfterValidator(_check_mac)]


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


class ArpSpoofConfig(_Model):
    """Layer-2 packet analyzer: ARP spoofing (claims that contradict, flip-flop or flood)."""

    enabled: bool = Field(default=True)
    window_seconds: float = Field(
        default=600, gt=0,
        description="ARP claims are compared over this long; one finding per MAC in it.",
    )
    max_ips_per_mac: int = Field(
        default=16, ge=2,
        description="A MAC claiming more IPv4 addresses than this in the window impersonates "
        "hosts (an ordinary host claims one; put multi-address routers in allowed_macs).",
    )
    garp_flood_count: int = Field(
        default=30, ge=2,
        description="Gratuitous ARPs from one MAC within garp_flood_seconds that make a flood "
        "(RFC 5227 announces twice; keepalived sends 5 plus 5 on a failover).",
    )
    garp_flood_seconds: float = Field(default=10, gt=0, description="Flood window.")
    gateways: list[IPv4] = Field(
        default=[],
        description="Gateways: another MAC claiming one is reported at once (routers named in "
        "DHCP offers are added as they are seen).",
    )
    allowed_macs: list[Mac] = Field(
        default=[],
        description="MACs never reported: VRRP/HSRP virtual MACs, proxy-ARP routers, "
        "load balancers with many virtual IPs.",
    )


class RogueDhcpConfig(_Model):
    """Layer-2 packet analyzer: DHCP servers that should not answer."""

    enabled: bool = Field(default=True)
    allowed_servers: list[Annotated[str, AfterValidator(_check_ipv4_or_mac)]] = Field(
        default=[],
        description="DHCP servers allowed to answer: server identifiers (IPv4) or MACs. Empty: "
        "the first server seen is taken as legitimate and every other one is reported.",
    )
    window_seconds: float = Field(
        default=3600, gt=0, description="One finding per server in this long."
    )


class NamePoisoningConfig(_Model):
    """Layer-2 packet analyzer: LLMNR / NBT-NS / mDNS poisoning (Responder and the like)."""

    enabled: bool = Field(default=True)
    min_names: int = Field(
        default=3, ge=2,
        description="Distinct names one host answers for with an address within the window "
        "that make it a poisoner (a host answers for its own name, rarely two).",
    )
    window_seconds: float = Field(
        default=600, gt=0, description="Answers are counted over this long; one finding per host."
    )
    allowed_responders: list[IPv4] = Field(
        default=[],
        description="Hosts allowed to answer for others: WINS servers, Bonjour sleep proxies.",
    )


class ThreatIntelConfig(_Model):
    """Threat intelligence: EVE records that touch an indicator of the intel feeds."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1, description="One finding per indicator and host in each window this "
        "long (event time): a host that keeps contacting an indicator shows up again hourly.",
    )
    max_tracked: int = Field(
        default=100_000, ge=100, description="Indicator-host pairs remembered to suppress repeats."
    )


class BruteForceConfig(_Model):
    """Brute force and password spraying: failed logins from one source to one service."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=600, ge=60,
        description="Failures are counted per source, service and server in windows this "
        "long (Windows' default lockout counter resets after 10 minutes).",
    )  # fmt: skip
    min_failures: int = Field(
        default=10, ge=2,
        description="Failed logins in one window that make a brute force: Windows' default "
        "lockout threshold, twice what CIS baselines allow a person.",
    )  # fmt: skip
    min_spray_users: int = Field(
        default=5, ge=2,
        description="Distinct rejected accounts in one window that make password spraying.",
    )  # fmt: skip
    spray_failed_share: float = Field(
        default=0.5, gt=0, le=1,
        description="Spraying also needs this share of the accounts tried to be rejected "
        "(a shared host logging many people in mostly succeeds).",
    )  # fmt: skip
    max_attempts_per_sprayed_user: int = Field(
        default=3, ge=1,
        description="Spraying tries each account a few times; more failures per account is "
        "brute force.",
    )  # fmt: skip
    session_ports: list[int] = Field(
        default=[22, 3389],
        description="Services whose login result is encrypted (SSH, RDP): a short session "
        "counts as a failed guess. Add 389/636 only where LDAP clients keep connections open.",
    )  # fmt: skip
    short_session_seconds: float = Field(
        default=30, gt=0, description="A session at most this long may be a failed login..."
    )
    short_session_bytes: int = Field(
        default=10_000, ge=0,
        description="...if the server sent at most this many bytes (no shell, no transfer).",
    )  # fmt: skip
    exempt_clients: list[Cidr] = Field(
        default=[],
        description="Sources never reported: reverse proxies, NAT gateways, automation hosts.",
    )
    max_tracked: int = Field(
        default=20_000, ge=100, description="Open windows kept; the oldest is judged early."
    )


class CleartextCredentialsConfig(_Model):
    """Passwords sent in cleartext (FTP, POP3, telnet, HTTP Basic and forms, LDAP)."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1,
        description="One finding per protocol, client, server and user in this much time.",
    )  # fmt: skip
    ignore_users: list[str] = Field(
        default=["anonymous", "ftp"],
        description="Users whose password is no secret (anonymous FTP, RFC 1635).",
    )
    form_logins: bool = Field(
        default=True,
        description="Report POSTs to login URIs over plain HTTP (Suricata does not log the "
        "body, so the password is inferred from the URI).",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported findings remembered to suppress repeats."
    )


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


class AnalyzersConfig(_Model):
    """Analyzers over EVE records, with their thresholds."""

    capture_loss: CaptureLossConfig = Field(default_factory=CaptureLossConfig)
    threat_intel: ThreatIntelConfig = Field(default_factory=ThreatIntelConfig)
    arp_spoof: ArpSpoofConfig = Field(default_factory=ArpSpoofConfig)
    rogue_dhcp: RogueDhcpConfig = Field(default_factory=RogueDhcpConfig)
    name_poisoning: NamePoisoningConfig = Field(default_factory=NamePoisoningConfig)
    tls: TlsHygieneConfig = Field(default_factory=TlsHygieneConfig)
    malware_file: MalwareFileConfig = Field(default_factory=MalwareFileConfig)
    beacon: BeaconConfig = Field(default_factory=BeaconConfig)
    dns_tunnel: DnsTunnelConfig = Field(default_factory=DnsTunnelConfig)
    covert_channel: CovertChannelConfig = Field(default_factory=CovertChannelConfig)
    brute_force: BruteForceConfig = Field(default_factory=BruteForceConfig)
    cleartext: CleartextCredentialsConfig = Field(default_factory=CleartextCredentialsConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    flood: FloodConfig = Field(default_factory=FloodConfig)
    exfiltration: ExfiltrationConfig = Field(default_factory=ExfiltrationConfig)


#: Kinds of indicator of compromise (IOC) spanwatch matches.
IndicatorType = Literal["ip", "cidr", "domain", "url", "md5", "sha1", "sha256", "ja3"]


class IntelCsvColumns(_Model):
    """Header names of the columns of a CSV feed."""

    indicator: str = Field(default="indicator", description="Column of the indicator.")
    type: str = Field(default="type", description="Column of its type (absent: inferred).")
    feed: str = Field(default="feed", description="Column of the original feed (optional).")


class IntelFeed(_Model):
    """One file of indicators of compromise."""

    name: str = Field(description="Feed name, named by every match.")
    path: Path = Field(description="The feed file.")
    format: Literal["auto", "text", "csv", "stix", "misp"] = Field(
        default="auto", description="auto: .csv is CSV, JSON is STIX 2.1 or MISP, else text."
    )
    enabled: bool = Field(default=True)
    type: IndicatorType | None = Field(
        default=None, description="Type of entries that do not state one (e.g. ja3 for a list "
        "of JA3 hashes); none: inferred from each value."
    )
    columns: IntelCsvColumns = Field(default_factory=IntelCsvColumns)

    @field_validator("name")
    @classmethod
    def _check_feed_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("must be 1-63 letters, digits, '.', '_' or '-'")
        return value


class IntelConfig(_Model):
    """Threat intelligence: IOC feeds matched on EVE and exported as Suricata datasets."""

    feeds: list[IntelFeed] = Field(
        default=[],
        description="Feeds: {name, path, format: auto|text|csv|stix|misp, enabled, type, "
        "columns: {indicator, type, feed}}.",
    )

    @field_validator("feeds")
    @classmethod
    def _check_unique_feeds(cls, value: list[IntelFeed]) -> list[IntelFeed]:
        names = [f.name for f in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feed listed twice: {', '.join(dupes)}")
        return value


class AppConfig(_Model):
    """The appliance configuration."""

    sensor: SensorConfig = Field(default_factory=SensorConfig)
    networks: NetworksConfig = Field(default_factory=NetworksConfig)
    interfaces: list[InterfaceConfig] = Field(default=[], description="SPAN interfaces.")
    data_dir: Path = Field(
        default=Path("/var/lib/spanwatch"), description="Store, EVE logs, pcap, files."
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="Time zone for display.")
    suricata: SuricataConfig = Field(default_factory=SuricataConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    analyzers: AnalyzersConfig = Field(default_factory=AnalyzersConfig)
    intel: IntelConfig = Field(default_factory=IntelConfig)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"{value!r} is not a known time zone (e.g. Asia/Ho_Chi_Minh)"
            raise ValueError(msg) from None
        return value

    @field_validator("interfaces")
    @classmethod
    def _check_unique_ifaces(cls, value: list[InterfaceConfig]) -> list[InterfaceConfig]:
        names = [i.name for i in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"interface listed twice: {', '.join(dupes)}")
        return value

    @property
    def store_path(self) -> Path:
        """SQLite file of the embedded store."""
        return self.data_dir / "spanwatch.db"

    @property
    def rules_dir(self) -> Path:
        """The active ruleset (``suricata.rules``) and its last good copy."""
        return self.data_dir / "rules"

    def sensor_dir(self, interface: str) -> Path:
        """Suricata's output for one capture interface: eve.json, pcap ring, files."""
        return self.data_dir / "sensors" / interface

    def interface(self, name: str) -> InterfaceConfig:
        """The configured interface ``name``, or a default one for an unlisted name."""
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        return InterfaceConfig(name=name)


def load_config(
    path: Path | str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> AppConfig:
    """Load, merge and validate the configuration.

    ``path`` None means ``$SPANWATCH_CONFIG`` or /etc/spanwatch/appliance.yaml when it
    exists, else defaults only. ``overrides`` are CLI flags as dotted keys.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "SPANWATCH_CONFIG" in env
    cfg_path = Path(path or env.get("SPANWATCH_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    root_node: yaml.Node | None = None
    try:
        present = cfg_path.exists()
    except OSError as err:  # e.g. /etc/spanwatch not readable by this user
        raise ConfigError(f"{cfg_path}: cannot read configuration: {err}") from None
    if explicit or present:
        data, root_node = _read_yaml(cfg_path)
    source = str(cfg_path) if root_node is not None else "<defaults>"
    # Where each overridden key came from, so an error names the variable or the flag
    # instead of the file line the override replaced.
    origins: dict[str, str] = {}
    for key, (name, value) in _env_overrides(env).items():
        _set_dotted(data, key, value)
        origins[key] = f"environment {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
            origins[key] = f"command line ({key})"
    try:
        return AppConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source, root_node, origins)) from None


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read configuration: {err}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}, node
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the configuration must be a mapping of sections")
    return data, node


def _env_overrides(env: dict[str, str] | os._Environ[str]) -> dict[str, tuple[str, Any]]:
    """``SPANWATCH_DATA_DIR=/x`` -> ``data_dir``; ``SPANWATCH_SENSOR__NAME`` -> ``sensor.name``.

    Values map to (variable name, value). Lists and mappings are YAML; scalars stay
    strings, which pydantic converts for numeric and boolean fields, so that a sensor
    named ``2024`` or a ``checksum_checks`` of ``no`` keep their meaning.
    """
    out: dict[str, tuple[str, Any]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_CONFIG:
            continue
        key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if key.split(".")[0] not in AppConfig.model_fields:
            continue
        try:
            parsed = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            parsed = raw
        is_structured = parsed is None or isinstance(parsed, list | dict)
        out[key] = (name, parsed if is_structured and raw else raw)
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _format_errors(
    err: ValidationError, source: str, root: yaml.Node | None, origins: dict[str, str]
) -> str:
    lines = []
    for item in err.errors():
        loc = [p for p in item["loc"]]
        field = ".".join(str(p) for p in loc) or "(top level)"
        origin = next((origins[k] for k in _prefixes(loc) if k in origins), None)
        line = _line_of(root, loc)
        where = origin or (f"{source}:{line}" if line else source)
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling against appliance.example.yaml)"
        lines.append(f"{where}: {field}: {msg}")
    return "\n".join(lines)


def _prefixes(loc: list[Any]) -> list[str]:
    """Dotted keys of ``loc`` and its parents, longest first."""
    return [".".join(str(p) for p in loc[:n]) for n in range(len(loc), 0, -1)]


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """1-based line of the YAML node at ``loc``, or of its closest existing parent."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for index, part in enumerate(loc):
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child = value_node if index < len(loc) - 1 else key_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is None:
            break
        node = child
        best = node.start_mark.line + 1
    return best
