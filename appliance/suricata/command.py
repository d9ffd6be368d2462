"""Pure builders of Suricata command lines (argv lists, never shell strings)."""

from __future__ import annotations

import os
from collections.abc import Sequence

StrPath = str | os.PathLike[str]


def test_argv(binary: StrPath, config: StrPath, rule_files: Sequence[StrPath] = ()) -> list[str]:
    """``suricata -T``: test ``config``, with ``rule_files`` instead of its rule-files.

    No ``rule_files`` tests the rule-files listed in the configuration. Suricata accepts
    a single ``-S`` option, so several files must be listed in the configuration instead.
    """
    if len(rule_files) > 1:
        raise ValueError("suricata -T takes one -S rule file; list several in rule-files")
    argv = [os.fspath(binary), "-T", "-c", os.fspath(config)]
    for path in rule_files:
        argv += ["-S", os.fspath(path)]
    return argv


def offline_argv(
    binary: StrPath,
    config: StrPath,
    pcap: StrPath,
    log_dir: StrPath,
    *,
    extra_sets: Sequence[str] = (),
    runmode: str = "autofp",
) -> list[str]:
    """Read one capture file (``-r``); checksum handling comes from the configuration."""
    argv = [
        os.fspath(binary),
        "-c",
        os.fspath(config),
        "-r",
        os.fspath(pcap),
        "-l",
        os.fspath(log_dir),
        "--runmode",
        runmode,
    ]
    return argv + set_args(extra_sets)


def live_argv(
    binary: StrPath, config: StrPath, interface: str, log_dir: StrPath, pidfile: StrPath
) -> list[str]:
    """Capture on ``interface`` with AF_PACKET, as the long-running sensor engine."""
    if not interface or interface.startswith("-"):
        raise ValueError(f"invalid interface name {interface!r}")
    return [
        os.fspath(binary),
        "-c",
        os.fspath(config),
        f"--af-packet={interface}",
        "-l",
        os.fspath(log_dir),
        "--pidfile",
        os.fspath(pidfile),
    ]


def unix_socket_argv(
    binary: StrPath, config: StrPath, socket_path: StrPath, log_dir: StrPath
) -> list[str]:
    """Suricata's unix-socket mode: it waits for ``pcap-file`` commands on the socket."""
    return [
        os.fspath(binary),
        "-c",
        os.fspath(config),
        f"--unix-socket={os.fspath(socket_path)}",
        "-l",
        os.fspath(log_dir),
    ]


def set_args(sets: Sequence[str]) -> list[str]:
    """``--set name=value`` pairs, each checked to be of that shape."""
    argv: list[str] = []
    for item in sets:
        name, sep, _value = item.partition("=")
        if not sep or not name or name.startswith("-"):
            raise ValueError(f"--set needs name=value, got {item!r}")
        argv += ["--set", item]
    return argv
