"""``spanwatch web`` over HTTPS with a self-signed certificate, and ``spanwatch user``."""

from __future__ import annotations

from pathlib import Path

from appliance.config import load_config
from tests.helpers.cli import run_spanwatch
from tests.webui.conftest import LiveServer
from webui.cli import gunicorn_options


def test_web_serves_https_with_a_self_signed_certificate_and_security_headers(
    live_server: LiveServer,
) -> None:
    status, headers, _ = live_server.get("/")
    assert status == 302 and headers["Location"].endswith("/login?next=/")
    status, headers, body = live_server.get("/login")
    assert status == 200 and b"csrf_token" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert (live_server.data_dir / "web" / "tls.crt").exists()
    key = live_server.data_dir / "web" / "tls.key"
    assert key.stat().st_mode & 0o077 == 0


def test_user_add_creates_the_first_admin_without_a_setup_code(appliance_config: Path) -> None:
    result = run_spanwatch("user", "add", "root-admin", "--role", "admin", "--password-stdin",
                           "--config", appliance_config, env={})
    assert result.returncode == 1  # no password on stdin: too short
    assert "at least 10 characters" in result.stderr


def test_user_add_and_list(appliance_config: Path, tmp_path: Path) -> None:
    import subprocess

    from tests.helpers.cli import spanwatch_argv

    done = subprocess.run(spanwatch_argv("user", "add", "chief", "--role", "admin",
                                         "--password-stdin", "--config", appliance_config),
                          input="Long-enough-pass1\n", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    listed = run_spanwatch("user", "list", "--config", appliance_config)
    assert "chief" in listed.stdout and "admin" in listed.stdout
    again = subprocess.run(spanwatch_argv("user", "add", "chief", "--password-stdin",
                                          "--config", appliance_config),
                           input="Long-enough-pass1\n", capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_gunicorn_options_serve_tls_with_threads(appliance_config: Path) -> None:
    cfg = load_config(appliance_config)
    options = gunicorn_options(cfg, "127.0.0.1:8443", 2, Path("/c.pem"), Path("/k.pem"))
    assert options["bind"] == ["127.0.0.1:8443"] and options["workers"] == 2
    assert options["certfile"] == "/c.pem" and options["keyfile"] == "/k.pem"
