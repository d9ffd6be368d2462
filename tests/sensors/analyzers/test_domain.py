"""Domain-name heuristics: registered domains, encoded labels, machine-made domains."""

from __future__ import annotations

import base64
import random

import pytest

from sensors.analyzers.domain import is_hex_label, looks_encoded, looks_random, split_name


@pytest.mark.parametrize(
    ("name", "domain", "data"),
    [
        ("www.example.com", "example.com", ["www"]),
        ("a.b.t.example.org.", "example.org", ["a", "b", "t"]),
        ("portal.mic.gov.vn", "mic.gov.vn", ["portal"]),
        ("news.bbc.co.uk", "bbc.co.uk", ["news"]),
        ("Example.COM", "example.com", []),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", []),
        ("files.corp.gov.example", "gov.example", ["files", "corp"]),
    ],
)
def test_the_registered_domain_uses_a_small_suffix_list(name: str, domain: str,
                                                         data: list[str]) -> None:  # fmt: skip
    assert split_name(name) == (domain, data)


@pytest.mark.parametrize(
    "name",
    ["4.3.2.1.in-addr.arpa", "b.a.9.8.ip6.arpa", "printer.local", "wpad",
     "_ldap._tcp.dc._msdcs.corp.example.com", "selector1._domainkey.example.com",
     "_dmarc.example.org"],
)  # fmt: skip
def test_reverse_local_single_label_and_service_names_are_never_tunnels(name: str) -> None:
    assert split_name(name) is None


def test_a_name_without_a_real_top_level_domain_has_no_domain() -> None:
    # dnscat2 in direct mode: the "TLD" is a hex chunk.
    assert split_name("dnscat.546b03f5.19e4d098dc8c618f") == (
        "", ["dnscat", "546b03f5", "19e4d098dc8c618f"]
    )


@pytest.mark.parametrize("seed", range(10))
def test_encoded_chunks_look_encoded(seed: int) -> None:
    rng = random.Random(seed)
    b32 = base64.b32encode(rng.randbytes(35)).decode().lower().rstrip("=")
    assert looks_encoded([b32, "0001cd5c6c"], 24)
    assert looks_encoded([rng.randbytes(30).hex()], 24)
    assert looks_encoded([base64.b64encode(rng.randbytes(24)).decode()], 24)


@pytest.mark.parametrize(
    "labels",
    [
        ["ec2-18-196-145-224", "eu-central-1", "compute"],  # amazonaws.com
        ["r3---sn-8pxuuxa-nbo6l"],  # googlevideo.com
        ["d1x2y3z4abcdef"],  # cloudfront.net
        ["textsecure-service-ca"],  # whispersystems.org
        ["settings-win", "data"],  # microsoft.com
        ["cdk-hnb659fds-assets-123456789012-ap-southeast-1", "s3", "ap-southeast-1"],
        ["my-load-balancer-1234567890", "us-west-2", "elb"],
        ["www", "wireshark", "org", "gateway"],
    ],
)
def test_hostnames_of_cdns_and_clouds_do_not_look_encoded(labels: list[str]) -> None:
    assert not looks_encoded(labels, 24)


def test_short_labels_never_look_encoded() -> None:
    assert not looks_encoded(["a1b2c3d4e5"], 24)


@pytest.mark.parametrize(("label", "expected"), [
    ("db54a845", True), ("9f3c2e1a7b", True),
    ("deadbeef", False),  # letters only
    ("12345678", False), ("20201024", False),  # digits only: numbers, dates
    ("1e100", False), ("a1b2c3", False),  # too short
    ("facebook", False),
])  # fmt: skip
def test_hex_labels_need_letters_digits_and_eight_characters(label: str, expected: bool) -> None:
    assert is_hex_label(label) is expected


@pytest.mark.parametrize("label", ["xjkqwpfhtz", "ldlzcmpc", "qw3rt8yz1k", "a7f3b9c2d8",
                                   "bcdfghjklmnpq", "kzoqebvix"])  # fmt: skip
def test_machine_made_labels_look_random(label: str) -> None:
    assert looks_random(label)


@pytest.mark.parametrize("label", ["google", "microsoft", "wikipedia", "vnexpress",
                                   "baochinhphu", "thuvienphapluat", "dichvucong", "nguoilaodong",
                                   "strengths", "backstreet", "quizlet", "example", "zingmp3",
                                   "office365", "vietcombank", "kenh14"])  # fmt: skip
def test_words_and_brands_do_not_look_random(label: str) -> None:
    assert not looks_random(label)
