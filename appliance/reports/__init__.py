"""The daily risk report: ``Service.reports`` makes, stores and lists reports.

A report covers one appliance-local day; it is rendered as HTML and PDF in Vietnamese
(default) or English, stored under ``<data_dir>/reports/`` and recorded in the state
database so the UI can list and serve it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.reports.data import ReportData, collect
from appliance.reports.render import render_html, render_pdf

if TYPE_CHECKING:
    from appliance.service import Page, Service

logger = logging.getLogger(__name__)

FORMATS = ("html", "pdf")
LANGS = ("vi", "en")


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One stored report file."""

    id: int
    day: str
    lang: str
    format: str
    path: str
    size: int
    created_at: int
    summary: dict

    @property
    def filename(self) -> str:
        return Path(self.path).name

    @property
    def mime(self) -> str:
        return "application/pdf" if self.format == "pdf" else "text/html; charset=utf-8"


def render(data: ReportData, lang: str, fmt: str) -> bytes:
    """The report bytes in one format."""
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    html = render_html(data, lang)
    return html.encode("utf-8") if fmt == "html" else render_pdf(html)


def summary_of(data: ReportData) -> dict:
    """Headline figures kept with the stored report (for the list page)."""
    return {
        "network_score": data.network_score, "quiet": data.quiet,
        "incidents": data.incident_summary, "alerts": data.alerts_total,
        "new_assets": None if data.new_assets is None else len(data.new_assets),
    }  # fmt: skip


class ReportService:
    """``Service.reports``."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.folder = service.cfg.data_dir / "reports"

    def collect(self, day: dt.date) -> ReportData:
        return collect(self.service, day)

    def generate(self, day: dt.date, *, lang: str = "vi",
                 formats: tuple[str, ...] = FORMATS) -> list[StoredReport]:  # fmt: skip
        """Make ``day``'s report, store each format (replacing an older one), list them."""
        started = time.monotonic()
        data = self.collect(day)
        out = []
        for fmt in formats:
            body = render(data, lang, fmt)
            path = self.folder / day.isoformat() / f"spanwatch-report-{day}-{lang}.{fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(body)
            os.replace(tmp, path)
            out.append(self._record(day, lang, fmt, path, len(body), summary_of(data)))
        logger.info("Report for %s (%s) made in %.1f s: %s.", day, lang,
                    time.monotonic() - started, ", ".join(formats))  # fmt: skip
        return out

    def _record(self, day: dt.date, lang: str, fmt: str, path: Path, size: int,
                summary: dict) -> StoredReport:  # fmt: skip
        now = int(time.time() * 1e6)
        with self.service.state.transaction() as conn:
            conn.execute("DELETE FROM reports WHERE day = ? AND lang = ? AND format = ?",
                         (day.isoformat(), lang, fmt))  # fmt: skip
            cur = conn.execute(
                "INSERT INTO reports (day, lang, format, path, size, created_at, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (day.isoformat(), lang, fmt, str(path), size, now, json.dumps(summary)),
            )
            rid = int(cur.lastrowid or 0)
        found = self.get(rid)
        assert found is not None
        return found

    def list(self, *, offset: int = 0, limit: int = 50) -> Page[StoredReport]:
        """Stored reports, newest day first."""
        from appliance.service import Page

        total = int(self.service.state.query("SELECT count(*) FROM reports")[0][0])
        rows = self.service.state.query(
            "SELECT * FROM reports ORDER BY day DESC, lang, format LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return Page([_stored(r) for r in rows], total, offset, limit)

    def get(self, report_id: int) -> StoredReport | None:
        rows = self.service.state.query("SELECT * FROM reports WHERE id = ?", (report_id,))
        return _stored(rows[0]) if rows else None

    def content(self, report_id: int) -> bytes | None:
        """The file of a stored report (None if unknown or deleted)."""
        report = self.get(report_id)
        if report is None:
            return None
        path = Path(report.path)
        if not path.is_file() or self.folder.resolve() not in path.resolve().parents:
            return None
        return path.read_bytes()

    def prune(self, keep_days: int, today: dt.date) -> int:
        """Delete stored reports older than ``keep_days``; returns how many."""
        cutoff = (today - dt.timedelta(days=keep_days)).isoformat()
        rows = self.service.state.query("SELECT id, path FROM reports WHERE day < ?", (cutoff,))
        for row in rows:
            Path(row["path"]).unlink(missing_ok=True)
        with self.service.state.transaction() as conn:
            conn.execute("DELETE FROM reports WHERE day < ?", (cutoff,))
        return len(rows)


def _stored(r: sqlite3.Row) -> StoredReport:
    return StoredReport(r["id"], r["day"], r["lang"], r["format"], r["path"], r["size"],
                        r["created_at"], json.loads(r["summary"]))  # fmt: skip
