"""Web UI fixtures: the app on a temporary appliance, clients logged in per role, a live
HTTPS server (``spanwatch web``: gunicorn) on loopback.

Use in any test under tests/webui/:

- ``app``: ``create_app`` on the ``appliance_config`` yaml (own data dir, settings file).
- ``client``: anonymous test client (HTTPS, same-origin Referer, helpers below).
- ``admin_client``, ``analyst_client``, ``viewer_client``: logged in with that role.
- ``web_users``: role -> (username, password) of the users those clients use.
- ``live_server``: a real ``spanwatch web`` on 127.0.0.1 (gunicorn, HTTPS, self-signed);
  ``.url``, ``.config_path``, ``.data_dir``, ``.users``; start your own with
  ``start_web_server(config_path)`` after filling the data dir (demo data, ...).

``client.post_form(url, data)`` adds the CSRF token; ``client.csrf_token()`` returns it.
"""

from __future__ import annotations

import getpass
import re
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers.cli import REPO, spanwatch_argv
from webui.app import create_app

PASSWORD = "Correct-Horse-42"
FAST_HASH = "pbkdf2:sha256:1000"
ROLE_USERS = {"admin": "admin1", "analyst": "analyst1", "viewer": "viewer1"}
_CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"|name="csrf_token" type="hidden" '
                      r'value="([^"]+)"')


class WebClient(FlaskClient):
    """A test client that speaks HTTPS, sends a same-origin Referer and knows CSRF."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["wsgi.url_scheme"] = "https"
        self.environ_base["HTTP_REFERER"] = "https://localhost/"

    def csrf_token(self) -> str:
        for path in ("/api/", "/login", "/setup"):
            response = self.get(path)
            match = _CSRF_RE.search(response.get_data(as_text=True))
            if response.status_code == 200 and match:
                return match.group(1) or match.group(2)
        raise AssertionError("no page with a CSRF token")

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form with a valid CSRF token added."""
        return self.post(url, data={"csrf_token": self.csrf_token(), **(data or {})}, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.post_form("/login", {"username": username, "password": password})


@pytest.fixture
def app(appliance_config: Path) -> Iterator[Flask]:
    application = create_app(config_path=appliance_config, testing=True)
    application.test_client_class = WebClient
    yield application
    application.extensions["spanwatch"].service.close()


@pytest.fixture
def web_users(app: Flask) -> dict[str, tuple[str, str]]:
    """One user per role, all with ``PASSWORD`` (hashed cheaply: these tests are not
    about scrypt, and every fixture would otherwise spend a second on it)."""
    users = app.extensions["spanwatch"].service.users
    users.hash_method = FAST_HASH
    for role, name in ROLE_USERS.items():
        users.create(name, PASSWORD, role)
    return {role: (name, PASSWORD) for role, name in ROLE_USERS.items()}


@pytest.fixture
def client(app: Flask) -> WebClient:
    return app.test_client()  # type: ignore[return-value]


def _logged_in(app: Flask, username: str) -> WebClient:
    client: WebClient = app.test_client()  # type: ignore[assignment]
    response = client.login(username)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def admin_client(app: Flask, web_users: dict[str, tuple[str, str]]) -> WebClient:
    return _logged_in(app, web_users["admin"][0])


@pytest.fixture
def analyst_client(app: Flask, web_users: dict[str, tuple[str, str]]) -> WebClient:
    return _logged_in(app, web_users["analyst"][0])


@pytest.fixture
def viewer_client(app: Flask, web_users: dict[str, tuple[str, str]]) -> WebClient:
    return _logged_in(app, web_users["viewer"][0])


@dataclass
class LiveServer:
    """A running ``spanwatch web`` (gunicorn over HTTPS) on loopback."""

    url: str
    config_path: Path
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    users: dict[str, tuple[str, str]] = field(default_factory=dict)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """GET over HTTPS (the self-signed certificate accepted), no redirects followed."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                             _NoRedirect())  # fmt: skip
        try:
            with opener.open(self.url + path, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_role_users(config_path: Path) -> dict[str, tuple[str, str]]:
    """One user per role, made and audited as ``spanwatch user add`` makes them, in this
    process and with the cheap hash (a subprocess and scrypt per user cost seconds per
    server; ``tests/webui/test_cli.py`` runs the command itself)."""
    from appliance.audit import record
    from appliance.config import load_config
    from appliance.service import Service

    service = Service(load_config(config_path))
    try:
        service.users.hash_method = FAST_HASH
        for role, name in ROLE_USERS.items():
            user = service.users.create(name, PASSWORD, role)
            record(service.state, f"cli:{getpass.getuser()}", "user.create", user.username,
                   {"role": user.role})  # fmt: skip
    finally:
        service.close()
    return {role: (name, PASSWORD) for role, name in ROLE_USERS.items()}


def start_web_server(config_path: Path, *, create_users: bool = True,
                     timeout: float = 30.0) -> LiveServer:  # fmt: skip
    """Start ``spanwatch web`` on a free loopback port; wait until it answers."""
    data_dir = Path(yaml.safe_load(config_path.read_text())["data_dir"])
    users: dict[str, tuple[str, str]] = {}
    if create_users:
        users = add_role_users(config_path)
    port = free_port()
    log_path = data_dir / "web.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            spanwatch_argv("web", "--config", config_path, "--bind", f"127.0.0.1:{port}",
                           "--workers", "1"),
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
    server = LiveServer(f"https://127.0.0.1:{port}", config_path, data_dir, process, log_path,
                        users)  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"spanwatch web exited:\n{log_path.read_text()[-3000:]}")
        try:
            server.get("/login")
            return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise AssertionError(f"spanwatch web did not answer:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def live_server(appliance_config: Path) -> Iterator[LiveServer]:
    server = start_web_server(appliance_config)
    yield server
    server.stop()
