"""``spanwatch intel``: feeds exported for Suricata, loaded by analyze beside the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import REPO, run_spanwatch
from tests.helpers.cli import testdata_dir as _testdata_dir

CAPTURE = _testdata_dir() / "pcaps" / "c2-malware" / "ndpi_malware.pcap"


def _config(tmp_path: Path, feed_text: str) -> Path:
    feed = tmp_path / "bad-domains.txt"
    feed.write_text(feed_text, encoding="utf-8")
    config = {"data_dir": str(tmp_path / "data"),
              "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")],
                        "sources": []},
              "intel": {"feeds": [{"name": "national-cert", "path": str(feed)}]}}
    path = tmp_path / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.suricata
def test_exported_domains_make_suricata_alert_in_analyze(tmp_path: Path) -> None:
    config = _config(tmp_path, "# phishing test domain\nwww.internetbadguys.com\n")
    status = run_spanwatch("intel", "status", "--config", config)
    assert "No intelligence exported yet" in status.stdout
    done = run_spanwatch("intel", "update", "--config", config)
    assert done.returncode == 0, done.stderr
    assert "national-cert: 1 indicators (domain=1)" in done.stdout
    status = run_spanwatch("intel", "status", "--json", "--config", config)
    assert json.loads(status.stdout)["rules"] >= 1
    analyzed = run_spanwatch("analyze", "--config", config, "-q", "--json", "--checksum",
                             "none", CAPTURE)  # fmt: skip
    assert analyzed.returncode == 0, analyzed.stderr
    alerts = json.loads(analyzed.stdout)["total"]["alerts"]
    assert any(a["sid"] == 9_100_001 and "INTEL" in a["signature"] for a in alerts), alerts


def test_an_unreadable_feed_stops_the_update_and_keeps_the_last_export(tmp_path: Path) -> None:
    config = _config(tmp_path, "www.internetbadguys.com\n")
    assert run_spanwatch("intel", "update", "--config", config).returncode == 0
    rules = tmp_path / "data" / "intel" / "spanwatch-intel.rules"
    before = rules.read_text(encoding="utf-8")
    (tmp_path / "bad-domains.txt").unlink()
    done = run_spanwatch("intel", "update", "--config", config)
    assert done.returncode == 2
    assert "bad-domains.txt" in done.stderr and "nothing exported" in done.stderr
    assert rules.read_text(encoding="utf-8") == before
