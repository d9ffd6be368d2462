"""Shared fixtures: test data location, a temporary appliance, the CLI as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sensors.analyzers import REGISTRY
from tests.helpers.cli import REPO, testdata_dir

# Derived files such as the country/AS tables (appliance.traffic.geo) go to a directory of
# the test runs, shared by their processes and checked before use, never to the home of
# whoever runs the suite.
os.environ.setdefault(
    "SPANWATCH_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"spanwatch-tests-{os.getuid()}")
)


@pytest.fixture(scope="session")
def testdata() -> Path:
    path = testdata_dir()
    if not path.is_dir():
        pytest.fail(f"Test data not found at {path}; set SPANWATCH_TESTDATA.")
    return path


@pytest.fixture(scope="session")
def suricata_bin() -> str:
    """The real Suricata: the test command installs it, so a missing one fails the run."""
    path = shutil.which("suricata") or "/usr/bin/suricata"
    if not os.access(path, os.X_OK):
        pytest.fail("Suricata is not installed; `make test` installs it.")
    return path


@pytest.fixture
def appliance_config(tmp_path: Path) -> Path:
    """A minimal appliance.yaml with its own data directory, for CLI tests.

    The EVE analyzers are off: these tests count what ingest stores, and analyzers add
    findings of their own; each analyzer's tests turn on what they exercise.
    """
    data = {
        "sensor": {"name": "test-sensor"},
        "networks": {"home": ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]},
        "data_dir": str(tmp_path / "data"),
        "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
        "analyzers": {name: {"enabled": False} for name in REGISTRY},
    }
    path = tmp_path / "appliance.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root, as in CI); skipped where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers the rest")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
