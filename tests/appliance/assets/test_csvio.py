"""Parsing an admin's CSV: every bad line named, spreadsheet formulas neutralised."""

from __future__ import annotations

from appliance.assets import Asset
from appliance.assets.csvio import export_rows, parse_csv


def test_valid_rows_with_only_some_columns() -> None:
    rows, errors = parse_csv("IP,Owner,Tags\n192.0.2.10,Anh Tuấn,web;dmz\n\n2001:DB8::1,,\n")
    assert errors == []
    assert [(r.line, r.ip, r.owner, r.agency, r.criticality, r.tags) for r in rows] == [
        (2, "192.0.2.10", "Anh Tuấn", None, None, ["web", "dmz"]),
        (4, "2001:db8::1", "", None, None, []),  # empty cells clear, absent columns keep
    ]


def test_every_bad_line_is_named() -> None:
    text = ("ip,owner,criticality,tags\n"
            "192.0.2.1,ok,high,\n"
            "192.0.2.300,x,low,\n"
            "192.0.2.2,x,urgent,\n"
            "192.0.2.1,again,low,\n"
            "192.0.2.3,only three\n"
            "192.0.2.4,\"bad\x01owner\",low,\n"
            "192.0.2.5,x,low,a|b\n")  # fmt: skip
    rows, errors = parse_csv(text)
    assert [r.line for r in rows] == [2]
    assert len(errors) == 6
    assert errors[0].startswith("line 3: ") and "192.0.2.300" in errors[0]
    assert errors[1].startswith("line 4: criticality 'urgent'")
    assert errors[2] == "line 5: 192.0.2.1 already on line 2"
    assert errors[3] == "line 6: 2 fields, the header has 4"
    assert errors[4] == "line 7: owner contains control characters"
    assert errors[5].startswith("line 8: tag 'a|b'")


def test_header_problems() -> None:
    assert parse_csv("") == ([], ["line 1: the file is empty; expected a header with an 'ip' "
                                  "column"])  # fmt: skip
    assert parse_csv("address,owner\n10.0.0.1,x\n")[1] == [
        "line 1: no 'ip' column in the header (address, owner)"]
    assert parse_csv("\ufeffip\n10.0.0.1\n")[0][0].ip == "10.0.0.1"  # BOM of spreadsheets


def test_multiline_cells_count_lines_as_an_editor() -> None:
    rows, errors = parse_csv('ip,owner\n10.0.0.1,"two\nlines"\n10.0.0.x,y\n')
    assert rows == []
    assert errors == ["line 2: owner contains control characters",
                      "line 4: '10.0.0.x' does not appear to be an IPv4 or IPv6 address"]


def test_export_neutralises_formulas_and_import_restores_them() -> None:
    asset = Asset(ip="10.0.0.5", hostnames=[("=cmd|' /c calc'!A0", "dhcp")],
                  owner="=HYPERLINK(\"http://example.com\")", tags=["-x"])  # fmt: skip
    text = export_rows([asset])
    line = text.splitlines()[1]
    assert "'=cmd" in line and "'=HYPERLINK" in line and ",'-x," in line
    rows, errors = parse_csv(text)
    assert errors == [] and rows[0].owner == '=HYPERLINK("http://example.com")'
    assert rows[0].tags == ["-x"]
