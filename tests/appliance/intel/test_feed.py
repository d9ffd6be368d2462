"""Feed files in each format: indicators with their feed, counts, and named problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appliance.config import IntelConfig, IntelFeed
from appliance.intel import IntelError, load_feed, load_feeds

SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
MD5 = "44d88612fea8a8f36de82e1278abb02f"
JA3 = "e7d705a3286e19ea42f587b344ee6865"


def _feed(path: Path, **fields: Any) -> IntelFeed:
    return IntelFeed.model_validate({"name": "test-feed", "path": str(path), **fields})


def _pairs(feed: IntelFeed) -> list[tuple[str, str]]:
    indicators, _ = load_feed(feed)
    return [(i.type, i.value) for i in indicators]


def test_text_feed_infers_types_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "iocs.txt"
    path.write_text(
        "# documentation addresses only\n"
        "\n"
        "203.0.113.5\n"
        "198.51.100.0/24 ; SBL0000 (Spamhaus DROP style)\n"
        "evil.example.com   # C2\n"
        "http://evil.example.com/gate.php\n"
        f"{SHA256}\n"
        "not_an_indicator\n",
        encoding="utf-8",
    )
    indicators, report = load_feed(_feed(path))
    assert [(i.type, i.value, i.line) for i in indicators] == [
        ("ip", "203.0.113.5", 3),
        ("cidr", "198.51.100.0/24", 4),
        ("domain", "evil.example.com", 5),
        ("url", "http://evil.example.com/gate.php", 6),
        ("sha256", SHA256, 7),
    ]
    assert {i.feed for i in indicators} == {"test-feed"}
    assert report.format == "text"
    assert dict(report.counts) == {"ip": 1, "cidr": 1, "domain": 1, "url": 1, "sha256": 1}
    assert dict(report.skipped) == {"invalid": 1}
    assert [str(w) for w in report.warnings] == [
        f"{path}:8: 'not_an_indicator' is not an IP address, network, domain, URL or hash"
    ]
    assert report.summary() == (
        "test-feed: 5 indicators (cidr=1, domain=1, ip=1, sha256=1, url=1); skipped invalid=1"
    )


def test_a_feed_type_applies_to_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "ja3.txt"
    path.write_text(f"{JA3}\n", encoding="utf-8")
    assert _pairs(_feed(path)) == [("md5", JA3)]  # 32 hex digits alone read as MD5
    assert _pairs(_feed(path, type="ja3")) == [("ja3", JA3)]


def test_csv_feed_reads_type_and_feed_columns(tmp_path: Path) -> None:
    path = tmp_path / "iocs.csv"
    path.write_text(
        "# exported 2024-05-01\n"
        "indicator,type,feed,comment\n"
        "203.0.113.5,IPv4,abuse,scanner\n"
        "evil.example.com,hostname,,\n"
        f"{JA3},ja3,sslbl,\n"
        "badguy.example.org,,,type inferred\n"
        "198.51.100.9,mutex,,\n"
        ",domain,,\n",
        encoding="utf-8",
    )
    indicators, report = load_feed(_feed(path))
    assert [(i.type, i.value, i.feed, i.line) for i in indicators] == [
        ("ip", "203.0.113.5", "test-feed/abuse", 3),
        ("domain", "evil.example.com", "test-feed", 4),
        ("ja3", JA3, "test-feed/sslbl", 5),
        ("domain", "badguy.example.org", "test-feed", 6),
    ]
    assert report.format == "csv"
    assert dict(report.skipped) == {"unsupported-type": 1, "invalid": 1}
    assert [str(w) for w in report.warnings] == [
        f"{path}:7: unknown indicator type 'mutex'",
        f"{path}:8: empty indicator",
    ]


def test_csv_columns_can_be_renamed(tmp_path: Path) -> None:
    path = tmp_path / "otx.csv"
    path.write_text("Indicator Type,Value\nURL,http://evil.example.com/x\n", encoding="utf-8")
    feed = _feed(path, columns={"indicator": "Value", "type": "Indicator Type"})
    assert _pairs(feed) == [("url", "http://evil.example.com/x")]


def test_csv_without_the_indicator_column_names_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "iocs.csv"
    path.write_text("# comment\nioc,kind\n203.0.113.5,ip\n", encoding="utf-8")
    with pytest.raises(IntelError) as err:
        load_feed(_feed(path))
    assert str(err.value) == (
        f"{path}:2: no column 'indicator' in the header (ioc, kind); "
        "set the feed's columns.indicator"
    )


def _stix_indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator", "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "name": f"test indicator {n}", "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2024-05-01T00:00:00Z", **extra,
    }  # fmt: skip


def test_stix_bundle_gives_simple_patterns_and_counts_complex_ones(tmp_path: Path) -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [
            {"type": "identity", "id": "identity--1", "name": "Example CERT"},
            _stix_indicator(1, "[ipv4-addr:value = '203.0.113.5']"),
            _stix_indicator(
                2,
                "[domain-name:value = 'evil.example.com' OR "
                "url:value = 'http://evil.example.com/gate.php']",
            ),  # fmt: skip
            _stix_indicator(3, "[file:hashes.'SHA-256' = '" + SHA256 + "']"),
            _stix_indicator(4, "[ipv4-addr:value = '198.51.100.0/24']"),
            _stix_indicator(
                5, "[ipv4-addr:value = '203.0.113.6' AND network-traffic:dst_port = 443]"
            ),  # fmt: skip
            _stix_indicator(6, "alert tcp any any -> any any", pattern_type="snort"),
            _stix_indicator(7, "[domain-name:value = 'old.example.com']", revoked=True),
        ],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    indicators, report = load_feed(_feed(path))
    assert [(i.type, i.value) for i in indicators] == [
        ("ip", "203.0.113.5"),
        ("domain", "evil.example.com"),
        ("url", "http://evil.example.com/gate.php"),
        ("sha256", SHA256),
        ("cidr", "198.51.100.0/24"),
    ]
    assert indicators[1].ref == "test indicator 2"
    assert report.format == "stix"
    assert dict(report.skipped) == {"complex-pattern": 1, "pattern-type:snort": 1, "revoked": 1}
    (warning,) = report.warnings
    text = path.read_text().splitlines()
    assert warning.line is not None
    assert "indicator--00000000-0000-4000-8000-000000000005" in text[warning.line - 1]
    assert warning.message.endswith("pattern skipped, unsupported 'AND'")


def test_misp_event_gives_detection_attributes_only(tmp_path: Path) -> None:
    def attr(n: int, kind: str, value: str, **extra: Any) -> dict[str, Any]:
        uuid = f"5f0c0000-0000-4000-8000-{n:012d}"
        return {"uuid": uuid, "type": kind, "category": "Network activity", "value": value,
                "to_ids": True, **extra}  # fmt: skip

    event = {
        "Event": {
            "id": "42", "info": "Example campaign",
            "Attribute": [
                attr(1, "ip-dst", "203.0.113.5"),
                attr(2, "domain|ip", "evil.example.com|198.51.100.7"),
                attr(3, "url", "http://evil.example.com/gate.php"),
                attr(4, "filename|md5", f"dropper.exe|{MD5}"),
                attr(5, "ja3-fingerprint-md5", JA3),
                attr(6, "ip-src|port", "192.0.2.10|4444"),
                attr(7, "hostname", "context.example.com", to_ids=False),
                attr(8, "domain", "gone.example.com", deleted=True),
                attr(9, "regkey", "HKLM\\Software\\Example"),
                attr(10, "ip-dst", "not-an-ip"),
            ],
            "Object": [{"name": "file", "Attribute": [attr(11, "sha256", SHA256)]}],
        }
    }  # fmt: skip
    path = tmp_path / "misp.json"
    path.write_text(json.dumps(event, indent=1), encoding="utf-8")
    indicators, report = load_feed(_feed(path))
    assert [(i.type, i.value) for i in indicators] == [
        ("ip", "203.0.113.5"),
        ("domain", "evil.example.com"),
        ("ip", "198.51.100.7"),
        ("url", "http://evil.example.com/gate.php"),
        ("md5", MD5),
        ("ja3", JA3),
        ("ip", "192.0.2.10"),
        ("sha256", SHA256),
    ]
    assert indicators[0].ref == "MISP event 42: Example campaign"
    assert report.format == "misp"
    assert dict(report.skipped) == {
        "not-for-detection": 1, "deleted": 1, "unsupported-type:regkey": 1, "invalid": 1,
    }  # fmt: skip
    (warning,) = report.warnings
    assert warning.line is not None
    assert "000000000010" in path.read_text().splitlines()[warning.line - 1]
    assert "'not-an-ip' is not an IP address" in warning.message


def test_misp_rest_response_and_event_lists_are_read(tmp_path: Path) -> None:
    event = {"Event": {"id": "1", "info": "x", "Attribute": [
        {"type": "domain", "value": "evil.example.com", "uuid": "u1"}]}}  # fmt: skip
    for data in ({"response": [event]}, [event]):
        path = tmp_path / "misp.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        assert _pairs(_feed(path, format="misp")) == [("domain", "evil.example.com")]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "problem"),
    [
        ("missing.txt", None, "auto", "{path}: feed file not found"),
        ("latin1.txt", b"203.0.113.5\nevil\xe9.example.com\n", "auto", "{path}:2: not UTF-8 text"),
        ("broken.json", b'{"type": "bundle",\n "objects": [\n}', "auto", "{path}:3: bad JSON"),
        ("report.json", b'{"type": "bundle"}', "stix", "{path}: the bundle has no 'objects'"),
        ("other.json", b'{"hello": 1}', "misp", '{path}: not a MISP export (no "Event" object)'),
        ("quote.csv", b'indicator\n"203.0.113.5\n', "csv", "{path}:2: bad CSV"),
    ],
)
def test_unusable_files_name_file_line_and_problem(
    tmp_path: Path, name: str, content: bytes | None, fmt: str, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IntelError) as err:
        load_feed(_feed(path, format=fmt))
    assert str(err.value).startswith(problem.format(path=path))


def test_only_enabled_feeds_are_loaded_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("203.0.113.5\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("evil.example.com\n", encoding="utf-8")
    cfg = IntelConfig.model_validate({"feeds": [
        {"name": "a", "path": str(tmp_path / "a.txt")},
        {"name": "off", "path": str(tmp_path / "missing.txt"), "enabled": False},
        {"name": "b", "path": str(tmp_path / "b.txt")},
    ]})  # fmt: skip
    indicators, reports = load_feeds(cfg)
    assert [(i.feed, i.value) for i in indicators] == [
        ("a", "203.0.113.5"), ("b", "evil.example.com")]  # fmt: skip
    assert [r.name for r in reports] == ["a", "b"]


def test_feed_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="feed listed twice: a"):
        IntelConfig.model_validate(
            {"feeds": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}
        )
