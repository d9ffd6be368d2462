"""Configuration of traffic visibility: rollups at ingest, their retention, "new and unusual"."""

from __future__ import annotations

from pydantic import Field

from appliance.config_base import _Model


class TrafficRetention(_Model):
    """How long each resolution of the traffic rollups is kept (oldest buckets go first)."""

    minute_days: int = Field(
        default=7, ge=1, description="Days of per-minute rollups (older minutes live on in hours)."
    )
    hour_days: int = Field(
        default=90, ge=1, description="Days of per-hour rollups (older hours live on in days)."
    )
    day_days: int = Field(default=730, ge=1, description="Days of per-day rollups.")


class TrafficNoveltyConfig(_Model):
    """Low-severity findings for new and unusual traffic, from the rollups' history."""

    enabled: bool = Field(default=True, description="Report new and unusual traffic.")
    learning_days: float = Field(
        default=7, ge=0,
        description="A host is compared with its own history only after the rollups have "
        "known it this long, so that a new appliance or an analysed capture reports nothing.",
    )  # fmt: skip
    new_country: bool = Field(
        default=True, description="First contact of an internal server with a new country."
    )
    new_asn: bool = Field(
        default=True, description="First contact of an internal server with a new AS."
    )
    new_port: bool = Field(default=True, description="An internal host serves a new port.")
    volume_factor: float = Field(
        default=10, gt=1,
        description="A host whose bytes in one hour exceed this many times its own hourly "
        "average (over the learning period) is reported.",
    )  # fmt: skip
    volume_min_mb: float = Field(
        default=100, ge=0, description="Hours below this many MiB are never reported."
    )


class TrafficConfig(_Model):
    """Traffic rollups (bytes, packets, flows per minute, hour and day) kept at ingest."""

    enabled: bool = Field(
        default=True, description="Keep traffic rollups from flow and stats records at ingest."
    )
    geo: bool = Field(
        default=True,
        description="Look up the remote country and AS (offline GeoLite2 data shipped with "
        "the geoip2fast package; about 18 MiB of memory in each process that reads traffic).",
    )  # fmt: skip
    conversations_per_minute: int = Field(
        default=10_000, ge=100, le=10_000_000,
        description="Host pairs kept apiece per minute; beyond them (a flood with spoofed "
        "addresses, a scan) a new pair counts with its inside host and 'other hosts', so "
        "totals stay exact and the rollups stay small.",
    )  # fmt: skip
    retention: TrafficRetention = Field(default_factory=TrafficRetention)
    novelty: TrafficNoveltyConfig = Field(default_factory=TrafficNoveltyConfig)
