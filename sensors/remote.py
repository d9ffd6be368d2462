"""The remote sensor's sink: batches go to the center's ingest API over HTTPS.

Each batch is first put in the disk buffer (:mod:`sensors.spool`); a sender thread posts
the oldest one, and only when the center acknowledges it does the bookmark of that batch
advance in the sensor's own store. While the center cannot be reached the sensor keeps
reading and analyzing, the buffer grows up to its byte budget, and retries back off
exponentially; past the budget the oldest batches are dropped, counted in the store's
counters (``remote.buffer_dropped_*``), logged and reported to the center.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import appliance
from appliance.center.batch import BATCH_PATH, CONTENT_TYPE, Source, encode_batch, encode_header
from appliance.config import AppConfig, RemoteConfig
from appliance.errors import ApplianceError
from appliance.events import EveRecord
from appliance.store import OFFSET_BITS, Bookmark, EventStore, open_store, source_of
from sensors.spool import LoadedBatch, Spool, SpoolEntry

logger = logging.getLogger(__name__)

_MASK = (1 << OFFSET_BITS) - 1
_LOG_EVERY_S = 60.0


class CenterError(ApplianceError):
    """The center refused or could not be reached; ``status`` 0 when no answer came."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def token_path(cfg: AppConfig) -> Path:
    """Where this sensor's token lives."""
    return cfg.center.remote.token_file or cfg.data_dir / "center" / "token"


def client_cert_paths(cfg: AppConfig) -> tuple[Path, Path]:
    """The sensor's client certificate and key (made at enrolment)."""
    folder = cfg.data_dir / "center"
    return folder / "client.crt", folder / "client.key"


def client_context(remote: RemoteConfig, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """Verify the center's certificate (against ``ca_file`` when given); present ``cert``."""
    context = ssl.create_default_context(cafile=str(remote.ca_file) if remote.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


class CenterClient:
    """One keep-alive HTTPS connection to the center."""

    def __init__(self, remote: RemoteConfig, sensor: str, token: str,
                 cert: tuple[Path, Path] | None = None) -> None:  # fmt: skip
        if remote.url is None:
            raise ApplianceError("center.remote.url is not set")
        parts = urlsplit(remote.url)
        self.host, self.port = parts.hostname or "", parts.port or 443
        self.prefix = parts.path.rstrip("/")
        self.sensor, self.token = sensor, token
        self.timeout = remote.timeout_seconds
        self.context = client_context(remote, cert)
        self._conn: http.client.HTTPSConnection | None = None

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        """POST and return the JSON answer; :class:`CenterError` on anything but 200."""
        if self._conn is None:
            self._conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.context
            )
        try:
            self._conn.request("POST", self.prefix + path, body=body, headers=dict(headers))
            answer = self._conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            where = f"{self.host}:{self.port}"
            raise CenterError(0, f"cannot reach the center at {where}: {err}") from err
        if answer.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            doc = json.loads(data) if data else {}
        except ValueError:
            doc = {}
        if answer.status != 200:
            detail = doc.get("detail") or doc.get("error") or data[:200].decode(errors="replace")
            raise CenterError(answer.status, f"the center answered {answer.status}: {detail}")
        return doc if isinstance(doc, dict) else {}

    def post_batch(self, body: bytes, health: Mapping[str, Any]) -> dict[str, Any]:
        """Post one compressed batch."""
        return self.post(BATCH_PATH, body, {
            "Authorization": f"Bearer {self.token}", "X-Spanwatch-Sensor": self.sensor,
            "Content-Type": CONTENT_TYPE, "Content-Encoding": "zstd",
            "X-Spanwatch-Health": encode_header(health),
        })  # fmt: skip

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RemoteSink:
    """Implements :class:`sensors.ship.Sink` by shipping to the center (see the module doc)."""

    def __init__(self, cfg: AppConfig, *, token: str, health: dict[str, Any] | None = None) -> None:
        self.remote = cfg.center.remote
        self.sensor = cfg.sensor.name
        # The sensor's own store keeps its sources, bookmarks and counters (not its events).
        self.store: EventStore = open_store(cfg.store_path)
        self.spool = Spool(cfg.data_dir / "center" / "spool", self.remote.buffer_bytes)
        cert = client_cert_paths(cfg)
        use_cert = self.remote.client_cert and all(p.is_file() for p in cert)
        self.client = CenterClient(self.remote, self.sensor, token, cert if use_cert else None)
        self.static_health = dict(health or {})
        self.dropped_records = self.dropped_batches = 0
        self.rejected_records = 0
        self._sources: dict[int, Source] = {}
        # The runner's thread (sources, drops) and the sender (bookmarks) share the store.
        self._store_lock = threading.Lock()
        self._stored = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._drain_until = 0.0
        self._error: BaseException | None = None
        self._last_log = 0.0
        self._told_version = False
        self._thread = threading.Thread(target=self._run, name="center-sender", daemon=True)
        self._thread.start()
        # What the packet analyzers store locally is shipped too.
        from sensors.forward import LocalForwarder

        self.forwarder = LocalForwarder(cfg.store_path, cfg.data_dir / "center" / "forward-cursor",
                                        self)  # fmt: skip
        self.forwarder.start()

    # -- Sink ----------------------------------------------------------------------------

    def write(
        self, records: Sequence[EveRecord], bookmark: Bookmark | None, counters: Mapping[str, int]
    ) -> int:
        """Buffer a batch for the center; counts of what it stored come by ``flush``."""
        self._raise()
        if bookmark is not None and bookmark.offset <= self.spool.high_water.get(
            bookmark.source_id, -1
        ):
            # Read again after a restart, and still buffered from the last run: the batch
            # (its lines, and the findings they gave again) is already waiting to be sent.
            return 0
        items = [(source_of(r.id), r.id & _MASK, r.raw) for r in records]
        sources = [self._source(s) for s in sorted({i[0] for i in items})]
        body = encode_batch(sources, items, counters)
        meta = {"records": len(items),
                "bookmark": None if bookmark is None else _bookmark_json(bookmark)}  # fmt: skip
        dropped = self.spool.add(meta, body)
        if dropped:
            self._count_dropped(dropped)
        with self._wake:
            self._wake.notify()
        return 0

    def flush(self) -> int:
        """New records the center stored since the last call (never waits for the center)."""
        self._raise()
        with self._lock:
            stored, self._stored = self._stored, 0
        return stored

    def close(self) -> None:
        """Keep sending for up to ``drain_seconds``, then stop; the rest is sent next time."""
        self.forwarder.stop()
        self._drain_until = time.monotonic() + self.remote.drain_seconds
        self._closing.set()
        with self._wake:
            self._wake.notify()
        self._thread.join()
        self.client.close()
        if self.spool.count:
            logger.warning("Stopped with batches still buffered for the center: count=%d "
                           "bytes=%d (sent at the next start).", self.spool.count,
                           self.spool.bytes)  # fmt: skip
        self.store.close()
        self._raise()

    # -- helpers -------------------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """True once every buffered batch is acknowledged (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.spool.count:
            if time.monotonic() > deadline:
                return False
            self._raise()
            time.sleep(0.02)
        return True

    def health(self) -> dict[str, Any]:
        """What the center shows about this sensor's shipping."""
        return {
            **self.static_health, "spanwatch_version": appliance.__version__,
            "buffer_bytes": self.spool.bytes, "buffer_budget": self.spool.budget,
            "buffer_batches": self.spool.count, "buffer_dropped": self.dropped_records,
            "oldest_unshipped": self.spool.oldest_spooled_at(), "sent_at": int(time.time() * 1e6),
        }  # fmt: skip

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _source(self, local_id: int) -> Source:
        found = self._sources.get(local_id)
        if found is None:
            conn = getattr(self.store, "connection")  # SqliteEventStore
            with self._store_lock:
                row = conn.execute("SELECT fingerprint, path FROM sources WHERE id = ?",
                                   (local_id,)).fetchone()  # fmt: skip
            if row is None:
                raise ApplianceError(f"source {local_id} is not registered in the sensor's store")
            found = self._sources[local_id] = Source(local_id, bytes(row[0]).hex(), str(row[1]))
        return found

    def _count_dropped(self, dropped: list[SpoolEntry]) -> None:
        records = sum(e.records for e in dropped)
        self.dropped_records += records
        self.dropped_batches += len(dropped)
        logger.error("Disk buffer for the center is full: dropped the oldest batches=%d "
                     "records=%d (total dropped records=%d, budget=%d bytes).", len(dropped),
                     records, self.dropped_records, self.spool.budget)  # fmt: skip
        self._note({"remote.buffer_dropped_records": records,
                    "remote.buffer_dropped_batches": len(dropped)})

    def _note(self, counters: Mapping[str, int], bookmark: Bookmark | None = None) -> None:
        """Counters (and a bookmark) into the sensor's own store, in one transaction."""
        with self._store_lock:
            self.store.add_events([], self.sensor, counters=counters, bookmark=bookmark)

    # -- the sender thread -----------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        try:
            while True:
                if self._closing.is_set() and (
                    not self.spool.count or time.monotonic() > self._drain_until
                ):
                    return
                batch = self.spool.oldest()
                if batch is None:
                    with self._wake:
                        if not self.spool.count and not self._closing.is_set():
                            self._wake.wait(0.5)
                    continue
                if self._send(batch):
                    backoff = 0.0
                    continue
                backoff = min(self.remote.backoff_max_seconds, max(0.25, backoff * 2))
                self._sleep(backoff)
        except BaseException as err:  # handed to the runner's thread by the next call
            logger.exception("The center sender stopped.")
            self._error = err

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._closing.is_set() and time.monotonic() > self._drain_until:
                return
            time.sleep(min(0.1, end - time.monotonic()) if end > time.monotonic() else 0)

    def _send(self, batch: LoadedBatch) -> bool:
        """Post one batch; True when it is done with (acknowledged, or refused for good)."""
        try:
            answer = self.client.post_batch(batch.body, self.health())
        except CenterError as err:
            return self._refused(batch, err)
        bookmark = batch.meta.get("bookmark")
        center_version = answer.get("center_version")
        if center_version and center_version != appliance.__version__ and not self._told_version:
            self._told_version = True
            logger.warning("The center runs spanwatch %s, this sensor %s; shipping goes on "
                           "(the center shows the mismatch).", center_version,
                           appliance.__version__)  # fmt: skip
        counters = {}
        rejected = answer.get("rejected") or {}
        for reason, count in rejected.items():
            counters[f"remote.rejected.{reason}"] = int(count)
            self.rejected_records += int(count)
            logger.warning("The center refused records: reason=%s count=%d.", reason, count)
        # The bookmark advances only now, with the batch acknowledged.
        self.spool.remove(batch.entry)
        if bookmark is not None or counters:
            self._note(counters, None if bookmark is None else Bookmark(**bookmark))
        with self._lock:
            self._stored += int(answer.get("stored", 0))
        return True

    def _refused(self, batch: LoadedBatch, err: CenterError) -> bool:
        now = time.monotonic()
        if err.status == 413 and batch.meta.get("records", 0) > 1:
            logger.warning("The center found a batch too large; splitting it: records=%d.",
                           batch.meta.get("records", 0))  # fmt: skip
            self.spool.replace(batch.entry, split_batch(batch))
            return True
        if err.status in (400, 413):
            # It will never be accepted: kept aside for a person, counted, and skipped.
            aside = self.spool.folder.parent / "refused"
            aside.mkdir(exist_ok=True)
            batch.entry.path.replace(aside / batch.entry.path.name)
            self.spool.remove(batch.entry)
            logger.error("The center refused a batch for good; kept in %s: %s.", aside, err)
            # Its bookmark advances too: read again, it would be refused again.
            bookmark = batch.meta.get("bookmark")
            self._note({"remote.refused_batches": 1,
                        "remote.refused_records": int(batch.meta.get("records", 0))},
                       None if bookmark is None else Bookmark(**bookmark))
            return True
        if now - self._last_log > _LOG_EVERY_S:
            self._last_log = now
            logger.warning("Cannot ship to the center, retrying with backoff: %s "
                           "(buffered batches=%d bytes=%d).", err, self.spool.count,
                           self.spool.bytes)  # fmt: skip
        return False


def split_batch(batch: LoadedBatch) -> list[tuple[dict[str, Any], bytes]]:
    """Two halves of a buffered batch; the bookmark goes with the second."""
    from appliance.center.batch import decode_batch, decompress

    decoded = decode_batch(decompress(batch.body, 1 << 34))
    half = len(decoded.items) // 2
    out = []
    for i, items in enumerate((decoded.items[:half], decoded.items[half:])):
        used = {s for s, _, _ in items}
        sources = [decoded.sources[s] for s in sorted(used)]
        body = encode_batch(sources, items, decoded.counters if i else None)
        out.append(({"records": len(items), "bookmark": batch.meta.get("bookmark") if i else None},
                    body))
    return out


def _bookmark_json(bookmark: Bookmark) -> dict[str, Any]:
    return {"path": bookmark.path, "inode": bookmark.inode, "offset": bookmark.offset,
            "size": bookmark.size, "line": bookmark.line, "source_id": bookmark.source_id,
            "tail": bookmark.tail}


def read_token(cfg: AppConfig) -> str:
    """This sensor's token; a clear error if it never enrolled."""
    path = token_path(cfg)
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError as err:
        raise ApplianceError(
            f"No center token at {path}: run `spanwatch sensor enroll --center URL` first"
        ) from err


def make_sink(cfg: AppConfig) -> Any:
    """The sink: the center's API if ``center.remote.url`` is set, else the local store."""
    from sensors.ship import store_writer

    if cfg.center.remote.url is None:
        return store_writer(cfg.store_path, cfg.sensor.name)
    from sensors.enrol import static_health

    return RemoteSink(cfg, token=read_token(cfg), health=static_health(cfg))
