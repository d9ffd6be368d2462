"""CSV of the inventory: what admins import (owner, agency, criticality, tags) and export.

The export holds names, banners and vendors from packets, which an attacker controls:
a cell starting with ``= + - @`` (or a tab or carriage return) would run as a formula in
a spreadsheet, so such cells get a leading apostrophe, which the import removes again.
"""

from __future__ import annotations

import csv
import datetime
import io
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.assets import Asset

EXPORT_COLUMNS = ("ip", "name", "hostnames", "macs", "vendor", "os_guess", "services",
                  "first_seen", "last_seen", "sensors", "owner", "agency", "criticality",
                  "tags", "risk")  # fmt: skip
IMPORT_COLUMNS = ("ip", "owner", "agency", "criticality", "tags")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One valid import row (None: the column is absent, leave the field as it is)."""

    line: int
    ip: str
    owner: str | None
    agency: str | None
    criticality: str | None
    tags: list[str] | None


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unsafe(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def _iso(us: int | None) -> str:
    if us is None:
        return ""
    moment = datetime.datetime.fromtimestamp(us / 1e6, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def export_rows(assets: Sequence[Asset]) -> str:
    """The assets as CSV text with a header (``EXPORT_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for a in assets:
        services = ";".join(f"{s['port']}/{str(s['proto']).lower()}"
                            + (f" {s['app_proto']}" if s.get("app_proto") else "")
                            for s in a.services)  # fmt: skip
        writer.writerow([_safe(v) for v in (
            a.ip, a.name or "", ";".join(f"{n} ({s})" for n, s in a.hostnames[:20]),
            ";".join(a.macs), a.vendor or "", a.os_guess or "", services,
            _iso(a.first_seen), _iso(a.last_seen), ";".join(a.sensors), a.owner or "",
            a.agency or "", a.criticality, ";".join(a.tags),
            "" if a.risk is None else a.risk)])  # fmt: skip
    return out.getvalue()


def parse_csv(text: str) -> tuple[list[CsvRow], list[str]]:
    """Valid rows, and one error per bad line (``line N: ...``, N as an editor counts)."""
    from appliance.assets import CRITICALITIES
    from appliance.assets.service import clean_field, clean_tags

    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark, as spreadsheets write
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, None)
    except csv.Error as err:
        return [], [f"line 1: not CSV: {err}"]
    if header is None:
        return [], ["line 1: the file is empty; expected a header with an 'ip' column"]
    names = [h.strip().lower() for h in header]
    if "ip" not in names:
        return [], [f"line 1: no 'ip' column in the header ({', '.join(names) or 'empty'})"]
    index = {n: names.index(n) for n in IMPORT_COLUMNS if n in names}
    rows: list[CsvRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    try:
        end = reader.line_num
        for record in reader:
            line, end = end + 1, reader.line_num  # where the record starts, as an editor shows
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(f"line {line}: more than {MAX_ROWS} rows")
                break
            if len(record) != len(names):
                errors.append(f"line {line}: {len(record)} fields, the header has {len(names)}")
                continue
            cells = {n: _unsafe(record[i]).strip() for n, i in index.items()}
            try:
                ip = str(ipaddress.ip_address(cells["ip"]))
                if ip in seen:
                    raise ValueError(f"{ip} already on line {seen[ip]}")
                crit = cells.get("criticality")
                if crit and crit.lower() not in CRITICALITIES:
                    raise ValueError(f"criticality {crit!r} is not one of "
                                     f"{', '.join(CRITICALITIES)}")  # fmt: skip
                owner = clean_field(cells["owner"], "owner") if "owner" in cells else None
                agency = clean_field(cells["agency"], "agency") if "agency" in cells else None
                tags = (clean_tags(cells["tags"].split(";")) if "tags" in cells else None)
            except ValueError as err:
                errors.append(f"line {line}: {err}")
                continue
            seen[ip] = line
            rows.append(CsvRow(line, ip, "" if "owner" in cells and owner is None else owner,
                               "" if "agency" in cells and agency is None else agency,
                               crit.lower() if crit else None, tags))  # fmt: skip
    except csv.Error as err:
        errors.append(f"line {reader.line_num}: not CSV: {err}")
    return rows, errors
