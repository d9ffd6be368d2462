"""The passive asset inventory: every host inside HOME_NET seen on the wire.

Built from stored traffic by :mod:`appliance.assets.inventory` (incrementally, behind a
cursor on the event store's chunks), read and edited through
:class:`appliance.assets.service.AssetService` (``Service.assets``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.risk import RiskScore

#: Criticality an admin gives an asset, lowest first.
CRITICALITIES = ("low", "normal", "high", "critical")

#: Where a host name came from, in both languages.
NAME_SOURCES: dict[str, tuple[str, str]] = {
    "dhcp": ("DHCP hostname (option 12)", "Tên máy trong DHCP (tùy chọn 12)"),
    "dns": ("DNS answer", "Trả lời DNS"),
    "dns-ptr": ("DNS reverse (PTR) answer", "Trả lời DNS ngược (PTR)"),
    "tls-sni": ("TLS server name (SNI) asked by a client",
                "Tên máy chủ TLS (SNI) do máy khách hỏi"),
    "tls-cert": ("TLS certificate subject or alternative name",
                 "Chủ thể hoặc tên thay thế trong chứng chỉ TLS"),
    "http-host": ("HTTP Host header", "Tiêu đề HTTP Host"),
    "netbios": ("NetBIOS name in SMB (NTLMSSP)", "Tên NetBIOS trong SMB (NTLMSSP)"),
    "kerberos": ("Kerberos machine account", "Tài khoản máy trong Kerberos"),
    "smtp-helo": ("SMTP HELO/EHLO", "Lời chào SMTP HELO/EHLO"),
    "rdp": ("RDP client name", "Tên máy khách RDP"),
}  # fmt: skip


def ip_key(ip: str) -> bytes:
    """16 bytes that sort addresses numerically (IPv4 as IPv4-mapped IPv6)."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return ipaddress.IPv6Address(f"::ffff:{addr}").packed
    return addr.packed


@dataclass(frozen=True, slots=True)
class Asset:
    """One host of the inventory, as a list shows it."""

    ip: str
    macs: list[str] = field(default_factory=list)
    vendor: str | None = None
    hostnames: list[tuple[str, str]] = field(default_factory=list)
    os_guess: str | None = None
    os_basis: str = ""
    services: list[dict[str, Any]] = field(default_factory=list)
    first_seen: int | None = None
    last_seen: int | None = None
    sensors: list[str] = field(default_factory=list)
    owner: str | None = None
    agency: str | None = None
    criticality: str = "normal"
    tags: list[str] = field(default_factory=list)
    risk: int | None = None

    @property
    def name(self) -> str | None:
        """The name to show first: DHCP, NetBIOS or Kerberos (the host's own), then others."""
        for source in ("dhcp", "netbios", "kerberos", "dns-ptr", "dns", "tls-sni", "tls-cert"):
            for name, src in self.hostnames:
                if src == source:
                    return name
        return self.hostnames[0][0] if self.hostnames else None

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` and the API."""
        return {
            "ip": self.ip, "name": self.name, "macs": self.macs, "vendor": self.vendor,
            "hostnames": [{"name": n, "source": s} for n, s in self.hostnames],
            "os_guess": self.os_guess, "os_basis": self.os_basis, "services": self.services,
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "sensors": self.sensors, "owner": self.owner, "agency": self.agency,
            "criticality": self.criticality, "tags": self.tags, "risk": self.risk,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssetDetail:
    """One host with everything known: names with their sources and times, OS clues,
    services, MACs, and its current risk score with the factors."""

    asset: Asset
    names: list[dict[str, Any]] = field(default_factory=list)
    macs: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    os_hints: list[dict[str, Any]] = field(default_factory=list)
    risk: RiskScore | None = None
    #: Other addresses the same MAC had (a DHCP lease that moved): ip, mac, last_seen.
    same_mac: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = self.asset.as_json()
        out.update(names=self.names, mac_details=self.macs, services=self.services,
                   os_hints=self.os_hints, same_mac=self.same_mac,
                   risk_detail=self.risk.as_json() if self.risk is not None else None)
        return out
