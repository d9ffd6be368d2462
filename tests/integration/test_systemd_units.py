"""The systemd units in systemd/: valid for systemd, hardened, and calling real commands.

``systemd-analyze verify`` and ``security --offline`` run against a throwaway root that
holds the distribution's units, ours in /etc/systemd/system, and a stand-in
/opt/spanwatch/bin/spanwatch, so nothing is installed on this machine and no running
systemd is needed.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import build_parser
from tests.helpers.cli import REPO

UNIT_DIR = REPO / "systemd"
SURICATA_UNIT = "spanwatch-suricata@.service"
SENSOR_UNIT = "spanwatch-sensor@.service"
TARGET = "spanwatch.target"
INSTALLED_BIN = "/opt/spanwatch/bin/spanwatch"
INSTANCE = "eth1"
# systemd-analyze security: overall exposure x10 (0 safe ... 100 unprotected); "OK" < 50.
MAX_EXPOSURE = 30
SYSTEM_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))


def parse_unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; systemd allows a key more than once."""
    entries, section = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(path: Path, section: str, key: str) -> list[str]:
    return [v for s, k, v in parse_unit(path) if (s, k) == (section, key)]


def value(path: Path, section: str, key: str) -> str:
    found = values(path, section, key)
    assert len(found) == 1, f"{path.name}: [{section}] {key}= set {len(found)} times"
    return found[0]


@pytest.fixture(scope="module")
def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze not installed (Debian package `systemd`; `make deps`)")
    return path


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A filesystem root with the system's units, ours, and a stand-in spanwatch binary."""
    root = tmp_path_factory.mktemp("root")
    system = next((d for d in SYSTEM_UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if system is None:
        pytest.fail("no systemd unit directory with sysinit.target on this machine")
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for unit in (SURICATA_UNIT, SENSOR_UNIT, TARGET):
        shutil.copy(UNIT_DIR / unit, etc / unit)
    stand_in = root / INSTALLED_BIN.lstrip("/")
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    yield root


def instance(template: str, escaped_name: str = INSTANCE) -> str:
    return template.replace("@.", f"@{escaped_name}.")


# An interface name with a dash is escaped in the unit name (systemd-escape br-span).
@pytest.mark.parametrize("escaped_name", [INSTANCE, r"br\x2dspan"])
def test_units_pass_systemd_analyze_verify(
    analyze: str, unit_root: Path, escaped_name: str
) -> None:
    units = [instance(SURICATA_UNIT, escaped_name), instance(SENSOR_UNIT, escaped_name), TARGET]
    proc = subprocess.run(
        [analyze, "verify", "--man=no", "--generators=no", f"--root={unit_root}", *units],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # verify exits 0 on unknown keys and only warns: any output is a finding.
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@pytest.mark.parametrize("template", [SURICATA_UNIT, SENSOR_UNIT])
def test_service_exposure_is_low(analyze: str, unit_root: Path, template: str) -> None:
    proc = subprocess.run(
        [analyze, "security", "--offline=true", f"--root={unit_root}",
         f"--threshold={MAX_EXPOSURE}", "--no-pager", instance(template)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    overall = [line for line in proc.stdout.splitlines() if "Overall exposure" in line]
    assert proc.returncode == 0, "\n".join(overall) or proc.stdout + proc.stderr


def test_suricata_runs_unprivileged_with_capture_capabilities_only() -> None:
    unit = UNIT_DIR / SURICATA_UNIT
    assert value(unit, "Service", "User") not in ("", "root", "0")
    capture_caps = {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert set(value(unit, "Service", "AmbientCapabilities").split()) == capture_caps
    assert set(value(unit, "Service", "CapabilityBoundingSet").split()) == capture_caps
    assert value(unit, "Service", "NoNewPrivileges") == "yes"
    # Instances share /run/spanwatch: stopping one must not delete another's socket.
    assert value(unit, "Service", "RuntimeDirectoryPreserve") == "yes"


def test_sensor_is_bound_to_its_suricata_and_holds_no_capabilities() -> None:
    unit = UNIT_DIR / SENSOR_UNIT
    suricata = "spanwatch-suricata@%i.service"
    assert value(unit, "Unit", "BindsTo") == suricata
    assert value(unit, "Unit", "After") == suricata
    assert value(unit, "Service", "User") == "spanwatch"
    assert value(unit, "Service", "CapabilityBoundingSet") == ""
    # Suricata's Restart= stops the bound sensor; its unit must pull the sensor back in.
    assert "spanwatch-sensor@%i.service" in values(UNIT_DIR / SURICATA_UNIT, "Unit", "Wants")


@pytest.mark.parametrize("template", [SURICATA_UNIT, SENSOR_UNIT])
def test_services_restart_read_defaults_and_join_the_target(template: str) -> None:
    unit = UNIT_DIR / template
    assert value(unit, "Service", "Restart") == "on-failure"
    assert value(unit, "Service", "EnvironmentFile") == "-/etc/default/spanwatch"
    assert value(unit, "Service", "ProtectSystem") == "strict"
    assert value(unit, "Install", "WantedBy") == TARGET
    assert value(unit, "Unit", "PartOf") == TARGET
    assert value(UNIT_DIR / TARGET, "Install", "WantedBy") == "multi-user.target"


def exec_lines() -> list[tuple[str, str, str]]:
    """(unit, key, command line) of every Exec*= that runs spanwatch."""
    found = []
    for template in (SURICATA_UNIT, SENSOR_UNIT):
        for section, key, val in parse_unit(UNIT_DIR / template):
            if section == "Service" and key.startswith("Exec") and INSTALLED_BIN in val:
                found.append((template, key, val))
    return found


@pytest.mark.parametrize("unit,key,line", exec_lines())
def test_exec_lines_are_accepted_by_the_spanwatch_cli(unit: str, key: str, line: str) -> None:
    argv = shlex.split(line.lstrip("-+!@:").replace("%I", INSTANCE))
    assert argv[0] == INSTALLED_BIN
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if argv[1] not in sub.choices:
        pytest.xfail(f"`spanwatch {argv[1]}` is not implemented yet ({unit} {key}=)")
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{unit} {key}= is not a valid spanwatch command line: {line}")
    assert args.interface == INSTANCE
