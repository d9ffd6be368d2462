"""Suricata started before the configuration is loaded, from the plan of an earlier run.

``spanwatch analyze`` is measured against ``suricata -r`` alone, and importing and
validating the configuration takes about 0.15 s before Suricata could start: on a small
capture, half of what analyze adds. So the ``spanwatch`` command starts here, with only
the standard library imported. An analysis of one capture records the Suricata
configuration and command line it ran (its plan), keyed by its own command line (but for
the capture and the ``--data-dir``), working directory, ``SPANWATCH_*`` environment and
configuration file. The next such command starts Suricata from the plan at once, while
the configuration loads; the analysis then renders its configuration as always and adopts
that Suricata only if the configuration text and the command line are exactly the ones it
would have run (:func:`adopt`). Otherwise the early Suricata is stopped and its run
directory removed before the analysis starts its own: a stale plan costs a little CPU,
never a different result.

Plans are kept in the cache directory (:func:`appliance.paths.cache_dir`), and used only
from a file this user owns that no one else may write: a plan names a program to run.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.paths import cache_dir

PLANS_FILE = "analyze-plans.json"
MAX_PLANS = 16
DEFAULT_CONFIG = "/etc/spanwatch/appliance.yaml"
#: What a plan holds in place of this run's directories and capture (no path has a NUL).
_RUN, _DATA, _CAPTURE = "\0run\0", "\0data\0", "\0capture\0"


@dataclass
class Invocation:
    """This command, as far as a plan is concerned."""

    key: str
    capture: str
    #: From ``--data-dir``, else None (the configuration's, which the plan names).
    data_dir: str | None


@dataclass
class Early:
    """Suricata started from a plan, not yet adopted."""

    proc: subprocess.Popen[bytes]
    run_dir: Path
    yaml: str
    argv: list[str]
    owner: int  # the process that started it (not a forked helper)


_invocation: Invocation | None = None
_early: Early | None = None


def main() -> int:
    """The ``spanwatch`` console script."""
    start_early(sys.argv[1:])
    from appliance.cli import main as cli_main

    return cli_main()


def new_run_dir(data_dir: Path) -> Path:
    """A run directory of an analysis, not yet created: named by the time, with a suffix
    if that name is taken."""
    run_dir = data_dir / "runs" / time.strftime("%Y%m%dT%H%M%S")
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = run_dir.with_name(f"{run_dir.name.split('-')[0]}-{suffix}")
    return run_dir


def invocation_of(args: list[str], environ: Mapping[str, str] = os.environ) -> Invocation | None:
    """The plan key of ``spanwatch ARGS``: an analysis of one capture, given last, with an
    absolute ``--data-dir`` if any; None otherwise."""
    commands = [a for a in args if not a.startswith("-")]
    if not commands or commands[0] != "analyze" or len(args) < 2 or args[-1].startswith("-"):
        return None
    rest, keyed = args[:-1], []
    data_dir = config = None
    i = 0
    while i < len(rest):
        name, eq, value = rest[i].partition("=")
        if name not in ("--data-dir", "--config"):
            keyed.append(rest[i])
        else:
            if not eq:
                if i + 1 >= len(rest):
                    return None
                i += 1
                value = rest[i]
            if name == "--config":
                config = value
                keyed += [name, value]
            elif os.path.isabs(value):
                data_dir = str(Path(value))  # as the command line gives it to the config
                keyed += [name, _DATA]
            else:
                return None
        i += 1
    config = config or environ.get("SPANWATCH_CONFIG") or DEFAULT_CONFIG
    try:
        st = os.stat(config)
        config_id: list[Any] = [st.st_ino, st.st_size, st.st_mtime_ns]
    except OSError:
        config_id = []
    env = sorted((k, v) for k, v in environ.items() if k.startswith("SPANWATCH_"))
    key_data = [keyed, os.getcwd(), env, config, config_id, sys.executable]
    key = hashlib.sha256(json.dumps(key_data).encode()).hexdigest()
    return Invocation(key, args[-1], data_dir)


def start_early(args: list[str]) -> None:
    """Start Suricata from the plan of this command line, if there is one (never fails)."""
    global _invocation, _early
    try:
        _invocation = invocation_of(args)
        if _invocation is None or not os.path.isfile(_invocation.capture):
            return
        plan = _read_plans().get(_invocation.key)
        if plan is not None:
            _early = _start(plan, _invocation)
    except Exception:  # noqa: BLE001 - a damaged plan or a failed start: never the command's
        _early = None  # the analysis starts its own


def _start(plan: dict[str, Any], inv: Invocation) -> Early:
    data_dir = inv.data_dir or plan["data_dir"]
    run_dir = new_run_dir(Path(data_dir))
    run_dir.mkdir(parents=True)
    run, data = str(run_dir), str(data_dir)

    def fill(text: str) -> str:
        return text.replace(_RUN, run).replace(_DATA, data).replace(_CAPTURE, inv.capture)

    try:
        for sub in plan["dirs"]:
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        yaml = fill(plan["yaml"])
        (run_dir / plan["config"]).write_text(yaml, encoding="utf-8")
        argv = [fill(a) for a in plan["argv"]]
        with open(run_dir / plan["log"], "wb") as log:
            proc = spawn(argv, log)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    early = Early(proc, run_dir, yaml, argv, os.getpid())
    atexit.register(stop_early)
    return early


def spawn(argv: list[str], log: Any) -> subprocess.Popen[bytes]:
    """Start Suricata (output to ``log``) so that it is killed when this process ends,
    however it ends (Linux's parent-death signal; only where no other thread runs): a killed
    analysis leaves no Suricata behind, which in unix-socket mode would wait for ever."""
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=_dies_with_this_process())  # noqa: PLW1509


def _dies_with_this_process() -> Any:
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None  # not Linux: an orphan Suricata -r still ends with its capture
    parent = os.getpid()

    def set_in_child() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # this process ended before the signal was set
            os.kill(os.getpid(), signal.SIGKILL)

    return set_in_child


def early_run_dir(data_dir: Path) -> Path | None:
    """The run directory of the early Suricata if it runs for ``data_dir`` (the analysis
    takes it); otherwise the early Suricata is stopped."""
    if _early is None:
        return None
    if _early.run_dir.parent == data_dir / "runs":
        return _early.run_dir
    stop_early()
    return None


def adopt(yaml: str, argv: list[str]) -> subprocess.Popen[bytes] | None:
    """The early Suricata, if it runs exactly ``argv`` with the configuration ``yaml``;
    otherwise (or if none runs) None, with the early one stopped and its run removed."""
    global _early
    early = _early
    if early is None:
        return None
    if early.yaml == yaml and early.argv == argv:
        _early = None
        return early.proc
    logging.getLogger(__name__).info(
        "Stopped the Suricata started from an earlier analysis's plan: this analysis runs "
        "another %s; its plan replaces that one.", "command line" if early.argv != argv
        else "configuration")  # fmt: skip
    stop_early()
    return None


def stop_early() -> None:
    """Stop an early Suricata no analysis adopted, and remove its run directory."""
    global _early
    early, _early = _early, None
    if early is None or early.owner != os.getpid():
        return
    early.proc.kill()
    early.proc.wait()
    shutil.rmtree(early.run_dir, ignore_errors=True)


def remember(yaml: str, argv: list[str], run_dir: Path, data_dir: Path) -> None:
    """Record the plan of this command (an analysis of one capture that started Suricata
    itself), for the next run of the same command line. Best effort."""
    inv = _invocation
    if inv is None or not data_dir.is_absolute() or not run_dir.is_relative_to(data_dir):
        return
    run, data = str(run_dir), str(data_dir)

    def hollow(text: str) -> str:
        return text.replace(run, _RUN).replace(data, _DATA)

    capture_at = argv.index("-r") + 1 if "-r" in argv else -1
    config_at = argv.index("-c") + 1 if "-c" in argv else -1
    log = run_dir / "0" / "suricata.stdout"
    if config_at < 0 or not log.is_file():
        return
    plan = {
        "yaml": hollow(yaml),
        "argv": [_CAPTURE if i == capture_at else hollow(a) for i, a in enumerate(argv)],
        "config": os.path.relpath(argv[config_at], run),
        "log": os.path.relpath(log, run),
        "dirs": sorted(os.path.relpath(d, run) for d, _, _ in os.walk(run_dir)
                       if d != run and os.path.relpath(d, run).count(os.sep) < 2),
        "data_dir": data,
        "used": time.time(),
    }
    try:
        plans = _read_plans()
        plans[inv.key] = plan
        plans = {k: v for k, v in plans.items() if isinstance(v, dict)}
        kept = sorted(plans.items(), key=lambda kv: kv[1].get("used", 0))[-MAX_PLANS:]
        _write_plans(dict(kept))
    except Exception:  # noqa: BLE001 - a damaged plans file is replaced next time, if writable
        pass


def _plans_path() -> Path | None:
    found = cache_dir()
    return found / PLANS_FILE if found is not None else None


def _read_plans() -> dict[str, Any]:
    path = _plans_path()
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return {}  # a plan names a program to run: only our own, unwritable by others
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _write_plans(plans: dict[str, Any]) -> None:
    path = _plans_path()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # A new file only, never through a link someone left in a shared cache directory.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(plans, fh)
    os.replace(tmp, path)
