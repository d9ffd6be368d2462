"""Loading IOC feeds (plain text, CSV, STIX 2.1, MISP JSON) into indicators.

A file that cannot be read as its format at all (missing, not UTF-8, broken JSON, a
CSV without the indicator column) raises :class:`IntelError` naming file and line. A
bad entry inside a good file is skipped: the feed's :class:`FeedReport` counts it by
reason and keeps the first warnings (file, line, problem), because third-party feeds
always hold a few odd lines and one of them must not blind the sensor to the rest.

Formats:
- text: one indicator per line, type inferred (or the feed's ``type``); blank lines and
  lines starting with ``#`` or ``;`` are skipped, and only the first word of a line
  counts, so ``192.0.2.1  # comment`` and Spamhaus DROP lines work.
- csv: a header line (after leading ``#`` lines) naming the columns; the feed's
  ``columns`` give the names of the indicator, type and feed columns. An empty or
  missing type is inferred; a feed column is kept as ``<feed name>/<column value>``.
- stix: a bundle of ``indicator`` objects with simple patterns (see ``stix.py``).
- misp: an event export (see ``misp.py``).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import IntelConfig, IntelCsvColumns, IntelFeed
from appliance.intel.indicator import Indicator, infer_type, normalize, type_from_name
from appliance.intel.misp import misp_attributes
from appliance.intel.stix import parse_pattern, stix_entries

logger = logging.getLogger(__name__)

#: Warnings kept (and logged) per feed; the rest are only counted.
MAX_WARNINGS = 20
_STIX_RE = re.compile(r'"type"\s*:\s*"(?:bundle|indicator)"')


class IntelError(ValueError):
    """A feed file that cannot be loaded at all; the message names file and line."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(str(Problem(str(path), line, message)))


@dataclass(frozen=True)
class Problem:
    """A problem at a place in a feed file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class FeedReport:
    """What loading one feed gave: indicators per type, skipped entries per reason."""

    name: str
    path: Path
    format: str
    counts: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Indicators loaded."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line: ``feed: 12 indicators (domain=9, ip=3); skipped invalid=1``."""
        types = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        text = f"{self.name}: {self.total} indicators ({types or 'none'})"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items()))
        return text


def load_feeds(cfg: IntelConfig) -> tuple[list[Indicator], list[FeedReport]]:
    """Indicators of every enabled feed, and one report per feed."""
    indicators: list[Indicator] = []
    reports = []
    for feed in cfg.feeds:
        if feed.enabled:
            found, report = load_feed(feed)
            indicators += found
            reports.append(report)
    return indicators, reports


def load_feed(feed: IntelFeed) -> tuple[list[Indicator], FeedReport]:
    """The indicators of one feed file; IntelError if the file is unusable."""
    text = _read_text(feed.path)
    fmt = detect_format(feed, text)
    collector = _Collector(feed, fmt)
    if fmt == "text":
        _parse_text(collector, text)
    elif fmt == "csv":
        _parse_csv(collector, text, feed.columns)
    else:
        data = _parse_json(feed.path, text)
        try:
            if fmt == "stix":
                _parse_stix(collector, data, text)
            else:
                _parse_misp(collector, data, text)
        except ValueError as err:
            raise IntelError(feed.path, None, str(err)) from err
    report = collector.report
    logger.info("Loaded threat intelligence %s path=%s.", report.summary(), feed.path)
    for problem in report.warnings:
        logger.warning("Skipped a feed entry: %s.", problem)
    return collector.indicators, report


def detect_format(feed: IntelFeed, text: str) -> str:
    """The feed's format: as configured, or by file suffix and content."""
    if feed.format != "auto":
        return feed.format
    if feed.path.suffix.lower() == ".csv":
        return "csv"
    head = text.lstrip()[:1]
    if head not in ("{", "["):
        return "text"
    # A STIX bundle says "type": "bundle" near its start; MISP exports never do.
    return "stix" if _STIX_RE.search(text, 0, 4096) else "misp"


class _Collector:
    """Validates entries into indicators and counts what it skips."""

    def __init__(self, feed: IntelFeed, fmt: str) -> None:
        self.feed = feed
        self.indicators: list[Indicator] = []
        self.report = FeedReport(feed.name, feed.path, fmt)

    def add(self, line: int | None, value: str, kind: str | None = None,
            ref: str | None = None, subfeed: str | None = None) -> None:  # fmt: skip
        try:
            kind, value = normalize(kind or self.feed.type or infer_type(value), value)
        except ValueError as err:
            self.skip("invalid", line, str(err))
            return
        name = f"{self.feed.name}/{subfeed}" if subfeed else self.feed.name
        self.indicators.append(Indicator(kind, value, name, line, ref))
        self.report.counts[kind] += 1

    def skip(self, reason: str, line: int | None = None, message: str | None = None) -> None:
        self.report.skipped[reason] += 1
        if message is not None and len(self.report.warnings) < MAX_WARNINGS:
            self.report.warnings.append(Problem(str(self.feed.path), line, message))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise IntelError(path, None, "feed file not found") from err
    except OSError as err:
        raise IntelError(path, None, f"cannot read the feed: {err.strerror}") from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise IntelError(path, line, "not UTF-8 text") from err


def _parse_text(collector: _Collector, text: str) -> None:
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and line[0] not in "#;":
            collector.add(number, line.split()[0])


def _parse_csv(collector: _Collector, text: str, columns: IntelCsvColumns) -> None:
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    if start == len(lines):
        return
    reader = csv.reader(lines[start:], strict=True)
    path = collector.feed.path
    try:
        header = [name.strip().lower() for name in next(reader)]
        wanted = (columns.indicator, columns.type, columns.feed)
        where = {n: header.index(n.lower()) for n in wanted if n.lower() in header}
        if columns.indicator not in where:
            found = ", ".join(header)
            message = f"no column {columns.indicator!r} in the header ({found})"
            raise IntelError(path, start + 1, message + "; set the feed's columns.indicator")
        for row in reader:
            _csv_row(collector, start + reader.line_num, row, where, columns)
    except csv.Error as err:
        raise IntelError(path, start + reader.line_num, f"bad CSV: {err}") from err


def _csv_row(collector: _Collector, number: int, row: list[str], where: dict[str, int],
             columns: IntelCsvColumns) -> None:  # fmt: skip
    if not any(cell.strip() for cell in row) or row[0].startswith("#"):
        return
    cells = {name: row[i].strip() if i < len(row) else "" for name, i in where.items()}
    kind = None
    type_name = cells.get(columns.type, "")
    if type_name:
        kind = type_from_name(type_name)
        if kind is None:
            collector.skip("unsupported-type", number, f"unknown indicator type {type_name!r}")
            return
    value = cells[columns.indicator]
    if not value:
        collector.skip("invalid", number, "empty indicator")
        return
    collector.add(number, value, kind, subfeed=cells.get(columns.feed) or None)


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise IntelError(path, err.lineno, f"bad JSON: {err.msg}") from err
    except RecursionError as err:
        raise IntelError(path, None, "bad JSON: nested too deeply") from err


def _parse_stix(collector: _Collector, data: Any, text: str) -> None:
    lines = _LineFinder(text)
    for stix_id, obj in stix_entries(data):
        line = lines.find(stix_id)
        pattern_type = obj.get("pattern_type", "stix")
        if obj.get("revoked") is True:
            collector.skip("revoked")
        elif pattern_type != "stix":
            collector.skip(f"pattern-type:{pattern_type}")
        elif not isinstance(obj.get("pattern"), str):
            collector.skip("invalid", line, f"{stix_id} has no pattern")
        else:
            try:
                pairs = parse_pattern(obj["pattern"])
            except ValueError as err:
                collector.skip("complex-pattern", line, f"{stix_id}: pattern skipped, {err}")
                continue
            ref = str(obj.get("name") or stix_id)
            for kind, value in pairs:
                collector.add(line, value, kind, ref=ref)


def _parse_misp(collector: _Collector, data: Any, text: str) -> None:
    lines = _LineFinder(text)
    for attr in misp_attributes(data):
        if attr.skipped is not None:
            collector.skip(attr.skipped)
            continue
        line = lines.find(attr.uuid)
        if attr.error is not None:
            collector.skip("invalid", line, attr.error)
        for kind, value in attr.values:
            collector.add(line, value, kind, ref=attr.ref)


class _LineFinder:
    """Line numbers of ids in a JSON text, searching on from the previous one."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def find(self, needle: str) -> int | None:
        if not needle:
            return None
        pos = self.text.find(needle, self.pos)
        if pos < 0:
            self.pos, self.line = 0, 1
            pos = self.text.find(needle)
            if pos < 0:
                return None
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line
