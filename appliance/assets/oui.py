"""MAC vendors from the IEEE registries, offline (Debian package ``ieee-data``).

The registries assign blocks of 24 (MA-L), 28 (MA-M) and 36 bits (MA-S, IAB); a lookup
tries the longest prefix first. Locally administered addresses (randomised by phones and
laptops for privacy, or set on virtual machines) belong to no vendor.
"""

from __future__ import annotations

import csv
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

_HEX_RE = re.compile(r"^[0-9A-F]{6,9}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$")
#: Shown instead of a vendor for randomised or administrator-set addresses.
LOCAL_VENDOR = "(locally administered)"


def normalize_mac(value: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from common spellings, or None when it is not a unicast MAC."""
    text = value.strip().lower()
    if not _MAC_RE.match(text):
        return None
    digits = text.replace(":", "").replace("-", "")
    if int(digits[:2], 16) & 1 or digits in ("000000000000", "ffffffffffff"):
        return None  # multicast/broadcast or empty: never one host's address
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


class OuiRegistry:
    """Vendor lookups over the IEEE CSV registries, loaded once on first use."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self._prefixes: dict[str, str] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        prefixes: dict[str, str] = {}
        for path in self.paths:
            try:
                with path.open(encoding="utf-8", errors="replace", newline="") as fh:
                    for line in fh:
                        _registry, assignment, rest = (line.split(",", 2) + ["", ""])[:3]
                        if not _HEX_RE.match(assignment):
                            continue
                        # Quoted names (with commas) need the CSV parser; most do not.
                        name = (next(csv.reader([rest]))[0] if rest.startswith('"')
                                else rest.split(",", 1)[0]).strip()  # fmt: skip
                        if name:
                            prefixes[assignment] = name
            except OSError as err:
                logger.warning("Cannot read MAC vendor registry: path=%s error=%s.", path, err)
        if not prefixes:
            logger.warning("No MAC vendor registry loaded; install the Debian package ieee-data.")
        return prefixes

    def vendor(self, mac: str) -> str | None:
        """The organisation the MAC's block is assigned to, if the registries know it."""
        norm = normalize_mac(mac)
        if norm is None:
            return None
        digits = norm.replace(":", "").upper()
        if int(digits[:2], 16) & 2:
            return LOCAL_VENDOR
        with self._lock:
            if self._prefixes is None:
                self._prefixes = self._load()
        for length in (9, 7, 6):
            name = self._prefixes.get(digits[:length])
            if name is not None:
                return name
        return None
