"""Where spanwatch keeps files it can always build again (a light module: the command's
launcher reads it before anything else is imported)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    """``$SPANWATCH_CACHE_DIR``, else systemd's ``$CACHE_DIRECTORY`` (``CacheDirectory=``
    of the units), else ``$XDG_CACHE_HOME/spanwatch`` or ``~/.cache/spanwatch``; None
    without a home directory (keep things in memory)."""
    env = os.environ
    if env.get("SPANWATCH_CACHE_DIR"):
        return Path(env["SPANWATCH_CACHE_DIR"])
    if env.get("CACHE_DIRECTORY"):  # the first if several
        return Path(env["CACHE_DIRECTORY"].split(":")[0])
    if env.get("XDG_CACHE_HOME", "").startswith("/"):
        return Path(env["XDG_CACHE_HOME"], "spanwatch")
    try:
        return Path.home() / ".cache" / "spanwatch"
    except (RuntimeError, KeyError):  # no home directory
        return None
