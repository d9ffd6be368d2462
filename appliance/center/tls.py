"""The ingest API's certificate: the configured one, the web UI's, or a self-signed one."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.config import AppConfig
from appliance.errors import ConfigError

SELF_SIGNED_DAYS = 825


def center_certificate(cfg: AppConfig) -> tuple[Path, Path]:
    """Certificate and key for the ingest API; a self-signed pair is made if none exists.

    The admin's ``center.tls_cert``, else the appliance's web certificate when it exists
    (sensors then trust one certificate for the whole center), else data_dir/center/.
    """
    center = cfg.center
    if center.tls_cert is not None:
        key = center.tls_key or center.tls_cert.with_suffix(".key")
        if not (center.tls_cert.is_file() and key.is_file()):
            raise ConfigError(f"center.tls_cert {center.tls_cert} or its key {key} does not exist")
        return center.tls_cert, key
    web_cert = cfg.web.tls_cert or cfg.data_dir / "web" / "tls.crt"
    web_key = cfg.web.tls_key or cfg.data_dir / "web" / "tls.key"
    # The web UI may run as another user whose key the core cannot read.
    if web_cert.is_file() and web_key.is_file() and os.access(web_key, os.R_OK):
        return web_cert, web_key
    cert, key = cfg.data_dir / "center" / "tls.crt", cfg.data_dir / "center" / "tls.key"
    if not (cert.is_file() and key.is_file()):
        host = center.host_port[0]
        extra = () if host in ("", "0.0.0.0", "::") else (host,)
        names = ("localhost", "127.0.0.1", "::1", *extra)
        write_pair(cert, key, *self_signed(socket.gethostname(), names))
    return cert, key


def self_signed(common_name: str, names: tuple[str, ...]) -> tuple[bytes, bytes]:
    """A new P-256 key and a self-signed certificate (PEM) for ``common_name`` and ``names``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "spanwatch"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "spanwatch appliance"),
    ])  # fmt: skip
    sans: list[x509.GeneralName] = []
    for name in dict.fromkeys((common_name, *names)):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def cert_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 fingerprint of a PEM certificate, as admins compare it (aa:bb:...)."""
    return x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256()).hex(":")


def write_pair(cert_path: Path, key_path: Path, cert_pem: bytes, key_pem: bytes) -> None:
    """Write both files atomically; the key readable by its owner only."""
    for path, data, mode in ((key_path, key_pem, 0o600), (cert_path, cert_pem, 0o644)):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tls-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
