"""Configuration of correlation and incidents (the ``incidents:`` section)."""

from __future__ import annotations

from pydantic import Field, field_validator

from appliance.config_base import _Model

#: Suricata's own decoder, stream and app-layer event rules (gid 1): checksum errors,
#: retransmissions, one-sided flows. On a mirror port they come from checksum offload,
#: asymmetric routing and drops, not from attackers.
ENGINE_EVENT_SIDS = (2200000, 2299999)
#: Engine events that still mean an attack: TLS heartbeat overflows (Heartbleed).
KEEP_ENGINE_SIDS = [2230012, 2230013]


class IncidentsConfig(_Model):
    """How alerts and findings become incidents."""

    enabled: bool = Field(
        default=True, description="Correlate alerts and findings into incidents."
    )
    window_minutes: int = Field(
        default=240, ge=1, le=10080,
        description="New evidence joins an open incident of the same hosts when it comes "
        "at most this long after the incident's last evidence.",
    )  # fmt: skip
    reopen_days: int = Field(
        default=7, ge=0, le=365,
        description="A resolved incident reopens on new evidence of the same hosts that "
        "comes at most this many days after its last evidence.",
    )  # fmt: skip
    open_min_severity: int = Field(
        default=2, ge=1, le=3,
        description="Alerts and findings of this Suricata severity or worse (1 high, 2 "
        "medium, 3 low) open incidents; milder ones only join an open incident.",
    )  # fmt: skip
    engine_noise: bool = Field(
        default=True,
        description="Treat Suricata's own decoder/stream/app-layer event alerts (gid 1, "
        "sids 2200000-2299999: invalid checksums, retransmissions ...) and anomaly "
        "records as engine noise that opens no incident.",
    )  # fmt: skip
    noise_sid_ranges: list[list[int]] = Field(
        default=[list(ENGINE_EVENT_SIDS)],
        description="Signature id ranges [first, last] treated as engine noise.",
    )
    keep_sids: list[int] = Field(
        default=KEEP_ENGINE_SIDS,
        description="Signature ids inside the noise ranges that still open incidents.",
    )

    @field_validator("noise_sid_ranges")
    @classmethod
    def _check_ranges(cls, value: list[list[int]]) -> list[list[int]]:
        for pair in value:
            if len(pair) != 2 or pair[0] > pair[1]:
                raise ValueError(f"a range is [first, last] with first <= last, not {pair}")
        return value
