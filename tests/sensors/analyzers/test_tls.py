"""TLS hygiene: synthetic tls records, the TLS anomaly captures, and benign TLS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from appliance.config import TlsFingerprint, TlsHygieneConfig
from appliance.events import decode_line
from appliance.store import EventQuery, open_store
from sensors.analyzers import AnalyzerSet
from sensors.analyzers.tls import TlsHygieneAnalyzer
from sensors.demo.capture import write_demo_capture
from tests.helpers.cli import REPO, run_spanwatch
from tests.helpers.cli import testdata_dir as _testdata_dir
from tests.helpers.x509 import certificate_b64, name

TYPES = {"tls-expired-certificate", "tls-not-yet-valid-certificate", "tls-self-signed-certificate",
         "tls-hostname-mismatch", "tls-weak-version", "tls-fingerprint-match"}  # fmt: skip
CLIENT, SERVER = "192.0.2.10", "198.51.100.20"
CA = name(C="US", O="Example CA", CN="Example CA R1")
SITE = name(O="Example", CN="www.example.com")
ANOMALIES = _testdata_dir() / "pcaps" / "tls-anomalies"
SV = _testdata_dir() / "suricata-verify"
TRICKBOT_JA3, TRICKBOT_JA3S = "6734f37431670b3ab4292b8f60f29984", "623de93db17d313345d7ea481e7443cf"


# -- synthetic records ------------------------------------------------------------------


def _tls(ts: str = "2024-05-01T10:00:00.000000+0000", *, client: str = CLIENT,
         server: str = SERVER, **tls: Any) -> dict[str, Any]:  # fmt: skip
    """A Suricata tls record of a TLS 1.2 session; keyword arguments replace tls fields."""
    fields: dict[str, Any] = {
        "subject": "O=Example, CN=www.example.com", "issuerdn": "C=US, CN=Example CA R1",
        "sni": "www.example.com", "version": "TLS 1.2", "notbefore": "2024-01-01T00:00:00",
        "notafter": "2025-01-01T00:00:00",
        "fingerprint": "0d:db:34:f8:75:63:2c:7e:1e:c0:9d:75:82:7f:82:d2:33:6d:fe:b6",
        "certificate": certificate_b64(subject=SITE, issuer=CA,
                                       dns_names=("www.example.com", "example.com")),
    }  # fmt: skip
    fields.update(tls)
    return {
        "timestamp": ts, "flow_id": 1234, "event_type": "tls", "src_ip": client,
        "src_port": 50000, "dest_ip": server, "dest_port": 443, "proto": "TCP",
        "community_id": "1:abcdefghijklmnopqrstuvwxyz0=", "tls": fields,
    }  # fmt: skip


def _run(*records: dict[str, Any], cfg: TlsHygieneConfig | None = None) -> list[dict[str, Any]]:
    analyzers = AnalyzerSet([TlsHygieneAnalyzer(cfg or TlsHygieneConfig())])
    analyzers.init()
    lines = [decode_line(orjson.dumps(r), i) for i, r in enumerate(records)]
    found = analyzers.process(lines) + analyzers.shutdown()
    assert analyzers.errors == {}
    return [orjson.loads(raw) for raw in found]


def _types(findings: list[dict[str, Any]]) -> list[str]:
    return [f["finding"]["type"] for f in findings]


def test_a_valid_certificate_for_the_requested_name_raises_nothing() -> None:
    assert _run(_tls(), _tls(sni="example.com"), _tls(version="TLS 1.3")) == []


def test_an_expired_certificate_is_reported_against_the_server() -> None:
    (finding,) = _run(_tls("2025-03-01T00:00:00.000000+0000"))
    assert finding["finding"]["type"] == "tls-expired-certificate"
    assert finding["finding"]["category"] == "policy"
    assert (finding["src_ip"], finding["dest_ip"]) == (SERVER, CLIENT)
    evidence = finding["finding"]["evidence"]
    assert evidence["expired_days"] == 59
    assert evidence["notafter"] == "2025-01-01T00:00:00"
    assert evidence["flow_ids"] == [1234]
    assert set(finding["finding"]["explanation"]) == {"en", "vi"}


def test_validity_dates_allow_for_clock_skew() -> None:
    assert _run(_tls("2025-01-01T00:04:00.000000+0000")) == []
    assert _run(_tls("2023-12-31T23:56:00.000000+0000")) == []
    assert _types(_run(_tls("2023-12-30T00:00:00.000000+0000"))) == [
        "tls-not-yet-valid-certificate"
    ]


def test_a_self_signed_certificate_is_reported_once_without_a_name_mismatch() -> None:
    own = name(O="Example", CN="idrac-01")
    cert = certificate_b64(subject=own, issuer=own)
    findings = _run(_tls(subject="O=Example, CN=idrac-01", issuerdn="O=Example, CN=idrac-01",
                         certificate=cert, sni="idrac-01.example.com"))  # fmt: skip
    assert _types(findings) == ["tls-self-signed-certificate"]


def test_a_name_missing_from_the_san_is_a_mismatch_even_when_the_cn_differs_too() -> None:
    (finding,) = _run(_tls(sni="mail.example.com"))
    assert finding["finding"]["type"] == "tls-hostname-mismatch"
    evidence = finding["finding"]["evidence"]
    assert evidence["names_from"] == "subject-alt-name"
    assert evidence["certificate_names"] == ["www.example.com", "example.com", "www.example.com"]


def test_without_the_certificate_the_subject_cn_is_used_with_less_confidence() -> None:
    (finding,) = _run(_tls(sni="example.com", certificate=None))
    assert finding["finding"]["type"] == "tls-hostname-mismatch"
    assert finding["finding"]["evidence"]["names_from"] == "subject-cn-only"
    assert finding["finding"]["confidence"] == 0.6


@pytest.mark.parametrize(("version", "severity"), [("SSLv3", 2), ("TLSv1", 3), ("TLS 1.1", 3)])
def test_outdated_versions_are_weak(version: str, severity: int) -> None:
    (finding,) = _run(_tls(version=version))
    assert finding["finding"]["type"] == "tls-weak-version"
    assert finding["finding"]["severity"] == severity


def test_one_finding_per_problem_server_and_name_per_window() -> None:
    expired = [_tls(f"2025-03-01T00:{m}:00.000000+0000", client=f"192.0.2.{m}")
               for m in (10, 20, 59)]  # fmt: skip
    other_name = _tls("2025-03-01T00:30:00.000000+0000", sni="example.com")
    later = _tls("2025-03-01T01:10:00.000000+0000", client="192.0.2.99")
    findings = _run(*expired, other_name, later)
    assert _types(findings) == ["tls-expired-certificate"] * 3
    assert [f["dest_ip"] for f in findings] == ["192.0.2.10", CLIENT, "192.0.2.99"]


def test_exempt_servers_raise_no_certificate_findings() -> None:
    cfg = TlsHygieneConfig(exempt_servers=["198.51.100.0/24"])
    assert _run(_tls("2025-03-01T00:00:00.000000+0000", version="TLSv1"), cfg=cfg) == []


def test_a_listed_ja3_needs_its_ja3s_to_match() -> None:
    hello = {"hash": TRICKBOT_JA3, "string": "771,..."}
    assert _run(_tls(ja3=hello, ja3s={"hash": "00000000000000000000000000000000"})) == []
    (finding,) = _run(_tls(ja3=hello, ja3s={"hash": TRICKBOT_JA3S, "string": "771,..."}))
    assert finding["finding"]["type"] == "tls-fingerprint-match"
    assert finding["finding"]["category"] == "command-and-control"
    assert (finding["src_ip"], finding["dest_ip"]) == (CLIENT, SERVER)
    assert finding["finding"]["evidence"]["name"] == "Trickbot malware and its C2"


def test_ja4_and_certificate_fingerprints_match_configured_entries() -> None:
    ja4 = "t13d1516h2_8daaf6152771_b186095e22b6"
    cfg = TlsHygieneConfig(fingerprints=[
        TlsFingerprint(kind="ja4", hash=ja4, name="test tool"),
        TlsFingerprint(kind="cert-sha1", hash="0DDB34F875632C7E1EC09D75827F82D2336DFEB6",
                       name="test certificate"),
    ])  # fmt: skip
    findings = _run(_tls(ja4=ja4), cfg=cfg)
    assert sorted(f["finding"]["evidence"]["kind"] for f in findings) == ["cert-sha1", "ja4"]
    assert {f["finding"]["category"] for f in findings} == {"threat-intel"}


# -- real captures ----------------------------------------------------------------------


def _analyze(tmp: Path, captures: list[Path], analyzers: dict[str, Any] | None = None,
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """``spanwatch analyze`` -> (per-capture summaries, full finding records of the store)."""
    config = {"sensor": {"name": "tls-test"}, "data_dir": str(tmp / "data"),
              "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
              "analyzers": analyzers or {}}  # fmt: skip
    path = tmp / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = run_spanwatch("analyze", "--config", path, "-q", "--json", "--checksum", "none",
                         *captures)  # fmt: skip
    assert done.returncode == 0, done.stderr
    store = open_store(tmp / "data" / "spanwatch.db", readonly=True)
    try:
        records = list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()
    return json.loads(done.stdout)["captures"], records


def _found(summary: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["type"], f["src_ip"]) for f in summary["findings"] if f["type"] in TYPES}


@pytest.mark.suricata
def test_each_tls_anomaly_capture_raises_its_finding(tmp_path: Path) -> None:
    names = ["zeek_tls-expired-cert.pcap", "ndpi_selfsigned.pcap",
             "ndpi_ssl-cert-name-mismatch.pcap", "ndpi_tls_malicious_sha1.pcapng"]  # fmt: skip
    # The SHA-1 is on nDPI's own test list, not public intelligence: the test lists it.
    listed = {"kind": "cert-sha1", "name": "nDPI test list",
              "hash": "0d:db:34:f8:75:63:2c:7e:1e:c0:9d:75:82:7f:82:d2:33:6d:fe:b6"}
    summaries, records = _analyze(tmp_path, [ANOMALIES / n for n in names],
                                  {"tls": {"fingerprints": [listed]}})  # fmt: skip
    expired, selfsigned, mismatch, listed_sha1 = map(_found, summaries)
    assert expired == {("tls-expired-certificate", "87.98.220.10"),
                       ("tls-weak-version", "87.98.220.10"),
                       ("tls-weak-version", "122.1.240.204")}  # fmt: skip
    assert selfsigned == {("tls-self-signed-certificate", "127.0.0.1"),
                          ("tls-expired-certificate", "127.0.0.1")}  # fmt: skip
    assert mismatch == {("tls-hostname-mismatch", "104.154.89.105")}
    assert listed_sha1 == {("tls-fingerprint-match", "2001:0b07:0a3d:c112:9726:f643:a838:b0c4")}
    (detail,) = [r for r in records if r["finding"]["type"] == "tls-hostname-mismatch"]
    assert detail["finding"]["evidence"]["sni"] == "wrong.host.badssl.com"
    assert detail["finding"]["evidence"]["certificate_names"][:2] == ["*.badssl.com", "badssl.com"]


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Suricata-verify TLS captures of ordinary sites, and the demo capture."""
    tmp = tmp_path_factory.mktemp("benign-tls")
    demo = tmp / "demo.pcap"
    write_demo_capture(demo, seed=3, minutes=10)
    captures = [SV / "bug-7264-tcp-3whs-ack-data-tls-01/input.pcap",  # SNI only in the SAN
                SV / "tls/tls-certs-alert/input.pcap",  # SNI only in the SAN
                SV / "tls/tls-client-hello-frag-01/dump_mtu300.pcap",
                SV / "tls/tls-fingerprint-alert/input.pcap", SV / "tls/tls-cert-noissuer/tls.pcap",
                SV / "community-id-ipv4/input.pcap", SV / "tls/tls13-draft28/tls13_draft28.pcap",
                demo]  # fmt: skip
    summaries, _ = _analyze(tmp, captures)
    return summaries


@pytest.mark.suricata
def test_ordinary_tls_raises_no_tls_finding(benign: list[dict[str, Any]]) -> None:
    assert {s["file"]: _found(s) for s in benign} == {s["file"]: set() for s in benign}


@pytest.mark.suricata
def test_real_problems_in_suricata_verify_captures_are_found(tmp_path: Path) -> None:
    """Test servers with self-signed certificates and TLS 1.0 are what they are."""
    captures = [SV / "tls/tls-cert-issuer/tls.pcap", SV / "pgsql/pgsql-upgrade-tls/input.pcap",
                SV / "tls/tls-pre-1970/input.pcap"]  # fmt: skip
    selkss, postgres, samsung = map(_found, _analyze(tmp_path, captures)[0])
    assert selkss == {("tls-self-signed-certificate", "192.168.56.101")}
    assert postgres == {("tls-self-signed-certificate", "192.168.50.12")}
    assert samsung == {("tls-weak-version", "18.138.183.195")}
