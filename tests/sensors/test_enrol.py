"""``spanwatch sensor enroll`` and ``spanwatch sensors approve`` as an admin runs them."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import yaml

from tests.helpers.center import center_config, make_cert, running_center
from tests.helpers.cli import run_spanwatch


def _sensor_yaml(tmp_path: Path, url: str | None, ca: Path) -> Path:
    path = tmp_path / "sensor.yaml"
    remote = {"ca_file": str(ca), **({"url": url} if url else {})}
    path.write_text(yaml.safe_dump({"sensor": {"name": "site-a"},
                                    "data_dir": str(tmp_path / "sensor"),
                                    "center": {"remote": remote}}))  # fmt: skip
    return path


def test_enrol_print_approve_with_the_fingerprint(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path / "tls", "127.0.0.1")
    cfg = center_config(tmp_path / "center", cert, key)
    center_yaml = tmp_path / "center.yaml"
    center_yaml.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_defaults=True)))
    with running_center(cfg) as center:
        sensor_yaml = _sensor_yaml(tmp_path, None, cert)
        out = run_spanwatch("sensor", "enroll", "--center", center.url, "--config", sensor_yaml,
                            "-q", timeout=120)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "status=pending" in out.stdout and "dấu vân tay" in out.stdout
        fp = re.search(r"fingerprint=(\S+)", out.stdout)
        assert fp is not None
        token = tmp_path / "sensor" / "center" / "token"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        assert token.read_text().strip() not in out.stdout  # the secret is never printed
        wrong = run_spanwatch("sensors", "approve", "site-a", "--fingerprint", "0000-0000",
                              "--config", center_yaml, "-q")  # fmt: skip
        assert wrong.returncode != 0 and "does not match" in wrong.stderr
        ok = run_spanwatch("sensors", "approve", "site-a", "--fingerprint", fp.group(1),
                           "--config", center_yaml, "-q")  # fmt: skip
        assert ok.returncode == 0 and "approved" in ok.stdout, ok.stderr
        again = run_spanwatch("sensor", "enroll", "--center", center.url, "--config",
                              sensor_yaml, "-q")  # fmt: skip
        assert "status=approved" in again.stdout
        listed = run_spanwatch("sensors", "list", "--config", center_yaml, "-q")
        assert "site-a" in listed.stdout and "approved" in listed.stdout


def test_enrol_needs_an_https_center_that_answers(tmp_path: Path) -> None:
    cert, _key = make_cert(tmp_path / "tls", "127.0.0.1")
    sensor_yaml = _sensor_yaml(tmp_path, None, cert)
    plain = run_spanwatch("sensor", "enroll", "--center", "http://192.0.2.1", "--config",
                          sensor_yaml, "-q")  # fmt: skip
    assert plain.returncode == 2 and "https://" in plain.stderr
    nobody = run_spanwatch("sensor", "enroll", "--center", "https://127.0.0.1:9", "--config",
                           sensor_yaml, "-q")  # fmt: skip
    assert nobody.returncode != 0 and "cannot reach the center" in nobody.stderr
    missing = run_spanwatch("sensor", "--config", sensor_yaml, "-q")
    assert missing.returncode == 2 and "--interface" in missing.stderr
