"""Certificate names from DER, and host name matching as clients do it."""

from __future__ import annotations

import pytest

from sensors.analyzers.certificate import (
    CertificateNames,
    certificate_names,
    common_names_of,
    matches_hostname,
)
from tests.helpers.x509 import certificate, name


def _names(*dns: str, cn: str = "", ips: tuple[str, ...] = ()) -> CertificateNames:
    return CertificateNames((cn,) if cn else (), dns, ips, False)


def test_names_come_from_the_san_extension_and_the_subject() -> None:
    der = certificate(
        subject=name(C="VN", O="Example", CN="www.example.com"),
        issuer=name(C="US", O="Example CA", CN="Example CA R1"),
        dns_names=("www.example.com", "example.com", "*.cdn.example.com"),
        ip_addresses=("192.0.2.10", "2001:db8::1"),
    )
    names = certificate_names(der)
    assert names.common_names == ("www.example.com",)
    assert names.dns_names == ("www.example.com", "example.com", "*.cdn.example.com")
    assert names.ip_addresses == ("192.0.2.10", "2001:db8::1")
    assert names.is_self_issued is False


def test_a_certificate_issued_by_its_own_subject_is_self_issued() -> None:
    subject = name(O="Example", CN="intranet")
    names = certificate_names(certificate(subject=subject, issuer=subject))
    assert names.is_self_issued is True
    assert names.dns_names == ()
    assert names.common_names == ("intranet",)


@pytest.mark.parametrize("der", [b"", b"\x30\x05\x30\x03", b"\x30\x82\xff\xff\x30", b"\x04\x00"])
def test_bytes_that_are_not_a_certificate_raise_value_error(der: bytes) -> None:
    with pytest.raises(ValueError):
        certificate_names(der)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", True),
        ("EXAMPLE.com.", True),
        ("www.example.com", True),
        ("img.cdn.example.com", True),
        ("cdn.example.com", False),  # "*" needs a label of its own
        ("a.b.cdn.example.com", False),  # ... and matches exactly one
        ("wrong.host.example.com", False),
        ("example.org", False),
    ],
)
def test_hosts_match_san_names_with_single_label_wildcards(host: str, expected: bool) -> None:
    names = _names("example.com", "www.example.com", "*.cdn.example.com", cn="ignored.example")
    assert matches_hostname(host, names) is expected


def test_the_common_name_counts_only_without_dns_sans() -> None:
    assert matches_hostname("ignored.example", _names("example.com", cn="ignored.example")) is False
    assert matches_hostname("legacy.example", _names(cn="legacy.example")) is True


def test_a_wildcard_directly_under_a_top_level_domain_matches_nothing() -> None:
    assert matches_hostname("example.com", _names("*.com")) is False


def test_an_ip_address_server_name_matches_ip_sans_only() -> None:
    names = _names("example.com", ips=("2001:db8::1",))
    assert matches_hostname("2001:db8:0::1", names) is True
    assert matches_hostname("192.0.2.1", names) is False


def test_common_names_are_read_from_suricata_distinguished_names() -> None:
    dn = "C=JP, O=TOBU RAILWAY Co.,Ltd., OU=Terms of use, CN=www.example.com, Email=a@example.com"
    assert common_names_of(dn) == ("www.example.com",)
    assert common_names_of("CN=*.badssl.com") == ("*.badssl.com",)
    assert common_names_of("C=IT, ST=Some-State, O=ntop.org") == ()
