"""Running the real ``spanwatch`` console script from tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def testdata_dir() -> Path:
    """The shared corpus (pcaps, suricata-verify, ET Open); SPANWATCH_TESTDATA overrides."""
    return Path(os.environ.get("SPANWATCH_TESTDATA", REPO.parent / "shared" / "data"))


def spanwatch_argv(*args: str | os.PathLike[str]) -> list[str]:
    """argv of the installed console script next to this interpreter."""
    return [str(Path(sys.executable).with_name("spanwatch")), *map(str, args)]


def run_spanwatch(
    *args: str | os.PathLike[str], timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``spanwatch`` as a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        spanwatch_argv(*args), capture_output=True, text=True, timeout=timeout, env=full_env
    )
