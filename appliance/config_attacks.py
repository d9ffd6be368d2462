"""Configuration of the analyzers of attacks on services: web attacks and lateral movement."""

from __future__ import annotations

from pydantic import Field

from appliance.config_base import Cidr, _Model


class WebAttackConfig(_Model):
    """Attacks in HTTP requests: SQL injection, path traversal, XSS, command injection."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1,
        description="One finding per client, server and kind of attack in this much time.",
    )  # fmt: skip
    exempt_clients: list[Cidr] = Field(
        default=[],
        description="Clients whose requests are not judged (e.g. the organisation's own "
        "vulnerability scanner).",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported findings remembered to suppress repeats."
    )


class LateralMovementConfig(_Model):
    """Remote execution and credential theft over SMB and DCE/RPC."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1,
        description="One finding per client, server and technique in this much time.",
    )  # fmt: skip
    admin_shares: bool = Field(
        default=True,
        description="Report connections to administrative shares (C$, ADMIN$) at low "
        "severity; remote service creation or executable uploads are always reported.",
    )  # fmt: skip
    domain_controllers: list[Cidr] = Field(
        default=[],
        description="Domain controllers: directory replication between them is normal, "
        "from anyone else it is DCSync.",
    )  # fmt: skip
    admin_clients: list[Cidr] = Field(
        default=[],
        description="Management hosts whose remote administration is expected (no finding).",
    )
    netlogon_burst: int = Field(
        default=20, ge=2,
        description="Netlogon authentications from one client to one server within a minute "
        "that look like Zerologon (CVE-2020-1472) attempts.",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="Flows and findings remembered."
    )


class StealthScanConfig(_Model):
    """TCP probes no ordinary stack sends: NULL, FIN and Xmas scans, OS fingerprinting."""

    enabled: bool = Field(default=True)
    min_probes: int = Field(
        default=2, ge=1,
        description="Flows of flag-less or FIN-only probes from one source to one host "
        "that make a stealth scan.",
    )  # fmt: skip
    window_seconds: int = Field(
        default=3600, ge=1, description="Probes counted, and one finding per pair, in this time."
    )
    max_tracked: int = Field(
        default=100_000, ge=100, description="Source and target pairs remembered."
    )


class SuspiciousHttpConfig(_Model):
    """Malware's HTTP habits: disguised executables, random user agents, POSTs to bare IPs."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1, description="One finding per client, server and kind in this time."
    )
    post_to_bare_ip: bool = Field(
        default=True,
        description="Report browser-like POSTs to a bare IP address outside HOME_NET (how "
        "much malware reaches its controller); low severity.",
    )  # fmt: skip
    exempt_servers: list[Cidr] = Field(
        default=[], description="Servers whose downloads and POSTs are expected."
    )
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported findings remembered to suppress repeats."
    )


class QuicConfig(_Model):
    """QUIC (HTTP/3) clients that behave like no browser: a handshake without server name."""

    enabled: bool = Field(default=True)
    window_seconds: int = Field(
        default=3600, ge=1, description="One finding per client and server in this much time."
    )
    exempt_servers: list[Cidr] = Field(
        default=[],
        description="Outside servers that internal software reaches over QUIC by address "
        "(no finding).",
    )  # fmt: skip
    max_tracked: int = Field(
        default=100_000, ge=100, description="Reported findings remembered to suppress repeats."
    )
