"""Configuration of the center's ingest API and of a remote sensor's uplink (``center:``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from appliance.config_base import _Model


class RemoteConfig(_Model):
    """A remote sensor: ship events to a center instead of storing them locally."""

    url: str | None = Field(
        default=None,
        description="The center's ingest API, e.g. https://center.example:8444; empty: "
        "this sensor stores its events locally.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM certificate(s) the center's certificate must chain to (its "
        "self-signed certificate); empty: the system's CAs.",
    )
    token_file: Path | None = Field(
        default=None,
        description="This sensor's secret token (made by `spanwatch sensor enroll`); "
        "empty: data_dir/center/token.",
    )
    client_cert: bool = Field(
        default=True,
        description="Make a client certificate at enrolment (data_dir/center/client.crt) "
        "that the center pins and then requires beside the token.",
    )
    buffer_bytes: int = Field(
        default=2 * 1024**3, ge=1024 * 1024,
        description="Disk budget for batches the center has not acknowledged (outages); "
        "the oldest are dropped, counted and reported, only when it is full.",
    )
    timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Timeout of one request to the center."
    )
    backoff_max_seconds: float = Field(
        default=60.0, ge=0.1, le=3600,
        description="Longest wait between retries while the center cannot be reached.",
    )
    drain_seconds: float = Field(
        default=30.0, ge=0, le=3600,
        description="On stop, how long to keep sending what is buffered before exiting "
        "(what is left is sent at the next start).",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL (events never cross the WAN in clear)")
        return value.rstrip("/")


class CenterConfig(_Model):
    """The center: the ingest API for remote sensors, served by spanwatch core."""

    enabled: bool = Field(
        default=False, description="Serve the ingest API for remote sensors in spanwatch core."
    )
    bind: str = Field(
        default="0.0.0.0:8444", description="Address and port of the HTTPS ingest API."
    )
    tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate of the ingest API; empty: the web UI's (data_dir/web/), "
        "or a self-signed one made in data_dir/center/.",
    )
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")
    max_batch_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024,
        description="Largest compressed batch accepted (larger: 413).",
    )
    max_batch_expanded_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024,
        description="Largest batch once decompressed (larger: 413).",
    )
    max_future_seconds: int = Field(
        default=300, ge=0,
        description="Records stamped further in the future than this are rejected (counted).",
    )
    max_past_days: int = Field(
        default=30, ge=0,
        description="Records older than this are rejected (counted); 0: no limit "
        "(e.g. sensors that analyze old captures).",
    )
    down_after_seconds: int = Field(
        default=300, ge=10,
        description="A sensor not heard from for this long is shown as down.",
    )
    max_pending_enrolments: int = Field(
        default=50, ge=1, le=10000,
        description="Enrolment requests waiting for approval at most (more: refused).",
    )
    remote: RemoteConfig = Field(default_factory=RemoteConfig)

    @field_validator("bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 0.0.0.0:8444 (port 0: any free port)")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        """``bind`` split into host and port."""
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]"), int(port)
