"""Suricata configuration rendering, checked by the real ``suricata -T`` and ``-r``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.config import AppConfig
from appliance.errors import SuricataError
from appliance.suricata import command, render

CASE = "suricata-verify/alert-testmyids-midstream"


def _cfg(suricata_bin: str = "/usr/bin/suricata", **suricata: Any) -> AppConfig:
    return AppConfig.model_validate({
        "sensor": {"name": "dc1-core"},
        "networks": {"home": ["192.0.2.0/24", "10.20.0.0/16"]},
        "interfaces": [
            {"name": "span0", "threads": 2, "cluster_id": 42, "bpf_filter": "not port 9"}
        ],
        "suricata": {"binary": suricata_bin, **suricata},
    })  # fmt: skip


def _load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _output(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    for item in data["outputs"]:
        if name in item:
            return dict(item[name])
    return None


def _eve_types(data: dict[str, Any]) -> list[str]:
    eve = _output(data, "eve-log")
    assert eve is not None
    return [t if isinstance(t, str) else next(iter(t)) for t in eve["types"]]


def test_render_starts_with_yaml_header_and_sets_networks(tmp_path: Path) -> None:
    text = render.render_suricata_config(_cfg(), log_dir=tmp_path, rule_files=[Path("/r/a.rules")])
    assert text.startswith("%YAML 1.1\n---\n")
    data = _load(text)
    groups = data["vars"]["address-groups"]
    assert groups["HOME_NET"] == "[192.0.2.0/24,10.20.0.0/16]"
    assert groups["EXTERNAL_NET"] == "!$HOME_NET"
    assert groups["HTTP_SERVERS"] == "$HOME_NET"
    assert data["vars"]["port-groups"]["HTTP_PORTS"] == "80"
    assert data["default-log-dir"] == str(tmp_path)
    assert data["rule-files"] == ["/r/a.rules"]
    assert data["default-rule-path"] == "/"
    assert data["sensor-name"] == "dc1-core"


def test_render_explicit_external_net() -> None:
    cfg = AppConfig.model_validate(
        {"networks": {"home": ["10.0.0.0/8"], "external": ["198.51.100.0/24"]}}
    )
    data = _load(render.render_suricata_config(cfg, log_dir=Path("/l"), rule_files=[]))
    assert data["vars"]["address-groups"]["EXTERNAL_NET"] == "[198.51.100.0/24]"


def test_render_rule_files_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = render.render_suricata_config(_cfg(), log_dir=tmp_path, rule_files=[Path("x.rules")])
    data = _load(text)
    assert data["rule-files"] == [str(tmp_path / "x.rules")]


def test_render_eve_outputs() -> None:
    data = _load(render.render_suricata_config(_cfg(), log_dir=Path("/l"), rule_files=[]))
    eve = _output(data, "eve-log")
    assert eve is not None
    assert eve["filename"] == "eve.json" and eve["community-id"] is True
    for name in ("alert", "anomaly", "http", "dns", "tls", "files", "smtp", "ftp", "smb",
                 "ssh", "krb5", "dhcp", "flow", "stats"):  # fmt: skip
        assert name in _eve_types(data)
    files = next(t["files"] for t in eve["types"] if isinstance(t, dict) and "files" in t)
    assert files["force-hash"] == ["md5", "sha256"]


def test_render_pcap_ring_and_file_store_follow_config() -> None:
    data = _load(render.render_suricata_config(_cfg(), log_dir=Path("/l"), rule_files=[]))
    ring = _output(data, "pcap-log")
    assert ring is not None
    assert (ring["conditional"], ring["limit"], ring["max-files"]) == ("alerts", "64mb", 100)
    store = _output(data, "file-store")
    assert store is not None
    assert store["version"] == 2 and store["force-filestore"] is False
    assert store["stream-depth"] == "20mb"
    off = _cfg(pcap_ring={"enabled": False}, file_extraction=False)
    data = _load(render.render_suricata_config(off, log_dir=Path("/l"), rule_files=[]))
    assert _output(data, "pcap-log") is None and _output(data, "file-store") is None


def test_render_live_interface_section() -> None:
    data = _load(render.render_suricata_config(
        _cfg(), log_dir=Path("/l"), rule_files=[], interface="span0",
        socket_path=Path("/run/spanwatch/span0.sock"),
    ))  # fmt: skip
    (afp,) = data["af-packet"]
    assert afp["interface"] == "span0"
    assert (afp["threads"], afp["cluster-id"], afp["cluster-type"]) == (2, 42, "cluster_flow")
    assert afp["defrag"] and afp["use-mmap"] and afp["tpacket-v3"]
    assert afp["bpf-filter"] == "not port 9"
    assert afp["checksum-checks"] == "kernel"
    assert data["unix-command"] == {"enabled": True, "filename": "/run/spanwatch/span0.sock"}


def test_render_offline_has_no_capture_section_or_socket() -> None:
    data = _load(render.render_suricata_config(_cfg(), log_dir=Path("/l"), rule_files=[]))
    assert "af-packet" not in data
    assert data["unix-command"] == {"enabled": False}


def test_render_offline_tables_are_small_and_live_keeps_defaults() -> None:
    # Suricata's flow manager walks these tables once per second of capture time: a
    # capture file replays hours in seconds, a live link does not.
    offline = _load(render.render_suricata_config(_cfg(), log_dir=Path("/l"), rule_files=[]))
    assert {t: offline[t]["hash-size"] for t in ("flow", "host", "defrag", "ippair")} == {
        "flow": 16384, "host": 256, "defrag": 256, "ippair": 256}  # fmt: skip
    live = _load(render.render_suricata_config(
        _cfg(), log_dir=Path("/l"), rule_files=[], interface="span0"))  # fmt: skip
    assert not {"flow", "host", "defrag", "ippair"} & set(live)


@pytest.mark.parametrize(
    ("mode", "afp", "pcap", "stream"),
    [("auto", "kernel", "no", True), ("no", "no", "no", False), ("yes", "yes", "yes", True)],
)
def test_render_checksum_modes(mode: str, afp: str, pcap: str, stream: bool) -> None:
    data = _load(render.render_suricata_config(
        _cfg(checksum_checks=mode), log_dir=Path("/l"), rule_files=[], interface="span0"
    ))  # fmt: skip
    assert data["af-packet"][0]["checksum-checks"] == afp
    assert data["pcap-file"]["checksum-checks"] == pcap
    assert data["stream"]["checksum-validation"] is stream


def test_render_midstream_and_app_layers() -> None:
    data = _load(render.render_suricata_config(
        _cfg(midstream=False), log_dir=Path("/l"), rule_files=[]
    ))  # fmt: skip
    assert data["stream"]["midstream"] is False
    protocols = data["app-layer"]["protocols"]
    assert protocols["dns"] == {"tcp": {"enabled": True}, "udp": {"enabled": True}}
    assert protocols["tls"]["ja4-fingerprints"] is True
    assert protocols["modbus"]["enabled"] is False
    assert all(protocols[p]["enabled"] is True for p in ("http", "smb", "quic", "rdp"))


def test_write_is_atomic_and_prepares_log_dir(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "suricata.yaml"
    log_dir = tmp_path / "log"
    render.write_suricata_config(path, _cfg(), log_dir=log_dir, rule_files=[])
    assert path.read_text() == render.render_suricata_config(_cfg(), log_dir=log_dir, rule_files=[])
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in path.parent.iterdir()) == ["suricata.yaml"]
    assert (log_dir / "pcap").is_dir() and (log_dir / "files").is_dir()


@pytest.mark.suricata
@pytest.mark.parametrize("interface", [None, "span0", "nosuchif9"])
def test_rendered_config_passes_suricata_test(
    tmp_path: Path, suricata_bin: str, testdata: Path, interface: str | None
) -> None:
    config = render.write_suricata_config(
        tmp_path / "suricata.yaml", _cfg(suricata_bin), log_dir=tmp_path / "log",
        rule_files=[testdata / CASE / "test.rules"], interface=interface,
        socket_path=tmp_path / "s.sock" if interface else None,
    )  # fmt: skip
    render.test_suricata_config(Path(suricata_bin), config)


@pytest.mark.suricata
def test_suricata_test_quotes_suricata_errors(tmp_path: Path, suricata_bin: str) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('alert tcp any any -> any any (msg:"x"; contnt:"a"; sid:1;)\n')
    config = render.write_suricata_config(
        tmp_path / "suricata.yaml", _cfg(suricata_bin), log_dir=tmp_path / "log", rule_files=[bad]
    )
    with pytest.raises(SuricataError, match="E: detect-parse: unknown rule keyword 'contnt'"):
        render.test_suricata_config(Path(suricata_bin), config)
    good = tmp_path / "good.rules"
    good.write_text('alert tcp any any -> any any (msg:"x"; content:"a"; sid:1;)\n')
    render.test_suricata_config(Path(suricata_bin), config, [good])


def test_suricata_test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(SuricataError, match="not found"):
        render.test_suricata_config(tmp_path / "no-suricata", tmp_path / "suricata.yaml")


def test_suricata_error_lines_keeps_only_errors() -> None:
    out = "i: suricata: hello\nW: detect: warn\nE: detect: bad rule\nError: suricata: usage\n"
    assert render.suricata_error_lines(out) == ["E: detect: bad rule", "Error: suricata: usage"]


@pytest.mark.suricata
def test_rendered_config_runs_pcap_with_alert_and_community_id(
    tmp_path: Path, suricata_bin: str, testdata: Path
) -> None:
    log_dir = tmp_path / "log"
    config = render.write_suricata_config(
        tmp_path / "suricata.yaml", _cfg(suricata_bin), log_dir=log_dir,
        rule_files=[testdata / CASE / "test.rules"],
    )  # fmt: skip
    argv = command.offline_argv(suricata_bin, config, testdata / CASE / "input.pcap", log_dir)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = (log_dir / render.EVE_FILENAME).read_text().splitlines()
    events = [json.loads(line) for line in lines]
    alerts = [e for e in events if e["event_type"] == "alert"]
    flows = [e for e in events if e["event_type"] == "flow"]
    assert [a["alert"]["signature_id"] for a in alerts] == [2100498]
    assert flows and all(f["community_id"].startswith("1:") for f in flows)
    assert alerts[0]["community_id"] == flows[0]["community_id"]
    assert alerts[0]["host"] == "dc1-core"
    assert "payload_printable" in alerts[0]
    assert any(e["event_type"] == "http" for e in events)
    assert (log_dir / render.SURICATA_LOG).exists()
    ring = list((log_dir / render.PCAP_DIR).iterdir())
    assert ring and all(os.path.getsize(p) > 24 for p in ring)
