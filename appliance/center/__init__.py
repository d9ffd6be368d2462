"""The center: the ingest API remote sensors ship their events to (run by spanwatch core).

:class:`IngestServer` is the core's component; the wire format is in ``batch``, the
enrolled sensors in ``registry``, the store writes in ``ingest``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.center.server import IngestHTTPServer
    from appliance.core import Component
    from appliance.service import Service

logger = logging.getLogger(__name__)


class IngestServer:
    """The ingest API as a component of spanwatch core: ``start()`` listens, ``stop()`` ends."""

    name = "ingest"

    def __init__(self, service: Service) -> None:
        self.service = service
        self.httpd: IngestHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (useful with port 0 in tests)."""
        assert self.httpd is not None
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        from appliance.center.ingest import Ingestor
        from appliance.center.registry import SensorRegistry
        from appliance.center.server import IngestHTTPServer, server_context
        from appliance.center.tls import center_certificate
        from appliance.store import open_store

        cfg = self.service.cfg
        context = server_context(*center_certificate(cfg))
        # A store connection of its own: the core's other components read the shared one.
        self._store = open_store(cfg.store_path)
        ingestor = Ingestor(self._store, SensorRegistry(self.service.state), cfg.center)
        self.httpd = IngestHTTPServer(cfg.center.host_port, ingestor, cfg.center, context)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="ingest",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        logger.info("Ingest API listening: bind=%s:%d.", cfg.center.host_port[0], self.port)

    def stop(self) -> None:
        if self.httpd is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=30)
        # Requests already being stored finish under the ingestor's lock before this.
        with self.httpd.ingestor._lock:
            self._store.close()
        self.httpd = None


def ingest_components(service: Service) -> list[Component]:
    """The core's ingest API, when this appliance is a center (``center.enabled``)."""
    return [IngestServer(service)] if service.cfg.center.enabled else []
