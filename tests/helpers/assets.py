"""Asset-inventory tests: real captures analysed into a store, and a Service over it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from appliance.config import AppConfig, load_config
from appliance.service import Service
from tests.helpers.cli import REPO, run_spanwatch, testdata_dir

HOME = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
SENSOR = "asset-test"


def pcap(rel: str) -> Path:
    """A capture of the shared corpus (``pcaps/...`` or ``suricata-verify/...``)."""
    return testdata_dir() / rel


def write_config(tmp: Path) -> Path:
    """An appliance.yaml with its own data directory and the default analyzers."""
    config = {"sensor": {"name": SENSOR}, "networks": {"home": HOME},
              "data_dir": str(tmp / "data"),
              "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []}}
    path = tmp / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def analyze(config: Path, captures: Sequence[Path]) -> None:
    """``spanwatch analyze`` (which updates the inventory at its end)."""
    done = run_spanwatch("analyze", "--config", config, "-q", "--checksum", "none", *captures)
    assert done.returncode == 0, done.stderr


def load(config: Path) -> AppConfig:
    return load_config(config)


#: Captures whose inventory entries the tests check.
CAPTURES = (
    "suricata-verify/dhcp-eve-extended/input.pcap",  # DHCP: nas1, Synology MAC
    "pcaps/brute-force/zeek_sshguess.pcap",  # SSH server banner, brute force
    "pcaps/tls-anomalies/ndpi_ssl-cert-name-mismatch.pcap",  # TLS SNI and certificate names
    "pcaps/smb-lateral/pcapattack_LM_psexec_smb_dcerpc_epm_svcctl.pcapng",  # NetBIOS (NTLMSSP)
    "suricata-verify/smb1-03-midstream/smb1_osx-s1-midstream-modified.pcap",  # SMB native OS
    "pcaps/web-attacks/chrissanders_http_dvwa_sqlinjection.pcapng",  # HTTP Server header
    "suricata-verify/rdp-protocol/RDP-003.pcap",  # RDP client name and build
)


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The config of a store holding ``CAPTURES``, analysed one by one (one capture per
    analyze, as an admin uploading them in turn would)."""
    tmp = tmp_path_factory.mktemp("assets")
    config = write_config(tmp)
    analyze(config, [pcap(c) for c in CAPTURES])
    yield config


@pytest.fixture
def service(analyzed: Path) -> Iterator[Service]:
    svc = Service(load(analyzed))
    try:
        yield svc
    finally:
        svc.close()
