"""Evidence for an alert: the packets of its flow as a pcap file, and their dissection.

The packets come from where ``spanwatch dissect`` finds them (:mod:`sensors.dissect`):
the capture file an offline analysis recorded for the event, or the sensor's pcap ring.
tshark copies the packets matching the event's display filter (addresses, ports, time
range) into a new pcap; several ring files are merged in time order by mergecap. Both
run with an argument list (no shell), on demand only.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config import AppConfig
from appliance.errors import ApplianceError, CaptureError
from appliance.store import EventQuery, EventStore

logger = logging.getLogger(__name__)

#: Largest evidence file served (a long flow in a big capture).
MAX_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class Evidence:
    """An evidence pcap: its bytes, a download name and how many source files fed it."""

    data: bytes
    filename: str
    display_filter: str
    files: int


def tshark_argv(source: Path, display_filter: str, out: Path) -> list[str]:
    """tshark arguments that copy the packets of ``source`` matching the filter to ``out``."""
    return ["tshark", "-n", "-r", str(source), "-Y", display_filter, "-F", "pcap",
            "-w", str(out)]  # fmt: skip


def mergecap_argv(parts: list[Path], out: Path) -> list[str]:
    """mergecap arguments that merge ``parts`` chronologically into ``out`` (pcap)."""
    return ["mergecap", "-F", "pcap", "-w", str(out), *map(str, parts)]


def evidence_pcap(cfg: AppConfig, store: EventStore, event_id: int) -> Evidence:
    """The packets of the stored event ``event_id`` as a pcap file's bytes."""
    from sensors.dissect import display_filter, packet_files, time_range

    found = list(store.events(EventQuery(event_id=int(event_id), limit=1)))
    if not found:
        raise ApplianceError(f"No event with id {event_id} in the store.")
    record = found[0]
    since, until = time_range(record)
    flt = display_filter(record, since, until)
    files = packet_files(cfg, store, record, since, until)
    with tempfile.TemporaryDirectory(prefix="spanwatch-evidence-") as tmp:
        parts = []
        for index, source in enumerate(files):
            part = Path(tmp) / f"part{index}.pcap"
            _run(tshark_argv(source, flt, part), f"tshark could not read {source}")
            parts.append(part)
        out = parts[0] if len(parts) == 1 else Path(tmp) / "evidence.pcap"
        if len(parts) > 1:
            _run(mergecap_argv(parts, out), "mergecap could not merge the evidence")
        size = out.stat().st_size
        if size > MAX_BYTES:
            raise CaptureError(f"The evidence is {size // 1048576} MiB, more than the "
                               f"{MAX_BYTES // 1048576} MiB a download may hold; use "
                               "`spanwatch dissect` on the appliance.")  # fmt: skip
        data = out.read_bytes()
    return Evidence(data, f"spanwatch-event-{event_id}.pcap", flt, len(files))


def _run(argv: list[str], failure: str) -> None:
    if shutil.which(argv[0]) is None:
        raise CaptureError(f"{argv[0]} is not installed (Debian package tshark).")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise CaptureError(f"{failure}: no answer within {TIMEOUT_S} s") from err
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CaptureError(f"{failure}: {message}")


def spanwatch_argv(*args: str) -> list[str]:
    """argv of the ``spanwatch`` console script installed beside this interpreter."""
    return [str(Path(sys.executable).with_name("spanwatch")), *args]


def dissect(cfg: AppConfig, config_path: Path | None, event_id: int,
            limit: int = 100) -> dict[str, Any]:  # fmt: skip
    """The dissection of an event's packets (``spanwatch dissect --json``).

    It runs in its own process: pyshark drives tshark through asyncio child watchers,
    which do not mix with the web server's workers (they reap each other's children).
    """
    args = ["dissect", "--event-id", str(int(event_id)), "--json", "--limit", str(limit),
            "--data-dir", str(cfg.data_dir), "-q"]  # fmt: skip
    if config_path is not None:
        args += ["--config", str(config_path)]
    try:
        done = subprocess.run(spanwatch_argv(*args), capture_output=True, text=True,
                              timeout=TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise CaptureError(f"the dissection took more than {TIMEOUT_S} s") from err
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no message"]
        message = lines[-1].removeprefix("spanwatch: error: ")
        raise CaptureError(message)
    try:
        view: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise CaptureError(f"unreadable dissection output: {err}") from err
    return view
