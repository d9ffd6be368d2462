"""STIX 2.1 patterns: the OR-only subset becomes indicators, anything else is refused."""

from __future__ import annotations

import pytest

from appliance.intel.stix import parse_pattern, stix_entries


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '203.0.113.5']", [("ip", "203.0.113.5")]),
        ("[ipv6-addr:value = '2001:db8::5']", [("ip", "2001:db8::5")]),
        ("[domain-name:value = 'evil.example.com']", [("domain", "evil.example.com")]),
        (
            "[url:value = 'http://evil.example.com/a?b=1']",
            [("url", "http://evil.example.com/a?b=1")],
        ),
        ("[file:hashes.'SHA-256' = 'ab12']", [("sha256", "ab12")]),
        ("[file:hashes.MD5 = 'cd34']", [("md5", "cd34")]),
        ("[file:hashes.'SHA-1' = 'ef56']", [("sha1", "ef56")]),
        ("[network-traffic:dst_ref.value = '198.51.100.7']", [("ip", "198.51.100.7")]),
        (
            "[domain-name:value = 'a.example.com' OR domain-name:value = 'b.example.com']",
            [("domain", "a.example.com"), ("domain", "b.example.com")],
        ),
        (
            "([ipv4-addr:value = '203.0.113.5'] OR [url:value = 'http://x.example.com/'])",
            [("ip", "203.0.113.5"), ("url", "http://x.example.com/")],
        ),
        ("[(domain-name:value = 'a.example.com')]", [("domain", "a.example.com")]),
        ("[domain-name:value = 'it\\'s.example.com']", [("domain", "it's.example.com")]),
    ],
)
def test_simple_patterns_give_their_indicators(
    pattern: str, expected: list[tuple[str, str]]
) -> None:
    assert parse_pattern(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("[ipv4-addr:value = '203.0.113.5' AND domain-name:value = 'x.example.com']", "'AND'"),
        (
            "[ipv4-addr:value = '203.0.113.5'] FOLLOWEDBY [ipv4-addr:value = '203.0.113.6']",
            "'FOLLOWEDBY'",
        ),
        ("[ipv4-addr:value = '203.0.113.5'] WITHIN 600 SECONDS", "'WITHIN'"),
        ("[ipv4-addr:value != '203.0.113.5']", "operator '!='"),
        ("[domain-name:value MATCHES '^evil']", "operator 'MATCHES'"),
        ("[network-traffic:dst_port = 443]", "object path network-traffic:dst_port"),
        ("[ipv4-addr:value = '203.0.113.5'", "expected ']'"),
        ("", "expected '\\['"),
    ],
)
def test_complex_patterns_are_refused_with_the_reason(pattern: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_pattern(pattern)


def test_a_document_that_is_not_a_bundle_is_refused() -> None:
    with pytest.raises(ValueError, match="not a STIX 2.1 bundle"):
        list(stix_entries({"type": "report"}))
