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

    The first lookups search the files' text (about 2 ms each: one scan per registry finds
    every block of the address's first 24 bits), with no start-up cost for a capture that
    shows a few MACs; after ``index_after`` blocks a prefix table is built once (about
    55 ms: as much as 25 searches). Each block's vendor is remembered.
    """

    def __init__(self, paths: Sequence[Path], index_after: int = 16) -> None:
        self.paths = list(paths)
        self.index_after = index_after
        self._texts: list[str] | None = None
        self._prefixes: dict[str, str] | None = None
        self._known: dict[str, str | None] = {}  # by the address's first 36 bits
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

    def _search(self, texts: list[str], digits: str) -> str | None:
        """The vendor of the longest block (36, 28, then 24 bits) that holds ``digits``;
        of two entries for one block, the last, as in the table."""
        best, best_len = None, 0
        needle = f",{digits[:6]}"
        for text in texts:
            at = text.find(needle)
            while at != -1:
                start = text.rfind("\n", 0, at) + 1
                end = text.find("\n", at)
                for assignment, name in self._entries([text[start:end if end != -1 else None]]):
                    size = len(assignment)
                    if size in (9, 7, 6) and size >= best_len and digits.startswith(assignment):
                        best, best_len = name, size
                at = text.find(needle, at + 1)
        return best

    def vendor(self, mac: str) -> str | None:
        """The organisation the MAC's block is assigned to, if the registries know it."""
        norm = normalize_mac(mac)
        if norm is None:
            return None
        digits = norm.replace(":", "").upper()
        if int(digits[:2], 16) & 2:
            return LOCAL_VENDOR
        block = digits[:9]
        with self._lock:
            if block in self._known:
                return self._known[block]
            if self._texts is None:
                self._texts = self._read()
            if self._prefixes is None and len(self._known) >= self.index_after:
                self._prefixes = dict(self._entries(
                    line for text in self._texts for line in text.splitlines()))
            prefixes, texts = self._prefixes, self._texts
        if prefixes is None:
            found = self._search(texts, digits)
        else:
            found = next((prefixes[p] for p in (digits[:9], digits[:7], digits[:6])
                          if p in prefixes), None)  # fmt: skip
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[block] = found
        return found
