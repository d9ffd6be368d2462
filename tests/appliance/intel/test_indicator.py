"""Indicator types: inference from bare values and canonical forms."""

from __future__ import annotations

import pytest

from appliance.intel.indicator import infer_type, normalize, refang, type_from_name


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("203.0.113.5", "ip"),
        ("2001:db8::5", "ip"),
        ("198.51.100.0/24", "cidr"),
        ("evil.example.com", "domain"),
        ("evil[.]example[.]com", "domain"),
        ("http://evil.example.com/gate.php", "url"),
        ("hxxps://evil.example.com/", "url"),
        ("evil.example.com/gate.php", "url"),
        ("44d88612fea8a8f36de82e1278abb02f", "md5"),
        ("3395856ce81f2b7382dee72602f798b642f14140", "sha1"),
        ("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "sha256"),
    ],
)
def test_bare_values_get_their_type(value: str, kind: str) -> None:
    assert infer_type(value) == kind


@pytest.mark.parametrize("value", ["hello", "12345", "not a thing", "-bad-.example.com"])
def test_a_value_of_no_known_type_is_refused_with_the_value_named(value: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address, network, domain, URL or hash"):
        infer_type(value)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("domain", "WWW.Example.COM.", ("domain", "www.example.com")),
        ("domain", "*.example.com", ("domain", "example.com")),
        ("domain", "bücher.example", ("domain", "xn--bcher-kva.example")),
        ("ip", "2001:0db8:0000:0000:0000:0000:0000:0001", ("ip", "2001:db8::1")),
        ("ip", "198.51.100.0/24", ("cidr", "198.51.100.0/24")),
        ("cidr", "198.51.100.7/24", ("cidr", "198.51.100.0/24")),
        ("cidr", "203.0.113.9/32", ("ip", "203.0.113.9")),
        (
            "url",
            "HTTP://Evil.Example.com:80/a/B?x=1#frag",
            ("url", "http://evil.example.com/a/B?x=1"),
        ),
        ("url", "https://evil.example.com:8443", ("url", "https://evil.example.com:8443/")),
        ("md5", "44D88612FEA8A8F36DE82E1278ABB02F", ("md5", "44d88612fea8a8f36de82e1278abb02f")),
        ("ja3", "E7D705A3286E19EA42F587B344EE6865", ("ja3", "e7d705a3286e19ea42f587b344ee6865")),
    ],
)
def test_values_are_normalized_to_what_the_sensor_sees(
    kind: str, value: str, expected: tuple[str, str]
) -> None:
    assert normalize(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("ip", "0.0.0.0/0", "wider than /8"),
        ("ip", "127.0.0.1", "loopback"),
        ("ip", "224.0.0.1", "multicast"),
        ("ip", "300.1.2.3", "not an IP address or network"),
        ("domain", "localhost", "needs a dot"),
        ("domain", "under_score..example.com", "not a valid domain name"),
        ("url", "ftp://files.example.com/x", "not an http or https URL"),
        ("url", "http:///path-only", "has no host"),
        ("md5", "abc", "not a md5 hash"),
        ("sha256", "44d88612fea8a8f36de82e1278abb02f", "64 hex digits"),
        ("ja3", "zz" * 16, "not a ja3 hash"),
    ],
)
def test_bad_values_are_refused_with_the_problem_named(kind: str, value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        normalize(kind, value)


def test_feed_type_names_map_to_ours() -> None:
    assert type_from_name("IPv4") == "ip"
    assert type_from_name("ip-dst") == "ip"
    assert type_from_name("FileHash-SHA256") == "sha256"
    assert type_from_name("hostname") == "domain"
    assert type_from_name("ja3-fingerprint-md5") == "ja3"
    assert type_from_name("mutex") is None


def test_defanged_values_are_restored() -> None:
    assert refang(" hxxp://evil[.]example[.]com/a ") == "http://evil.example.com/a"
    assert refang("203.0.113(.)5") == "203.0.113.5"
