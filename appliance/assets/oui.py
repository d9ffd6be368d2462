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
from collections.abc import Iterable, Iterator, Sequence
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
    """Vendor lookups over the IEEE CSV registries.

    The first lookups search the files' text for the prefix (a few milliseconds each, no
    start-up cost for ``spanwatch analyze`` of one capture); after ``index_after`` lookups
    a prefix table is built once, for the long-running core.
    """

    def __init__(self, paths: Sequence[Path], index_after: int = 32) -> None:
        self.paths = list(paths)
        self.index_after = index_after
        self._texts: list[str] | None = None
        self._prefixes: dict[str, str] | None = None
        self._lookups = 0
        self._lock = threading.Lock()

    def _read(self) -> list[str]:
        texts = []
        for path in self.paths:
            try:
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
            except OSError as err:
                logger.warning("Cannot read MAC vendor registry: path=%s error=%s.", path, err)
        if not texts:
            logger.warning("No MAC vendor registry loaded; install the Debian package ieee-data.")
        return texts

    @staticmethod
    def _entries(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
        """(assignment, organisation) of registry CSV lines."""
        for line in lines:
            _registry, assignment, rest = (line.split(",", 2) + ["", ""])[:3]
            if not _HEX_RE.match(assignment):
                continue
            # Quoted names (with commas) need the CSV parser; most do not.
            name = (next(csv.reader([rest]))[0] if rest.startswith('"')
                    else rest.split(",", 1)[0]).strip()  # fmt: skip
            if name:
                yield assignment, name

    def _search(self, texts: list[str], prefix: str) -> str | None:
        found = None
        for text in texts:
            at = text.find(f",{prefix},")
            while at != -1:
                start = text.rfind("\n", 0, at) + 1
                end = text.find("\n", at)
                for assignment, name in self._entries([text[start:end if end != -1 else None]]):
                    if assignment == prefix:
                        found = name  # the last entry wins, as in the table
                at = text.find(f",{prefix},", at + 1)
        return found

    def vendor(self, mac: str) -> str | None:
        """The organisation the MAC's block is assigned to, if the registries know it."""
        norm = normalize_mac(mac)
        if norm is None:
            return None
        digits = norm.replace(":", "").upper()
        if int(digits[:2], 16) & 2:
            return LOCAL_VENDOR
        with self._lock:
            if self._texts is None:
                self._texts = self._read()
            self._lookups += 1
            if self._prefixes is None and self._lookups > self.index_after:
                self._prefixes = dict(self._entries(
                    line for text in self._texts for line in text.splitlines()))
            prefixes, texts = self._prefixes, self._texts
        for length in (9, 7, 6):
            prefix = digits[:length]
            name = prefixes.get(prefix) if prefixes is not None else self._search(texts, prefix)
            if name is not None:
                return name
        return None
