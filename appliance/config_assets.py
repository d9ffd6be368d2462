"""Configuration of the asset inventory and risk scores (the ``assets:`` section)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from appliance.config_base import _Model


class OsFingerprint(_Model):
    """A TLS client fingerprint known to belong to one operating system's stack."""

    kind: Literal["ja3", "ja4"] = Field(description="Fingerprint kind: ja3 (hash) or ja4.")
    value: str = Field(description="The JA3 hash or JA4 string as Suricata logs it.")
    os: str = Field(description="Operating system it points to (e.g. Windows 10/11).")


class RiskConfig(_Model):
    """How risk scores weigh evidence, exposure and criticality (points out of 100)."""

    half_life_days: float = Field(
        default=7.0, gt=0, description="An alert or finding counts half as much after this long."
    )
    max_age_days: int = Field(
        default=30, ge=1, description="Evidence older than this no longer counts."
    )
    severity_points: list[float] = Field(
        default=[30.0, 15.0, 5.0], min_length=3, max_length=3,
        description="Points of one finding or alert of severity 1 (high), 2, 3 at full "
        "confidence, fresh, with the host as the offender.",
    )
    victim_weight: float = Field(
        default=0.5, ge=0, le=1, description="Share of those points when the host was the target."
    )
    incident_points: dict[str, float] = Field(
        default={"critical": 40.0, "high": 25.0, "medium": 12.0, "low": 4.0},
        description="Points of one open incident by severity (host as attacker; victim: "
        "times victim_weight).",
    )
    external_service_points: float = Field(
        default=6.0, ge=0, description="Per service reached from outside HOME_NET."
    )
    cleartext_service_points: float = Field(
        default=4.0, ge=0, description="Per cleartext service offered (telnet, ftp, pop3, ...)."
    )
    weak_tls_points: float = Field(
        default=5.0, ge=0, description="Per service negotiating SSL or TLS older than 1.2."
    )
    criticality_factor: dict[str, float] = Field(
        default={"low": 0.8, "normal": 1.0, "high": 1.25, "critical": 1.5},
        description="Multiplier of a host's points by its criticality.",
    )


class AssetsConfig(_Model):
    """The passive asset inventory and the risk scores built on it."""

    enabled: bool = Field(default=True, description="Build the inventory from stored traffic.")
    oui_files: list[Path] = Field(
        default=[Path("/usr/share/ieee-data/oui.csv"), Path("/usr/share/ieee-data/mam.csv"),
                 Path("/usr/share/ieee-data/oui36.csv"), Path("/usr/share/ieee-data/iab.csv")],
        description="IEEE registries naming MAC vendors (Debian package ieee-data).",
    )
    batch_chunks: int = Field(
        default=8, ge=1, le=1000, description="Store chunks read per inventory transaction "
        "(a chunk holds up to ingest.batch_size records, all in memory at once).",
    )
    max_names_per_host: int = Field(
        default=50, ge=1, description="Names kept per address and source (shared TLS hosts)."
    )
    max_outside_names: int = Field(
        default=200_000, ge=1000, description="Names of hosts outside HOME_NET kept (DNS "
        "answers name much of the Internet); the least recently seen go first.",
    )
    os_fingerprints: list[OsFingerprint] = Field(
        default=[], description="JA3/JA4 client fingerprints that identify an OS's TLS stack."
    )
    risk: RiskConfig = Field(default_factory=RiskConfig)
