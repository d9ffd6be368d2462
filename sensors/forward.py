"""Forwarding what a remote sensor stored locally (its packet analyzers' findings).

The EVE runner ships through the :class:`sensors.remote.RemoteSink`; the packet analyzers
(ARP, DHCP, name poisoning) write their findings into the sensor's own store. This
thread follows that store by chunk (a cursor kept in ``data_dir/center/forward-cursor``)
and hands what appears to the sink, so those findings reach the center too. Their ids
are the sensor's own, so forwarding a chunk twice stores it once at the center.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import orjson

from appliance.events import EveDecodeError, decode_line
from appliance.store import open_store

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0


class LocalForwarder:
    """Ships records stored in the sensor's own store through ``sink.write``."""

    def __init__(self, store_path: Path, cursor_path: Path, sink: Any) -> None:
        self.store_path, self.cursor_path, self.sink = store_path, cursor_path, sink
        self.forwarded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-forwarder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Forward what is there now, then stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _cursor(self) -> int:
        try:
            return int(self.cursor_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _save(self, cursor: int) -> None:
        tmp = self.cursor_path.with_suffix(".tmp")
        tmp.write_text(str(cursor))
        tmp.replace(self.cursor_path)

    def run_once(self) -> int:
        """Forward every chunk stored after the cursor; returns how many records."""
        store = open_store(self.store_path)
        try:
            cursor, done = self._cursor(), 0
            while True:
                after, records = store.events_after_chunk(cursor, max_chunks=16)
                if after == cursor:
                    return done
                batch = []
                for record in records:
                    eid = record.pop("_id")
                    for key in [k for k in record if k.startswith("_")]:
                        record.pop(key)
                    try:
                        batch.append(decode_line(orjson.dumps(record), eid))
                    except EveDecodeError:
                        logger.warning("A stored record could not be forwarded: id=%d.", eid)
                if batch:
                    self.sink.write(batch, None, {})
                done += len(batch)
                self.forwarded += len(batch)
                cursor = after
                self._save(cursor)
        finally:
            store.close()

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                self.run_once()
            except Exception:
                logger.exception("Forwarding the sensor's stored findings failed; retrying.")
            if stopping:
                return
            self._stop.wait(POLL_SECONDS)
