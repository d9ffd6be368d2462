"""The ingest API's certificate: the admin's, the web UI's, or one of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.center.tls import center_certificate, cert_fingerprint, self_signed, write_pair
from appliance.config import AppConfig
from appliance.errors import ConfigError


def test_own_then_web_then_configured(tmp_path: Path) -> None:
    cfg = AppConfig.model_validate({"data_dir": str(tmp_path)})
    cert, key = center_certificate(cfg)
    assert cert == tmp_path / "center" / "tls.crt" and key.stat().st_mode & 0o077 == 0
    assert center_certificate(cfg) == (cert, key)  # made once
    assert len(cert_fingerprint(cert.read_bytes()).split(":")) == 32
    write_pair(tmp_path / "web" / "tls.crt", tmp_path / "web" / "tls.key",
               *self_signed("web", ("localhost",)))  # fmt: skip
    assert center_certificate(cfg)[0] == tmp_path / "web" / "tls.crt"
    mine = AppConfig.model_validate({"data_dir": str(tmp_path), "center": {
        "tls_cert": str(tmp_path / "nope.crt"), "tls_key": str(tmp_path / "nope.key")}})
    with pytest.raises(ConfigError, match="does not exist"):
        center_certificate(mine)
