"""``spanwatch sensor enroll --center URL``: ask a center to accept this sensor.

The sensor makes a random token (kept in data_dir/center/token, readable by its owner
only), sends it with its name over HTTPS (the center's certificate verified), and prints
the fingerprint the admin compares before approving. The center keeps only a hash.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from appliance.center.batch import ENROL_PATH
from appliance.center.registry import token_fingerprint
from appliance.config import AppConfig, RemoteConfig
from appliance.errors import ConfigError
from sensors.remote import CenterClient, client_cert_paths, token_path


def ensure_token(path: Path) -> str:
    """The sensor's token, made (0600) if it does not exist yet."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    return token


def ensure_client_cert(cfg: AppConfig) -> str:
    """The sensor's client certificate (PEM), made with its key (0600) if missing."""
    from appliance.center.tls import self_signed, write_pair

    cert, key = client_cert_paths(cfg)
    if not (cert.is_file() and key.is_file()):
        write_pair(cert, key, *self_signed(cfg.sensor.name, ()))
    return cert.read_text(encoding="ascii")


def with_center(cfg: AppConfig, url: str | None, ca_file: Path | None = None) -> AppConfig:
    """``cfg`` with ``center.remote.url`` (and ``ca_file``) set from the command line."""
    if url is None and ca_file is None:
        return cfg
    remote = cfg.center.remote.model_dump()
    remote.update({k: v for k, v in (("url", url), ("ca_file", ca_file)) if v is not None})
    try:
        new_remote = RemoteConfig.model_validate(remote)
    except ValueError as err:
        raise ConfigError(f"--center: {err}") from err
    center = cfg.center.model_copy(update={"remote": new_remote})
    return cfg.model_copy(update={"center": center})


def enrol(cfg: AppConfig) -> dict[str, Any]:
    """Send the enrolment request; returns the center's answer with the fingerprint."""
    if cfg.center.remote.url is None:
        raise ConfigError("give the center's URL: --center https://CENTER:8444")
    token = ensure_token(token_path(cfg))
    request = {"name": cfg.sensor.name, "token": token}
    if cfg.center.remote.client_cert:
        request["client_cert"] = ensure_client_cert(cfg)
    # Enrolment goes without the client certificate: the center trusts it once approved.
    client = CenterClient(cfg.center.remote, cfg.sensor.name, token)
    try:
        body = json.dumps(request).encode()
        answer = client.post(ENROL_PATH, body, {"Content-Type": "application/json"})
    finally:
        client.close()
    return {**answer, "name": cfg.sensor.name, "fingerprint": token_fingerprint(token)}


def format_enrolment(answer: dict[str, Any], url: str) -> str:
    """What ``spanwatch sensor enroll`` prints (English and Vietnamese)."""
    name, fp, status = answer["name"], answer["fingerprint"], answer.get("status")
    lines = [
        f"Enrolment request sent to {url}: sensor={name} fingerprint={fp} status={status}.",
        f"Đã gửi yêu cầu đăng ký tới {url}: cảm biến={name} dấu vân tay={fp} "
        f"trạng thái={status}.",
    ]
    if status == "pending":
        lines += [
            "Ask the center's admin to compare the fingerprint and approve it:",
            f"  spanwatch sensors approve {name} --fingerprint {fp}",
            "Nhờ quản trị viên trung tâm so sánh dấu vân tay và phê duyệt (lệnh trên hoặc "
            "trang Cảm biến).",
        ]
    if answer.get("center_version"):
        lines.append(f"Center version: {answer['center_version']}.")
    return "\n".join(lines)


def static_health(cfg: AppConfig) -> dict[str, Any]:
    """What the sensor reports that changes rarely: Suricata version, rules."""
    from appliance.service.sensors import rule_facts, suricata_version

    count, updated = rule_facts(cfg.rules_dir / "suricata.rules")
    return {"suricata_version": suricata_version(cfg.suricata.binary), "rule_count": count,
            "rules_updated_at": updated}  # fmt: skip
