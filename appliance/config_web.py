"""Configuration of the web UI (``web:`` in appliance.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from appliance.config_base import _Model


class WebConfig(_Model):
    """The web UI: where it listens, its certificate, sessions and login lockout."""

    bind: str = Field(
        default="0.0.0.0:8443", description="Address and port of the HTTPS web UI."
    )
    workers: int = Field(default=2, ge=1, le=32, description="gunicorn worker processes.")
    tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate; empty means a self-signed one in data_dir/web/.",
    )
    tls_key: Path | None = Field(
        default=None, description="PEM private key of tls_cert (data_dir/web/ if empty)."
    )
    language: Literal["vi", "en"] = Field(
        default="vi", description="Default language of the web UI and reports (vi or en)."
    )
    session_hours: int = Field(
        default=12, ge=1, le=24 * 30, description="A login lasts this many hours."
    )
    lockout_attempts: int = Field(
        default=5, ge=1, le=100, description="Failed logins in a row before an account locks."
    )
    lockout_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="How long a locked account stays locked."
    )
