"""Configuration of threat-intelligence feeds (the ``intel:`` section)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from appliance.config_base import _Model

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

IndicatorType = Literal["ip", "cidr", "domain", "url", "md5", "sha1", "sha256", "ja3"]


class IntelCsvColumns(_Model):
    """Header names of the columns of a CSV feed."""

    indicator: str = Field(default="indicator", description="Column of the indicator.")
    type: str = Field(default="type", description="Column of its type (absent: inferred).")
    feed: str = Field(default="feed", description="Column of the original feed (optional).")


class IntelFeed(_Model):
    """One file of indicators of compromise."""

    name: str = Field(description="Feed name, named by every match.")
    path: Path = Field(description="The feed file.")
    format: Literal["auto", "text", "csv", "stix", "misp"] = Field(
        default="auto", description="auto: .csv is CSV, JSON is STIX 2.1 or MISP, else text."
    )
    enabled: bool = Field(default=True)
    type: IndicatorType | None = Field(
        default=None, description="Type of entries that do not state one (e.g. ja3 for a list "
        "of JA3 hashes); none: inferred from each value."
    )
    columns: IntelCsvColumns = Field(default_factory=IntelCsvColumns)

    @field_validator("name")
    @classmethod
    def _check_feed_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("must be 1-63 letters, digits, '.', '_' or '-'")
        return value


class IntelConfig(_Model):
    """Threat intelligence: IOC feeds matched on EVE and exported as Suricata datasets."""

    feeds: list[IntelFeed] = Field(
        default=[],
        description="Feeds: {name, path, format: auto|text|csv|stix|misp, enabled, type, "
        "columns: {indicator, type, feed}}.",
    )

    @field_validator("feeds")
    @classmethod
    def _check_unique_feeds(cls, value: list[IntelFeed]) -> list[IntelFeed]:
        names = [f.name for f in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feed listed twice: {', '.join(dupes)}")
        return value
