"""``spanwatch assets`` as a subprocess: list, show, update, export, import, risk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.assets import analyze, pcap, write_config
from tests.helpers.cli import run_spanwatch

pytestmark = pytest.mark.suricata


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_config(tmp_path_factory.mktemp("assets-cli"))
    analyze(path, [pcap("suricata-verify/dhcp-eve-extended/input.pcap")])
    return path


def _run(config: Path, *args: str | Path) -> tuple[int, str, str]:
    done = run_spanwatch("assets", "--config", config, "-q", *args)
    return done.returncode, done.stdout, done.stderr


def test_list_json_and_table(config: Path) -> None:
    code, out, _ = _run(config, "--json")
    assert code == 0
    data = json.loads(out)
    nas = next(a for a in data["assets"] if a["ip"] == "10.16.1.4")
    assert nas["name"] == "nas1" and nas["vendor"] == "Synology Incorporated"
    assert nas["hostnames"] == [{"name": "nas1", "source": "dhcp"}]
    code, out, _ = _run(config, "--search", "synology")
    assert code == 0 and "10.16.1.4" in out and "nas1" in out and "1 of 1 assets." in out


def test_show_update_and_risk(config: Path) -> None:
    code, out, _ = _run(config, "update", "10.16.1.4", "--owner", "Phòng CNTT",
                        "--criticality", "high", "--tags", "nas;backup", "--actor", "admin")
    assert code == 0 and "Updated 10.16.1.4." in out
    code, out, _ = _run(config, "show", "10.16.1.4")
    assert code == 0
    assert "name nas1 (dhcp)" in out and "owner Phòng CNTT" in out and "nas, backup" in out
    code, out, _ = _run(config, "risk", "--json")
    assert code == 0 and json.loads(out)["score"] == 0
    code, out, _ = _run(config, "risk", "10.16.1.1")
    assert code == 0 and out.startswith("Host 10.16.1.1 risk: ")
    code, out, err = _run(config, "show", "192.0.2.1")
    assert code == 1 and "No asset 192.0.2.1" in err
    code, out, err = _run(config, "delete", "192.0.2.1")
    assert code == 1 and "No asset 192.0.2.1" in err


def test_export_then_import_and_a_bad_file(config: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "assets.csv"
    code, out, _ = _run(config, "export", out_file)
    assert code == 0 and out_file.read_text(encoding="utf-8").startswith("ip,name,")
    code, out, _ = _run(config, "import", out_file)
    assert code == 0 and "0 new" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("ip,criticality\n10.16.1.4,high\n10.16.1.999,low\n", encoding="utf-8")
    code, out, err = _run(config, "import", bad)
    assert code == 1
    assert f"{bad}: line 3: '10.16.1.999' does not appear to be an IPv4 or IPv6 address" in err
    assert "nothing imported" in err
    code, _, err = _run(config, "import", tmp_path / "missing.csv")
    assert code == 1 and "Cannot read" in err
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"ip\n\xff\xfe\n")
    code, _, err = _run(config, "import", binary)
    assert code == 1 and "not UTF-8" in err
