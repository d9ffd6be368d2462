"""The web UI's TLS certificate: the admin's, or a self-signed one made at install."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from appliance.center.tls import self_signed as self_signed
from appliance.center.tls import write_pair as write_pair
from appliance.config import AppConfig
from appliance.errors import ConfigError


@dataclass(frozen=True)
class CertInfo:
    """What the settings page shows about the certificate in use."""

    subject: str
    issuer: str
    not_after: dt.datetime
    self_signed: bool
    fingerprint_sha256: str


def cert_paths(cfg: AppConfig) -> tuple[Path, Path]:
    """The configured certificate and key, or the appliance's own in data_dir/web/."""
    web_dir = cfg.data_dir / "web"
    return (cfg.web.tls_cert or web_dir / "tls.crt", cfg.web.tls_key or web_dir / "tls.key")


def ensure_certificate(cfg: AppConfig, *, extra_names: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Paths of a usable certificate and key; a self-signed pair is made if none exists."""
    cert, key = cert_paths(cfg)
    if cert.exists() and key.exists():
        return cert, key
    if cfg.web.tls_cert is not None:
        raise ConfigError(f"web.tls_cert {cert} or its key {key} does not exist")
    host = socket.gethostname()
    write_pair(cert, key, *self_signed(host, ("localhost", "127.0.0.1", "::1", *extra_names)))
    return cert, key


def check_pair(cert_pem: bytes, key_pem: bytes) -> CertInfo:
    """Validate an uploaded certificate and key (PEM, matching, not expired)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as err:
        raise ConfigError(f"the certificate is not a PEM X.509 certificate: {err}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"the key is not an unencrypted PEM private key: {err}") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise ConfigError("the private key does not belong to the certificate")
    if cert.not_valid_after_utc < dt.datetime.now(dt.UTC):
        raise ConfigError("the certificate has expired")
    return info(cert)


def info(cert: x509.Certificate) -> CertInfo:
    return CertInfo(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                    cert.not_valid_after_utc, cert.subject == cert.issuer,
                    cert.fingerprint(hashes.SHA256()).hex(":"))  # fmt: skip


def current_info(cfg: AppConfig) -> CertInfo | None:
    cert, _ = cert_paths(cfg)
    try:
        return info(x509.load_pem_x509_certificate(cert.read_bytes()))
    except (OSError, ValueError):
        return None
