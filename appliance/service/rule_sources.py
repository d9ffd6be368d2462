"""Rule sources as the rules page manages them: configured, added by URL, uploaded.

``appliance.yaml`` lists the configured sources (the file on disk stays the source of
truth for them; the page may only switch them on or off). Administrators add URL sources
and upload offline bundles here; both live in the state database and under
``<data_dir>/rules/uploads``. The core hands the merged list to suricata-update.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from appliance.config import RuleSource
from appliance.errors import RulesError
from appliance.suricata.rule_text import read_rules
from appliance.suricata.rules import MAX_BUNDLE_BYTES, extract_bundle, is_bundle

if TYPE_CHECKING:
    from appliance.state import StateDB

_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,63}$")
UPLOADS = "uploads"


@dataclass(frozen=True, slots=True)
class SourceView:
    """A source as listed on the rules page."""

    name: str
    url: str | None
    path: str | None
    enabled: bool
    origin: str  # "config" | "url" | "upload"
    detail: str
    updated_by: str | None
    updated_at: int | None

    def as_source(self) -> RuleSource:
        return RuleSource(
            name=self.name, url=self.url, path=Path(self.path) if self.path else None,
            enabled=self.enabled,
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def check_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not _NAME.match(name) or ".." in name:
        raise RulesError(
            "A source name is 1-64 characters: lowercase letters, digits, '.', '_', '-', '/'."
        )
    return name


def check_url(url: str) -> str:
    url = (url or "").strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.netloc or len(url) > 2000:
        raise RulesError("A rule source URL starts with https:// (or http://) and names a host.")
    if any(ch.isspace() for ch in url):
        raise RulesError("A rule source URL has no spaces.")
    return url


def list_sources(state: StateDB, configured: list[RuleSource]) -> list[SourceView]:
    """The configured sources (with the page's on/off switch) then the added ones."""
    rows = {r["name"]: r for r in state.query("SELECT * FROM rule_sources ORDER BY name")}
    out = []
    for src in configured:
        row = rows.pop(src.name, None)
        out.append(SourceView(
            src.name, src.url, str(src.path) if src.path else None,
            bool(row["enabled"]) if row is not None else src.enabled, "config",
            row["detail"] if row is not None else "", row["actor"] if row is not None else None,
            row["updated_at"] if row is not None else None,
        ))  # fmt: skip
    for row in rows.values():
        if row["origin"] == "config":
            continue  # a switch left behind by a source since removed from the file
        out.append(SourceView(
            row["name"], row["url"], row["path"], bool(row["enabled"]), row["origin"],
            row["detail"], row["actor"], row["updated_at"],
        ))  # fmt: skip
    return out


def save_upload(rules_dir: Path, name: str, filename: str, data: bytes) -> tuple[Path, int]:
    """Validate an uploaded bundle (tar of .rules, or one .rules file) and keep it.

    Returns (folder of its rule files, enabled rule count). Rejected, with nothing kept,
    if it is too large, not a safe tar of rule files, or holds no rule.
    """
    if len(data) > MAX_BUNDLE_BYTES:
        raise RulesError(f"The bundle is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB.")
    if not data:
        raise RulesError("The uploaded file is empty.")
    base = rules_dir / UPLOADS
    base.mkdir(parents=True, exist_ok=True)
    safe = name.replace("/", "_")
    with tempfile.TemporaryDirectory(prefix=".upload-", dir=base) as tmp:
        work = Path(tmp)
        lower = filename.lower()
        target = work / "rules"
        target.mkdir()
        if lower.endswith(".rules"):
            (target / "uploaded.rules").write_bytes(data)
        else:
            archive = work / ("bundle.tar.gz" if is_bundle(Path(lower)) else "bundle.tar")
            archive.write_bytes(data)
            extract_bundle(archive, target)  # RulesError names why a bundle is refused
        count = sum(
            sum(1 for r in read_rules(p) if r.enabled) for p in sorted(target.rglob("*.rules"))
        )
        if count == 0:
            raise RulesError(f"{filename}: no enabled Suricata rule inside.")
        final = base / safe
        old = base / f".{safe}.old"
        if final.exists():
            final.rename(old)
        target.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    return final, count


def upsert_source(
    conn: Any, name: str, *, url: str | None, path: str | None, enabled: bool, origin: str,
    detail: str, actor: str, now: int,
) -> None:  # fmt: skip
    conn.execute(
        "INSERT INTO rule_sources (name, url, path, enabled, origin, detail, actor, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET url = excluded.url, "
        "path = excluded.path, enabled = excluded.enabled, origin = excluded.origin, "
        "detail = excluded.detail, actor = excluded.actor, updated_at = excluded.updated_at",
        (name, url, path, int(enabled), origin, detail, actor, now),
    )
