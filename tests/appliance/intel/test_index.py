"""The indicator index: exact lookups, parent domains, URLs and nested networks."""

from __future__ import annotations

import ipaddress
import random

from appliance.intel import Indicator, IndicatorIndex

MD5 = "44d88612fea8a8f36de82e1278abb02f"
JA3 = "e7d705a3286e19ea42f587b344ee6865"


def _ind(kind: str, value: str, feed: str = "feed-a") -> Indicator:
    return Indicator(kind, value, feed)


def test_addresses_match_exactly_and_in_suricatas_ipv6_spelling() -> None:
    index = IndicatorIndex([_ind("ip", "203.0.113.5"), _ind("ip", "2001:db8::5")])
    assert index.match_ip("203.0.113.5") == _ind("ip", "203.0.113.5")
    assert index.match_ip("203.0.113.6") is None
    hit = index.match_ip("2001:0db8:0000:0000:0000:0000:0000:0005")
    assert hit is not None and hit.value == "2001:db8::5"
    assert index.has_addresses and not index.has_domains


def test_an_address_gets_its_most_specific_network() -> None:
    index = IndicatorIndex([
        _ind("cidr", "198.51.100.0/24", "wide"),
        _ind("cidr", "198.51.100.128/25", "narrow"),
        _ind("cidr", "198.51.100.192/26", "narrowest"),
        _ind("cidr", "2001:db8:1::/48", "v6"),
    ])  # fmt: skip
    addresses = ("198.51.100.1", "198.51.100.130", "198.51.100.200", "198.51.100.255",
                 "198.51.101.1", "2001:0db8:0001:0000:0000:0000:0000:0001", "2001:db8:2::1",
                 "bad")  # fmt: skip
    found = {a: getattr(index.match_ip(a), "feed", None) for a in addresses}
    assert found == {
        "198.51.100.1": "wide", "198.51.100.130": "narrow", "198.51.100.200": "narrowest",
        "198.51.100.255": "narrowest", "198.51.101.1": None,
        "2001:0db8:0001:0000:0000:0000:0000:0001": "v6", "2001:db8:2::1": None, "bad": None,
    }  # fmt: skip


def test_network_lookup_agrees_with_a_linear_scan_on_random_nested_networks() -> None:
    rng = random.Random(7)
    nets: dict[str, ipaddress.IPv4Network] = {}
    for _ in range(300):
        prefix = rng.randint(8, 30)
        base = ipaddress.ip_address(rng.randint(0x0A000000, 0x0AFFFFFF))
        net = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
        nets[str(net)] = net  # type: ignore[assignment]
    index = IndicatorIndex(_ind("cidr", n) for n in nets)
    for _ in range(3000):
        address = ipaddress.ip_address(rng.randint(0x09F00000, 0x0B100000))
        holders = [n for n in nets.values() if address in n]
        expected = max(holders, key=lambda n: n.prefixlen) if holders else None
        hit = index.match_ip(str(address))
        assert (hit.value if hit else None) == (str(expected) if expected else None), address


def test_domains_match_themselves_and_their_subdomains_only() -> None:
    index = IndicatorIndex([_ind("domain", "evil.example.com")])
    assert index.match_domain("evil.example.com") is not None
    assert index.match_domain("A.B.Evil.Example.COM.") is not None
    assert index.match_domain("example.com") is None
    assert index.match_domain("notevil.example.com") is None
    assert index.match_domain("evil.example.com.example.net") is None


def test_urls_match_host_and_path_and_a_listed_path_matches_any_query() -> None:
    index = IndicatorIndex([
        _ind("url", "http://evil.example.com/gate.php"),
        _ind("url", "http://evil.example.com/dl?id=7"),
        _ind("url", "https://evil.example.com:8443/"),
    ])  # fmt: skip
    assert index.match_url("evil.example.com", "/gate.php") is not None
    assert index.match_url("EVIL.example.com", "/gate.php?bot=1") is not None
    assert index.match_url("evil.example.com", "/gate.php5") is None
    assert index.match_url("other.example.com", "/gate.php") is None
    assert index.match_url("evil.example.com", "/dl?id=7") is not None
    assert index.match_url("evil.example.com", "/dl?id=8") is None
    assert index.match_url("evil.example.com", "/") is not None  # ports are not compared
    assert index.match_url("proxy.example.net", "http://evil.example.com/gate.php") is not None


def test_hashes_and_ja3_are_separate_tables() -> None:
    index = IndicatorIndex([_ind("md5", MD5), _ind("ja3", JA3)])
    assert index.match_hash(MD5.upper()) is not None
    assert index.match_hash(JA3) is None
    assert index.match_ja3(JA3) is not None
    assert index.match_ja3(MD5) is None


def test_the_first_feed_listing_a_value_wins_and_duplicates_are_counted() -> None:
    index = IndicatorIndex([
        _ind("domain", "evil.example.com", "first"),
        _ind("domain", "evil.example.com", "second"),
        _ind("cidr", "198.51.100.0/24", "first"),
        _ind("cidr", "198.51.100.0/24", "second"),
    ])  # fmt: skip
    assert index.duplicates == 2
    assert len(index) == 2
    assert getattr(index.match_domain("evil.example.com"), "feed", None) == "first"
    assert getattr(index.match_ip("198.51.100.9"), "feed", None) == "first"


def test_an_empty_index_matches_nothing() -> None:
    index = IndicatorIndex(())
    assert len(index) == 0
    assert index.match_ip("203.0.113.5") is None
    assert index.match_domain("evil.example.com") is None
