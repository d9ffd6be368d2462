"""Work of an offline analysis that runs beside Suricata instead of after it.

``spanwatch analyze`` is measured against ``suricata -r`` alone, so what does not need
Suricata's output starts as soon as Suricata does: the packet analyzers read the capture
file itself (:class:`PacketPass`, a thread).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from appliance.config import AppConfig


class PacketPass:
    """The packet analyzers over each capture, in order, in a thread of their own.

    Their findings are stored by the analysis after its EVE ingest (under the packet
    source, as before); :meth:`findings` waits for one capture's and re-raises its error.
    """

    def __init__(self, cfg: AppConfig, paths: Sequence[Path]) -> None:
        self._futures: list[Future[list[bytes]]] = [Future() for _ in paths]
        self._thread = threading.Thread(
            target=self._run, args=(cfg, list(paths)), name="packet-analyzers", daemon=True
        )
        self._thread.start()

    def _run(self, cfg: AppConfig, paths: list[Path]) -> None:
        from sensors.analyzers.packet import load_packet_analyzers
        from sensors.capture import analyze_packets

        for path, future in zip(paths, self._futures):
            try:
                analyzers = load_packet_analyzers(cfg)
                future.set_result(analyze_packets(path, analyzers) if analyzers else [])
            except BaseException as err:  # handed to the analysis by findings()
                future.set_exception(err)

    def findings(self, index: int) -> list[bytes]:
        """The findings of capture ``index`` (waits for them)."""
        return self._futures[index].result()
