"""Indicators exported as Suricata datasets and rules, checked by the real Suricata."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from appliance.config import AppConfig
from appliance.intel import Indicator, write_suricata_datasets
from appliance.intel.dataset import RULES_NAME
from appliance.suricata import command, render

MALWARE_PCAP = "pcaps/c2-malware/ndpi_malware.pcap"
EICAR_PCAP = "pcaps/eicar-download/sv_http-evader-000.pcap"
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
# What the nDPI test capture does: 192.168.7.7 looks up www.internetbadguys.com, then
# fetches it over HTTP and TLS from 67.215.92.210, and pings 144.139.247.220.
MALWARE_IOCS = [
    ("domain", "www.internetbadguys.com"),
    ("ip", "67.215.92.210"),
    ("cidr", "144.139.247.0/24"),
    ("url", "http://www.internetbadguys.com/"),
    ("ja3", "b20b44b18b853ef29ab773e921b03422"),
    ("domain", "unlisted-elsewhere.example.com"),
]


def _indicators(pairs: list[tuple[str, str]]) -> list[Indicator]:
    return [Indicator(kind, value, "test-feed") for kind, value in pairs]


def _alerts(tmp_path: Path, suricata_bin: str, rules: Path, pcap: Path) -> Counter[int]:
    """Suricata's alerts (by sid) on ``pcap`` with ``rules``, after ``suricata -T``."""
    cfg = AppConfig.model_validate(
        {"suricata": {"binary": suricata_bin, "checksum_checks": "no"}, "data_dir": str(tmp_path)}
    )
    log_dir = tmp_path / f"log-{pcap.stem}"
    config = render.write_suricata_config(
        tmp_path / f"{pcap.stem}.yaml", cfg, log_dir=log_dir, rule_files=[rules]
    )
    render.test_suricata_config(Path(suricata_bin), config)
    argv = command.offline_argv(suricata_bin, config, pcap, log_dir, runmode="single")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in (log_dir / render.EVE_FILENAME).read_text().splitlines()]
    return Counter(e["alert"]["signature_id"] for e in events if e["event_type"] == "alert")


def test_export_writes_base64_datasets_and_rules_in_the_spanwatch_sid_range(
    tmp_path: Path,
) -> None:
    pairs = [*MALWARE_IOCS, ("ip", "2001:db8::5"), ("md5", EICAR_MD5),
             ("url", 'http://evil.example.com/a;b"c|d?x=1')]  # fmt: skip
    export = write_suricata_datasets(_indicators(pairs), tmp_path / "intel")
    assert export.rules_path == tmp_path / "intel" / RULES_NAME
    domains = (tmp_path / "intel" / "spanwatch-intel-domains.lst").read_text().split()
    assert sorted(base64.b64decode(d).decode() for d in domains) == [
        "unlisted-elsewhere.example.com", "www.internetbadguys.com"]  # fmt: skip
    addresses = (tmp_path / "intel" / "spanwatch-intel-ips.lst").read_text().split()
    assert addresses == ["2001:db8::5", "67.215.92.210"]
    assert (tmp_path / "intel" / "spanwatch-intel-md5.txt").read_text() == EICAR_MD5 + "\n"
    rules = [r for r in export.rules_path.read_text().splitlines() if r.startswith("alert")]
    sids = [int(m) for r in rules for m in re.findall(r"sid:(\d+);", r)]
    assert len(sids) == len(set(sids)) == export.rule_count == len(rules)
    assert all(9_100_000 <= sid <= 9_199_999 for sid in sids)
    assert all(len(rule) < 8000 for rule in rules)
    assert any("dns.query; to_lowercase; dataset:isset,spanwatch-intel-domains,type string,"
               "load spanwatch-intel-domains.lst" in r for r in rules)  # fmt: skip
    # Quotes, semicolons and pipes of a URL become hex in the content, never raw.
    assert 'content:"/a|3B|b|22|c|7C|d?x=1"; bsize:12' in export.rules_path.read_text()
    assert export.counts == {"domain": 2, "ip": 2, "cidr": 1, "url": 2, "ja3": 1, "md5": 1}
    assert export.skipped == {}


def test_no_indicators_write_a_rules_file_without_rules(tmp_path: Path) -> None:
    export = write_suricata_datasets([], tmp_path)
    assert export.rule_count == 0 and export.files == ()
    assert not [r for r in export.rules_path.read_text().splitlines() if r.startswith("alert")]


@pytest.mark.suricata
def test_suricata_alerts_on_the_listed_domain_address_network_url_and_ja3(
    tmp_path: Path, suricata_bin: str, testdata: Path
) -> None:
    export = write_suricata_datasets(_indicators(MALWARE_IOCS), tmp_path / "intel")
    alerts = _alerts(tmp_path, suricata_bin, export.rules_path, testdata / MALWARE_PCAP)
    assert alerts == {
        9_100_001: 1,  # DNS query for www.internetbadguys.com
        9_100_002: 1,  # TLS SNI
        9_100_003: 1,  # HTTP Host
        9_100_010: 1,  # JA3 of the TLS client
        9_100_031: 2,  # to 67.215.92.210: one alert per flow (HTTP and TLS), not per packet
        9_100_101: 2,  # to 144.139.247.0/24: the ping and a TCP SYN
        9_101_000: 1,  # GET http://www.internetbadguys.com/
    }


@pytest.mark.suricata
def test_suricata_alerts_on_listed_file_hashes(
    tmp_path: Path, suricata_bin: str, testdata: Path
) -> None:
    export = write_suricata_datasets(
        _indicators([("md5", EICAR_MD5), ("sha256", EICAR_SHA256)]), tmp_path / "intel"
    )
    alerts = _alerts(tmp_path, suricata_bin, export.rules_path, testdata / EICAR_PCAP)
    assert set(alerts) == {9_100_020, 9_100_022}


@pytest.mark.suricata
def test_suricata_stays_quiet_when_nothing_listed_is_seen(
    tmp_path: Path, suricata_bin: str, testdata: Path
) -> None:
    pairs = [("domain", "evil.example.com"), ("ip", "203.0.113.5"), ("md5", EICAR_MD5),
             ("url", "http://evil.example.com/gate.php")]  # fmt: skip
    export = write_suricata_datasets(_indicators(pairs), tmp_path / "intel")
    assert _alerts(tmp_path, suricata_bin, export.rules_path, testdata / MALWARE_PCAP) == {}
