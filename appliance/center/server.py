"""The ingest API over HTTPS: remote sensors post batches and ask to enrol.

Every refusal answers a JSON ``{"error": reason, "detail": ...}`` with its status (400
malformed, 401 unknown token, 403 revoked or not yet approved, 411/413 size, 429 too many
enrolment requests), is logged and is counted per sensor in the state database; nothing
of a refused batch is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import appliance
from appliance.center.batch import (
    BATCH_PATH,
    ENROL_PATH,
    BatchError,
    decode_batch,
    decode_header,
    decompress,
)
from appliance.center.ingest import Ingestor
from appliance.center.registry import EnrolledSensor, EnrolmentError, pem_fingerprint
from appliance.config import CenterConfig

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
_MAX_ENROL_BYTES = 16384
#: Logged in full this many times per (sensor, reason), then every 100th.
_LOG_FIRST = 10


class IngestHTTPServer(ThreadingHTTPServer):
    """One thread per connection; the ingestor serializes the store's writes."""

    daemon_threads = True
    # Ten sensors reconnecting at once after an outage must not be refused by the backlog.
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], ingestor: Ingestor, cfg: CenterConfig,
                 context: ssl.SSLContext) -> None:  # fmt: skip
        self.ingestor = ingestor
        self.registry = ingestor.registry
        self.cfg = cfg
        self.context = context
        self.refusals: dict[tuple[str, str], int] = {}
        self._pins: set[str] = set()
        self._pin_lock = threading.Lock()
        self.load_pins()
        self._refusal_lock = threading.Lock()
        super().__init__(address, IngestHandler)

    def load_pins(self) -> None:
        """Trust the client certificates pinned since the last call (approvals happen in
        other processes, so this runs before each connection; pins are only added: a
        revoked sensor's token is refused anyway)."""
        try:
            pems = self.registry.pinned_pems()
        except Exception:
            logger.exception("Could not read the pinned client certificates.")
            return
        with self._pin_lock:
            for pem in pems:
                if pem not in self._pins:
                    self.context.load_verify_locations(cadata=pem)
                    self._pins.add(pem)

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        self.load_pins()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def refuse(self, sensor: str, reason: str, detail: str, address: str) -> None:
        """Count a refusal (state DB and memory) and log it, rate-limited per reason."""
        with self._refusal_lock:
            key = (sensor, reason)
            n = self.refusals[key] = self.refusals.get(key, 0) + 1
        try:
            self.registry.count_rejection(sensor, reason, detail)
        except Exception:
            logger.exception("Could not count a refusal: sensor=%s reason=%s.", sensor, reason)
        if n <= _LOG_FIRST or n % 100 == 0:
            logger.warning("Refused an ingest request: sensor=%s reason=%s from=%s total=%d "
                           "detail=%s.", sensor or "-", reason, address, n, detail)  # fmt: skip


class IngestHandler(BaseHTTPRequestHandler):
    """``POST /api/ingest/v1/batch`` and ``POST /api/ingest/v1/enrol``."""

    server: IngestHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "spanwatch-ingest"
    timeout = 120

    def handle(self) -> None:
        try:
            # In this connection's thread, so a slow or silent client holds up nobody.
            self.connection.do_handshake()
        except (ssl.SSLError, OSError) as err:
            logger.info("TLS handshake failed: from=%s error=%s.", self.client_address[0], err)
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass  # the sensor went away mid-request; it will send the batch again

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("Ingest API: %s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(404, {"error": "not-found", "detail": "POST batches to " + BATCH_PATH})

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        try:
            if path == BATCH_PATH:
                self._batch()
            elif path == ENROL_PATH:
                self._enrol()
            else:
                self._discard_body()
                self.close_connection = True
                self._answer(404, {"error": "not-found", "detail": path[:100]})
        except BatchError as err:
            self.server.refuse(getattr(self, "_sensor_name", ""), err.reason, err.detail,
                               self.client_address[0])  # fmt: skip
            self.close_connection = err.status in (411, 413)
            self._answer(err.status, {"error": err.reason, "detail": err.detail})
        except Exception:
            logger.exception("The ingest API failed on a request: from=%s.", self.client_address[0])
            self.close_connection = True
            self._answer(500, {"error": "internal", "detail": "see the center's log"})

    # -- batches -----------------------------------------------------------------------

    def _batch(self) -> None:
        self._sensor_name = ""
        sensor = self._authenticate()
        self._sensor_name = sensor.name
        length = self._length(self.server.cfg.max_batch_bytes)
        body = self.rfile.read(length)
        if len(body) != length:
            raise BatchError(400, "malformed", "the body ended early")
        if self.headers.get("Content-Encoding", "").lower() != "zstd":
            raise BatchError(400, "malformed", "Content-Encoding must be zstd")
        batch = decode_batch(decompress(body, self.server.cfg.max_batch_expanded_bytes))
        health = decode_header(self.headers.get("X-Spanwatch-Health"))
        result = self.server.ingestor.ingest(
            sensor, batch, address=self.client_address[0], health=health
        )
        answer = result.as_json()
        answer["center_version"] = appliance.__version__
        self._answer(200, answer)

    def _authenticate(self) -> EnrolledSensor:
        """The sensor behind the bearer token; 401 if unknown, 403 if not approved."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        sensor = self.server.registry.authenticate(token) if _TOKEN_RE.match(token) else None
        claimed = self.headers.get("X-Spanwatch-Sensor", "")[:63]
        if sensor is None:
            self._refuse_unread(401, "unknown-token", f"no sensor has this token ({claimed!r})")
        assert sensor is not None
        self._sensor_name = sensor.name
        if sensor.status != "approved":
            self._refuse_unread(403, sensor.status, f"sensor {sensor.name} is {sensor.status}")
        pin = self.server.registry.pinned_cert(sensor.name)
        if pin is not None:
            der = self.connection.getpeercert(binary_form=True)
            if der is None or hashlib.sha256(der).hexdigest() != pin:
                self._refuse_unread(403, "certificate",
                                    f"sensor {sensor.name} did not present its pinned certificate")
        if claimed and claimed != sensor.name:
            self._refuse_unread(403, "wrong-name", f"token of {sensor.name} used as {claimed!r}")
        return sensor

    def _refuse_unread(self, status: int, reason: str, detail: str) -> None:
        """Refuse without looking at the body; it is read (within bounds) and dropped first,
        so the sender gets the answer rather than a reset connection."""
        self._discard_body()
        self.close_connection = True
        raise BatchError(status, reason, detail)

    def _discard_body(self) -> None:
        value = self.headers.get("Content-Length", "")
        bound = self.server.cfg.max_batch_expanded_bytes
        if value.isdigit() and int(value) <= bound:
            self._drain(int(value))

    def _length(self, limit: int) -> int:
        value = self.headers.get("Content-Length")
        if value is None or not value.isdigit():
            self.close_connection = True
            raise BatchError(411, "malformed", "Content-Length is required")
        length = int(value)
        if length > limit:
            self._discard_body()  # a sensor splits a batch on this answer: it must get it
            self.close_connection = True
            raise BatchError(413, "oversized", f"{length} bytes, more than {limit}")
        return length

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    # -- enrolment -----------------------------------------------------------------------

    def _enrol(self) -> None:
        self._sensor_name = ""
        length = self._length(_MAX_ENROL_BYTES)
        try:
            request = json.loads(self.rfile.read(length))
            name, token = str(request["name"]), str(request["token"])
            client_cert = request.get("client_cert") or None
            if client_cert is not None:
                pem_fingerprint(str(client_cert))
        except (ValueError, KeyError, TypeError, AttributeError, EnrolmentError) as err:
            raise BatchError(400, "malformed",
                             "an enrolment request is {name, token[, client_cert PEM]}") from err
        if not _NAME_RE.match(name) or not _TOKEN_RE.match(token):
            raise BatchError(400, "malformed", "bad sensor name or token")
        try:
            status = self.server.registry.request(
                name, token, address=self.client_address[0],
                max_pending=self.server.cfg.max_pending_enrolments, client_cert=client_cert,
            )  # fmt: skip
        except EnrolmentError as err:
            self._sensor_name = name
            raise BatchError(409 if "already" in str(err) or "belongs" in str(err) else 429,
                             "enrolment-refused", str(err)) from err  # fmt: skip
        logger.info("Enrolment request: sensor=%s from=%s status=%s.", name,
                    self.client_address[0], status)  # fmt: skip
        self._answer(200, {"status": status, "center_version": appliance.__version__})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            self.close_connection = True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2+ with the center's certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    # Sensors may present the certificate pinned at their enrolment; not required.
    context.verify_mode = ssl.CERT_OPTIONAL
    return context
