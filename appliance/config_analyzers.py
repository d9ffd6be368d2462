"""Configuration of the analyzers: one section each, and the `analyzers:` section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
)

from appliance.config_attacks import (
    LateralMovementConfig,
    QuicConfig,
    StealthScanConfig,
    SuspiciousHttpConfig,
    WebAttackConfig,
)
from appliance.config_base import Cidr, IPv4, Mac, _check_ipv4_or_mac, _Model
from appliance.config_traffic import (
    BeaconConfig,
    CovertChannelConfig,
    DnsTunnelConfig,
    ExfiltrationConfig,
    FloodConfig,
    ScanConfig,
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



class AnalyzersConfig(_Model):
    """Analyzers over EVE records, with their thresholds."""

    capture_loss: CaptureLossConfig = Field(default_factory=CaptureLossConfig)
    arp_spoof: ArpSpoofConfig = Field(default_factory=ArpSpoofConfig)
    rogue_dhcp: RogueDhcpConfig = Field(default_factory=RogueDhcpConfig)
    name_poisoning: NamePoisoningConfig = Field(default_factory=NamePoisoningConfig)
    tls: TlsHygieneConfig = Field(default_factory=TlsHygieneConfig)
    malware_file: MalwareFileConfig = Field(default_factory=MalwareFileConfig)
    threat_intel: ThreatIntelConfig = Field(default_factory=ThreatIntelConfig)
    brute_force: BruteForceConfig = Field(default_factory=BruteForceConfig)
    cleartext: CleartextCredentialsConfig = Field(default_factory=CleartextCredentialsConfig)
    scan: ScanConfig = Field(default_factory=ScanConfig)
    flood: FloodConfig = Field(default_factory=FloodConfig)
    exfiltration: ExfiltrationConfig = Field(default_factory=ExfiltrationConfig)
    beacon: BeaconConfig = Field(default_factory=BeaconConfig)
    dns_tunnel: DnsTunnelConfig = Field(default_factory=DnsTunnelConfig)
    covert_channel: CovertChannelConfig = Field(default_factory=CovertChannelConfig)
    web_attack: WebAttackConfig = Field(default_factory=WebAttackConfig)
    lateral_movement: LateralMovementConfig = Field(default_factory=LateralMovementConfig)
    stealth_scan: StealthScanConfig = Field(default_factory=StealthScanConfig)
    suspicious_http: SuspiciousHttpConfig = Field(default_factory=SuspiciousHttpConfig)
    quic: QuicConfig = Field(default_factory=QuicConfig)


#: Kinds of indicator of compromise (IOC) spanwatch matches.
