"""Suricata for an offline analysis: its rule files and output folders, its socket, the
order captures are queued in, how far it has read a capture, what it said when it failed,
and which EVE file a given configuration writes."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance.errors import SuricataError
from appliance.suricata import render
from sensors.capturefile import CaptureInfo

SOCKET_WAIT_S = 120.0


def eve_filenames(config: Path) -> list[str]:
    """File names of the enabled, regular-file eve-log outputs of a suricata.yaml (or of
    the files it includes, where it has no outputs of its own)."""
    names = []
    for output in _outputs(config, depth=0):
        eve = output.get("eve-log") if isinstance(output, dict) else None
        if not isinstance(eve, dict) or str(eve.get("enabled", "yes")).lower() in ("no", "false"):
            continue
        if str(eve.get("filetype", "regular")) not in ("regular", "file"):
            continue
        names.append(str(eve.get("filename", render.EVE_FILENAME)))
    return list(dict.fromkeys(names))


def _outputs(config: Path, depth: int) -> list[Any]:
    """The ``outputs`` of a suricata.yaml: its own, else those of the last file it includes
    (``include:``, relative to its folder, as Suricata reads it) that has some."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []  # Suricata reads it next and says what is wrong, in its own words.
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("outputs"), list):
        return list(data["outputs"])
    included = data.get("include")
    found: list[Any] = []
    if depth < 8:  # (an include cycle)
        for name in included if isinstance(included, list) else [included] if included else []:
            found = _outputs(config.parent / str(name), depth + 1) or found
    return found


def output_dir(path: Path) -> Path:
    """A Suricata output directory with the folders its outputs expect."""
    for sub in (render.PCAP_DIR, render.FILES_DIR):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def wait_then_set(proc: subprocess.Popen[bytes], event: threading.Event,
                  then: Callable[[], None]) -> None:  # fmt: skip
    """Set ``event`` when Suricata exits (the ingest wakes at once, not at its next poll),
    after calling ``then``."""
    proc.wait()
    try:
        then()
    finally:
        event.set()


def wait_for_socket(sock: Path, proc: subprocess.Popen[bytes], run_dir: Path) -> Any:
    """A connected control client once Suricata (unix-socket mode) has opened ``sock``."""
    from appliance.errors import SuricataConnectionError
    from appliance.suricata.control import SuricataControl

    deadline = time.monotonic() + SOCKET_WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SuricataError(failure_message(Path("(unix socket)"), proc.returncode, run_dir))
        if sock.exists():
            control = SuricataControl(sock, timeout=30.0)
            try:
                control.connect()
                return control
            except SuricataConnectionError:
                pass
        time.sleep(0.1)
    raise SuricataError(f"Suricata did not open its socket {sock} in {SOCKET_WAIT_S:.0f} s")


def read_share(pid: int | None, info: CaptureInfo) -> float | None:
    """Share of the capture Suricata has read, from its file position in /proc."""
    if pid is None:
        return None
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            if fd.resolve() == info.path.resolve():
                text = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                pos = int(text.split("pos:")[1].split()[0])
                return min(1.0, pos / max(info.size, 1))
    except (OSError, ValueError, IndexError):
        return None
    return None


def failure_message(path: Path, code: int | None, log_dir: Path) -> str:
    """Why Suricata failed on ``path``: its own error lines (or the last lines it wrote)."""
    lines: list[str] = []
    for name in ("suricata.stdout", "0/suricata.stdout", "suricata.log"):
        log = log_dir / name
        if log.exists():
            text = log.read_text(errors="replace")
            lines = render.suricata_error_lines(text) or text.strip().splitlines()[-5:]
            if lines:
                break
    detail = "\n".join(lines) or "no output"
    return f"Suricata failed on {path} (exit status {code}):\n{detail}"


def rule_files_from(paths: Sequence[Path]) -> list[Path]:
    """Rule files from ``--rules`` arguments (files, or directories of ``*.rules``)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(path.glob("*.rules")))
        elif path.is_file():
            out.append(path)
        else:
            raise SuricataError(f"{path}: no such rules file or directory")
    return [p.absolute() for p in out]


def rule_files_include(run_dir: Path, rule_files: Sequence[Path]) -> Path:
    """A configuration file (for ``--include``) whose ``rule-files`` replace those of the
    configuration given (``-S`` takes one file; absolute paths, so its default-rule-path,
    which rules may name their Lua scripts and lists by, is left as it is)."""
    import yaml

    path = run_dir / "rule-files.yaml"
    body = yaml.safe_dump({"rule-files": [str(p.absolute()) for p in rule_files]})
    path.write_text("%YAML 1.1\n---\n" + body, encoding="utf-8")
    return path


def queue_order(infos: Sequence[CaptureInfo]) -> list[int]:
    """The order to queue captures in Suricata's unix-socket mode: oldest traffic first.

    Suricata keeps its clock from one file to the next. A capture older than the one
    before it sends that clock backwards, and the flow manager, still at the later time,
    may time out the older capture's flows mid-stream: a flow is split, a protocol record
    is logged twice or lost (seen: an extra http record and a stream anomaly, a flow
    logged twice, a POP3 login missing). In time order no flow looks older than it is.
    Captures with no packet time (pcapng of simple packet blocks only) keep their turn at
    the end. Summaries are still reported in the order given.
    """
    return sorted(range(len(infos)), key=lambda i: (infos[i].first_ts is None,
                                                     infos[i].first_ts or 0.0))  # fmt: skip
