"""Render Suricata 7's YAML configuration from the appliance configuration.

The rendered file sets only what spanwatch needs to decide; everything else keeps
Suricata's built-in defaults, so an upgrade of Suricata brings its new defaults along.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from appliance.config import AppConfig
from appliance.errors import SuricataError
from appliance.suricata import command

logger = logging.getLogger(__name__)

YAML_HEADER = "%YAML 1.1\n---\n"
# Relative to default-log-dir, so that "-l DIR" and unix-socket "pcap-file" output
# directories move every output together.
EVE_FILENAME = "eve.json"
PCAP_DIR = "pcap"
FILES_DIR = "files"
SURICATA_LOG = "suricata.log"
TEST_TIMEOUT_S = 300.0

# Server groups that rules reference; on a SPAN port we do not know them, so they are
# the monitored networks, as in Suricata's own default configuration.
_SERVER_GROUPS = (
    "HTTP_SERVERS",
    "SMTP_SERVERS",
    "SQL_SERVERS",
    "DNS_SERVERS",
    "TELNET_SERVERS",
    "DC_SERVERS",
    "DNP3_SERVER",
    "DNP3_CLIENT",
    "MODBUS_CLIENT",
    "MODBUS_SERVER",
    "ENIP_CLIENT",
    "ENIP_SERVER",
)
_PORT_GROUPS = {
    "HTTP_PORTS": "80",
    "SHELLCODE_PORTS": "!80",
    "ORACLE_PORTS": "1521",
    "SSH_PORTS": "22",
    "DNP3_PORTS": "20000",
    "MODBUS_PORTS": "502",
    "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
    "FTP_PORTS": "21",
    "GENEVE_PORTS": "6081",
    "VXLAN_PORTS": "4789",
    "TEREDO_PORTS": "3544",
}
# Parsers turned on explicitly (a Suricata upgrade must not silently drop one).
_APP_LAYERS_ON = (
    "http2", "ftp", "smb", "dcerpc", "ssh", "krb5", "dhcp", "snmp", "sip",
    "rfb", "mqtt", "rdp", "quic", "nfs", "tftp", "ntp", "ike",
)  # fmt: skip
# Industrial protocols: nothing of that kind in a data center; their probing parsers
# only cost time and false positives.
# Industrial protocols stay off by default (a data center rarely carries them), but with
# their standard ports, so `--set app-layer.protocols.enip.enabled=yes` turns one on.
_APP_LAYERS_OFF = {
    "enip": {"dp": 44818, "sp": 44818},
    "modbus": {"dp": 502},
    "dnp3": {"dp": 20000},
}
# EVE record types beyond alert/anomaly/http/dns/tls/files/smtp/flow/stats; all are
# low-volume protocols an analyst wants when working an incident.
_EVE_PLAIN_TYPES = (
    "ftp", "smb", "dcerpc", "ssh", "krb5", "nfs", "tftp", "snmp", "sip", "rdp",
    "rfb", "mqtt", "http2", "quic", "ike",
)  # fmt: skip


def _address_list(cidrs: Sequence[str]) -> str:
    return "[" + ",".join(cidrs) + "]"


def _vars(cfg: AppConfig) -> dict[str, Any]:
    external = cfg.networks.external
    groups: dict[str, str] = {
        "HOME_NET": _address_list(cfg.networks.home),
        "EXTERNAL_NET": _address_list(external) if external else "!$HOME_NET",
    }
    groups.update({name: "$HOME_NET" for name in _SERVER_GROUPS})
    groups["AIM_SERVERS"] = "$EXTERNAL_NET"
    return {"address-groups": groups, "port-groups": dict(_PORT_GROUPS)}


def _eve_types() -> list[Any]:
    alert = {
        "payload": True,
        "payload-printable": True,
        # The evidence packets go to the pcap ring; base64 packets would double EVE.
        "packet": False,
        "metadata": True,
        "http-body-printable": True,
        "tagged-packets": True,
    }
    # "certificate" (the server's DER certificate, base64): Suricata 7 does not log subject
    # alternative names, and the TLS analyzer checks the SNI against them. About 2 KB more
    # per TLS 1.2-or-older full handshake; TLS 1.3 hides the certificate.
    tls_fields = [
        "subject", "issuer", "session_resumed", "serial", "fingerprint", "sni",
        "version", "not_before", "not_after", "certificate", "ja3", "ja3s", "ja4",
    ]  # fmt: skip
    types: list[Any] = [
        {"alert": alert},
        {"anomaly": {"enabled": True}},
        {"http": {"extended": True, "custom": ["server"]}},  # banner for the asset inventory
        {"dns": {"enabled": True}},
        {"tls": {"extended": True, "custom": tls_fields}},
        {"files": {"force-magic": True, "force-hash": ["md5", "sha256"]}},
        {"smtp": {"extended": True}},
        # Requests too (vendor class, parameter list): OS clues for the asset inventory.
        {"dhcp": {"extended": True}},
    ]
    types += list(_EVE_PLAIN_TYPES)
    types += ["flow", {"stats": {"totals": True, "threads": False, "deltas": False}}]
    return types


def _eve_output() -> dict[str, Any]:
    return {
        "eve-log": {
            "enabled": True,
            "filetype": "regular",
            "filename": EVE_FILENAME,
            "community-id": True,
            "community-id-seed": 0,
            "types": _eve_types(),
        }
    }


def _pcap_output(cfg: AppConfig) -> dict[str, Any]:
    ring = cfg.suricata.pcap_ring
    return {
        "pcap-log": {
            "enabled": True,
            "filename": "log.pcap",
            "dir": PCAP_DIR,
            "limit": f"{ring.file_size_mb}mb",
            "max-files": ring.max_files,
            "compression": "none",
            "mode": "normal",
            "use-stream-depth": False,
            "honor-pass-rules": False,
            # Only packets of flows that raised an alert: evidence, not full capture.
            "conditional": "alerts",
        }
    }


def _file_store_output(cfg: AppConfig) -> dict[str, Any]:
    # Files are stored only when a rule says `filestore` (our local.rules do so for
    # executables, scripts and the EICAR test file), while every file's md5 and sha256
    # still appear in EVE (types.files.force-hash). Forcing storage of every file seen
    # on a data center's SPAN port would fill the disk with web assets within hours.
    # stream-depth raises reassembly depth only for flows whose file is being stored,
    # which caps a stored file at about file_max_mb.
    return {
        "file-store": {
            "version": 2,
            "enabled": True,
            "dir": FILES_DIR,
            "write-fileinfo": True,
            "force-filestore": False,
            "force-hash": ["md5", "sha256"],
            "stream-depth": f"{cfg.suricata.file_max_mb}mb",
        }
    }


def _outputs(cfg: AppConfig) -> list[dict[str, Any]]:
    outputs = [_eve_output()]
    if cfg.suricata.pcap_ring.enabled:
        outputs.append(_pcap_output(cfg))
    if cfg.suricata.file_extraction:
        outputs.append(_file_store_output(cfg))
    return outputs


def _logging() -> dict[str, Any]:
    return {
        "default-log-level": "notice",
        "outputs": [
            # stderr goes to journald; the file keeps the engine's own history.
            {"console": {"enabled": True, "level": "notice"}},
            {"file": {"enabled": True, "level": "info", "filename": SURICATA_LOG}},
            {"syslog": {"enabled": False}},
        ],
    }


def _app_layer() -> dict[str, Any]:
    protocols: dict[str, Any] = {
        "tls": {
            "enabled": True,
            "detection-ports": {"dp": 443},
            "ja3-fingerprints": True,
            "ja4-fingerprints": True,
        },
        # Suricata's built-in body limits (4 KiB) truncate files and their hashes; these
        # are the stock configuration's values.
        "http": {
            "enabled": True,
            "libhtp": {"default-config": {
                "request-body-limit": "100kb", "response-body-limit": "100kb"}},
        },  # fmt: skip
        "smtp": {"enabled": True},
        # Suricata 7 has no IMAP parser; detection-only is all there is.
        "imap": {"enabled": "detection-only"},
        "dns": {"tcp": {"enabled": True}, "udp": {"enabled": True}},
    }
    protocols.update({name: {"enabled": True} for name in _APP_LAYERS_ON})
    protocols.update(
        {name: {"enabled": False, "detection-ports": ports} for name, ports in
         _APP_LAYERS_OFF.items()}
    )  # fmt: skip
    return {"protocols": protocols}


def _checksum_settings(cfg: AppConfig) -> tuple[str, str, bool]:
    """(af-packet checksum-checks, pcap-file checksum-checks, stream.checksum-validation)."""
    mode = cfg.suricata.checksum_checks
    # Traffic from hosts with checksum offload carries bad checksums that are not
    # attacks. On a live interface "auto" lets the capture switch validation off once
    # it has sampled many of them; "no" never validates. Suricata samples 1,000
    # packets before deciding, so on a capture file "auto" would drop the sessions of
    # any short capture taken on such a host: there, "auto" means "no".
    pcap_mode = "no" if mode == "auto" else mode
    # On AF_PACKET, "auto" means "kernel": trust the kernel's per-packet mark. Traffic
    # arriving on a SPAN port carries the checksums the wire carried (offload computes
    # them before transmission); packets the kernel marks as already validated or not yet
    # computed (veth, local offload) are not dropped, which Suricata's own "auto" sampling
    # does for the first 1,000 packets of each thread.
    capture_mode = "kernel" if mode == "auto" else mode
    return capture_mode, pcap_mode, mode != "no"


def _af_packet(cfg: AppConfig, interface: str) -> list[dict[str, Any]]:
    iface = cfg.interface(interface)
    capture_checks, _, _ = _checksum_settings(cfg)
    entry: dict[str, Any] = {
        "interface": iface.name,
        "threads": iface.threads,
        "cluster-id": iface.cluster_id,
        "cluster-type": "cluster_flow",
        "defrag": True,
        "use-mmap": True,
        "tpacket-v3": True,
        "checksum-checks": capture_checks,
    }
    if iface.bpf_filter:
        entry["bpf-filter"] = iface.bpf_filter
    return [entry]


def _engine_sections(cfg: AppConfig) -> dict[str, Any]:
    _, pcap_checks, stream_checks = _checksum_settings(cfg)
    return {
        "app-layer": _app_layer(),
        "stream": {"midstream": cfg.suricata.midstream, "checksum-validation": stream_checks},
        "pcap-file": {"checksum-checks": pcap_checks},
        "stats": {"enabled": True, "interval": 10},
        # Only Teredo's port is decoded as Teredo (otherwise every UDP packet is tried).
        "decoder": {"teredo": {"enabled": True, "ports": "3544"}},
        # The stock configuration's TCP timeouts; the built-in ones split slow flows.
        "flow-timeouts": {"tcp": {
            "new": 60, "established": 600, "closed": 60, "bypassed": 100,
            "emergency-new": 5, "emergency-established": 100, "emergency-closed": 10,
            "emergency-bypassed": 50}},
    }  # fmt: skip


#: Smaller hash tables when reading a capture file. Suricata's flow manager expires
#: entries by walking the host, IP-pair and defragmentation tables whole once per second
#: of the capture's own time, and the flow table a slice at a time by that clock too; a
#: capture file replays hours in seconds. On a day-long capture, with the default sizes
#: (4,096 rows each, 65,536 for flows), that took 1.1 CPU-s beside 2.9 s of packet work,
#: taken from the ingest on the other core; with these, 0.18. Lookups stay cheap: hosts
#: and pairs are looked up only for thresholds, reputation and bits on a match, fragments
#: are reassembled in moments, and 16,384 flow rows keep the chains of a SYN flood's
#: 37,000 flows short (same time for it). On a live link time runs at its own pace, and
#: the defaults stay.
OFFLINE_TABLES: dict[str, Any] = {
    "flow": {"hash-size": 16384},
    "host": {"hash-size": 256},
    "defrag": {"hash-size": 256},
    "ippair": {"hash-size": 256},
}


def render_suricata_config(
    cfg: AppConfig,
    *,
    log_dir: Path,
    rule_files: Sequence[Path],
    interface: str | None = None,
    socket_path: Path | None = None,
) -> str:
    """A complete Suricata 7 YAML configuration for this appliance."""
    data: dict[str, Any] = {
        "vars": _vars(cfg),
        "sensor-name": cfg.sensor.name,
        "default-log-dir": str(Path(log_dir).absolute()),
        "classification-file": str(cfg.suricata.classification_file),
        "reference-config-file": str(cfg.suricata.reference_config_file),
        "default-rule-path": "/",
        "rule-files": [str(Path(p).absolute()) for p in rule_files],
        "outputs": _outputs(cfg),
        "logging": _logging(),
        "unix-command": {"enabled": False},
    }
    if socket_path is not None:
        data["unix-command"] = {"enabled": True, "filename": str(socket_path)}
    # Thresholds and suppressions from the rules page (appliance/suricata/rule_policy.py),
    # named even before the first one exists: a rule reload reads the file again, so the
    # first suppression needs no restart (a missing file is an empty one to Suricata).
    data["threshold-file"] = str((cfg.rules_dir / "threshold.config").absolute())
    data.update(_engine_sections(cfg))
    if interface is not None:
        data["af-packet"] = _af_packet(cfg, interface)
        # One thread per packet path from capture to output: the fastest AF_PACKET mode.
        data["runmode"] = "workers"
    else:
        data.update(OFFLINE_TABLES)
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
    return YAML_HEADER + body


def write_suricata_config(
    path: Path,
    cfg: AppConfig,
    *,
    log_dir: Path,
    rule_files: Sequence[Path],
    interface: str | None = None,
    socket_path: Path | None = None,
) -> Path:
    """Render and write the configuration atomically (temp file, then ``os.replace``).

    Also creates ``log_dir`` and the output directories Suricata expects to exist.
    """
    text = render_suricata_config(
        cfg, log_dir=log_dir, rule_files=rule_files, interface=interface, socket_path=socket_path
    )
    return write_rendered_config(path, cfg, text, log_dir=log_dir)


def write_rendered_config(path: Path, cfg: AppConfig, text: str, *, log_dir: Path) -> Path:
    """:func:`write_suricata_config` of a configuration already rendered (``text``)."""
    prepare_log_dir(cfg, log_dir)
    write_text_atomic(path, text)
    logger.info("Wrote Suricata configuration path=%s.", path)
    return path


def prepare_log_dir(cfg: AppConfig, log_dir: Path) -> None:
    """Create ``log_dir`` and the output directories Suricata will not create itself.

    Needed for every directory Suricata logs to, including the output directory of
    each unix-socket ``pcap-file`` command.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    if cfg.suricata.pcap_ring.enabled:
        (log_dir / PCAP_DIR).mkdir(exist_ok=True)
    if cfg.suricata.file_extraction:
        (log_dir / FILES_DIR).mkdir(exist_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def test_suricata_config(
    binary: Path, config_path: Path, rule_files: Sequence[Path] | None = None
) -> None:
    """Run ``suricata -T``; raise SuricataError quoting Suricata's own error lines."""
    argv = command.test_argv(binary, config_path, rule_files or ())
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, errors="replace", timeout=TEST_TIMEOUT_S
        )
    except FileNotFoundError as err:
        raise SuricataError(f"Suricata not found at {binary}") from err
    except subprocess.TimeoutExpired as err:
        raise SuricataError(f"suricata -T did not finish within {TEST_TIMEOUT_S:.0f} s") from err
    if proc.returncode != 0:
        lines = suricata_error_lines(proc.stdout + "\n" + proc.stderr)
        detail = "\n".join(lines) or f"exit status {proc.returncode}"
        raise SuricataError(f"suricata -T rejected {config_path}:\n{detail}")
    logger.debug("Suricata accepted configuration path=%s.", config_path)


def suricata_error_lines(output: str, limit: int = 20) -> list[str]:
    """Suricata's error lines ("E: ..." or "Error: ...") from its console output."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.startswith(("E: ", "Error: ", "<Error>"))
    ]
    return lines[:limit]
