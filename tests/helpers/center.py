"""A center (the real ingest API on loopback, HTTPS) and remote sensors for tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.center import IngestServer
from appliance.center.registry import SensorRegistry
from appliance.center.tls import self_signed, write_pair
from appliance.config import AppConfig
from appliance.service import Service
from sensors.analyzers import REGISTRY, AnalyzerSet
from sensors.deadletter import DeadLetterFile
from sensors.enrol import ensure_token
from sensors.remote import RemoteSink, token_path
from sensors.runner import EveRunner


def make_cert(folder: Path, *names: str) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``names`` (IP addresses or host names)."""
    cert, key = folder / "center.crt", folder / "center.key"
    write_pair(cert, key, *self_signed(names[0], names))
    return cert, key


def center_config(root: Path, cert: Path, key: Path, *, bind: str = "127.0.0.1:0",
                  **center: Any) -> AppConfig:  # fmt: skip
    """A center's configuration: its own data dir, old timestamps accepted by default."""
    return AppConfig.model_validate({
        "sensor": {"name": "center"},
        "data_dir": str(root),
        "analyzers": {name: {"enabled": False} for name in REGISTRY},
        "center": {"enabled": True, "bind": bind, "tls_cert": str(cert), "tls_key": str(key),
                   "max_past_days": 0, **center},
    })  # fmt: skip


def sensor_config(root: Path, name: str, url: str, ca: Path, **remote: Any) -> AppConfig:
    """A remote sensor's configuration: ships to ``url``, trusts ``ca``."""
    return AppConfig.model_validate({
        "sensor": {"name": name},
        "data_dir": str(root),
        "analyzers": {n: {"enabled": False} for n in REGISTRY},
        "ingest": {"batch_size": 200},
        "center": {"remote": {"url": url, "ca_file": str(ca), "backoff_max_seconds": 0.5,
                              "drain_seconds": 5, **remote}},
    })  # fmt: skip


@dataclass
class Center:
    """A running ingest API and its service."""

    cfg: AppConfig
    service: Service
    server: IngestServer

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    @property
    def registry(self) -> SensorRegistry:
        return SensorRegistry(self.service.state)

    def enrol(self, sensor: AppConfig, *, approve: bool = True) -> str:
        """Enrol ``sensor`` directly in the registry (as the API would); returns its token."""
        token = ensure_token(token_path(sensor))
        self.registry.request(sensor.sensor.name, token, address="127.0.0.1", max_pending=50)
        if approve:
            self.registry.approve(sensor.sensor.name, actor="test-admin")
        return token


@contextmanager
def running_center(cfg: AppConfig) -> Iterator[Center]:
    """Start the ingest API (port 0 picks a free port); stop it afterwards."""
    service = Service(cfg)
    server = IngestServer(service)
    server.start()
    try:
        yield Center(cfg, service, server)
    finally:
        server.stop()
        service.close()


def ship_file(
    cfg: AppConfig, eve: Path, *, stop: threading.Event | None = None, follow: bool = False,
    sink: RemoteSink | None = None,
) -> tuple[EveRunner, RemoteSink]:
    """Run the production runner over ``eve`` into a :class:`RemoteSink` (not closed)."""
    from appliance.store import open_store
    from sensors.enrol import static_health
    from sensors.remote import read_token

    sink = sink or RemoteSink(cfg, token=read_token(cfg), health=static_health(cfg))
    runner = EveRunner(
        eve, store=open_store(cfg.store_path), sink=sink, analyzers=AnalyzerSet([]),
        dead_letters=DeadLetterFile(cfg.data_dir / "dead-letter.jsonl"), cfg=cfg.ingest,
        follow=follow, poll_seconds=0.02, stop=stop,
    )  # fmt: skip
    return runner, sink
