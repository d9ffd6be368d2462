"""The one typed, validated configuration of an appliance (``appliance.yaml``).

Precedence: model defaults < the YAML file < ``SPANWATCH_*`` environment < CLI flags,
merged into one mapping before a single validation, so every error names the file,
the line, the field and the problem.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
)

from appliance.config_analyzers import DEFAULT_TLS_FINGERPRINTS as DEFAULT_TLS_FINGERPRINTS

# Every model is importable from here (the ``as`` form marks the re-exports).
from appliance.config_analyzers import AnalyzersConfig as AnalyzersConfig
from appliance.config_analyzers import ArpSpoofConfig as ArpSpoofConfig
from appliance.config_analyzers import BruteForceConfig as BruteForceConfig
from appliance.config_analyzers import CaptureLossConfig as CaptureLossConfig
from appliance.config_analyzers import CleartextCredentialsConfig as CleartextCredentialsConfig
from appliance.config_analyzers import MalwareFileConfig as MalwareFileConfig
from appliance.config_analyzers import NamePoisoningConfig as NamePoisoningConfig
from appliance.config_analyzers import RogueDhcpConfig as RogueDhcpConfig
from appliance.config_analyzers import ThreatIntelConfig as ThreatIntelConfig
from appliance.config_analyzers import TlsFingerprint as TlsFingerprint
from appliance.config_analyzers import TlsHygieneConfig as TlsHygieneConfig
from appliance.config_assets import AssetsConfig as AssetsConfig
from appliance.config_attacks import LateralMovementConfig as LateralMovementConfig
from appliance.config_attacks import StealthScanConfig as StealthScanConfig
from appliance.config_attacks import SuspiciousHttpConfig as SuspiciousHttpConfig
from appliance.config_attacks import WebAttackConfig as WebAttackConfig
from appliance.config_base import Cidr as Cidr
from appliance.config_base import IPv4 as IPv4
from appliance.config_base import Mac as Mac
from appliance.config_base import _Model as _Model
from appliance.config_center import CenterConfig as CenterConfig
from appliance.config_center import RemoteConfig as RemoteConfig
from appliance.config_core import CoreConfig as CoreConfig
from appliance.config_incidents import IncidentsConfig as IncidentsConfig
from appliance.config_intel import IndicatorType as IndicatorType
from appliance.config_intel import IntelConfig as IntelConfig
from appliance.config_intel import IntelCsvColumns as IntelCsvColumns
from appliance.config_intel import IntelFeed as IntelFeed
from appliance.config_traffic import DEFAULT_PUBLIC_RESOLVERS as DEFAULT_PUBLIC_RESOLVERS
from appliance.config_traffic import DEFAULT_REFLECTION_PORTS as DEFAULT_REFLECTION_PORTS
from appliance.config_traffic import BeaconConfig as BeaconConfig
from appliance.config_traffic import CovertChannelConfig as CovertChannelConfig
from appliance.config_traffic import DnsTunnelConfig as DnsTunnelConfig
from appliance.config_traffic import ExfiltrationConfig as ExfiltrationConfig
from appliance.config_traffic import FloodConfig as FloodConfig
from appliance.config_traffic import ScanConfig as ScanConfig
from appliance.config_visibility import TrafficConfig as TrafficConfig
from appliance.config_web import WebConfig as WebConfig
from appliance.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/spanwatch/appliance.yaml")
ENV_PREFIX = "SPANWATCH_"
# Environment variables that are not configuration overrides.
_ENV_NOT_CONFIG = {"SPANWATCH_CONFIG", "SPANWATCH_TESTDATA"}
_IFACE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class SensorConfig(_Model):
    """Identity of this sensor."""

    name: str = Field(
        default_factory=lambda: socket.gethostname().split(".")[0] or "sensor",
        description="Sensor name stored with every event (default: the host name).",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("must be 1-63 letters, digits, '.', '_' or '-'")
        return value


class NetworksConfig(_Model):
    """The monitored networks: Suricata's HOME_NET and EXTERNAL_NET."""

    home: list[Cidr] = Field(
        default=["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        description="Monitored networks (HOME_NET), as CIDRs.",
    )
    external: list[Cidr] | None = Field(
        default=None,
        description="EXTERNAL_NET as CIDRs; empty means everything outside HOME_NET.",
    )

    @field_validator("home")
    @classmethod
    def _check_home_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one monitored network is required")
        return value


class InterfaceConfig(_Model):
    """One capture (SPAN/mirror) interface."""

    name: str = Field(description="Interface name, e.g. eth1.")
    threads: int | Literal["auto"] = Field(default="auto", description="Capture threads.")
    cluster_id: int = Field(default=99, ge=0, le=65535, description="AF_PACKET fanout group.")
    bpf_filter: str = Field(default="", description="Optional BPF filter for Suricata.")

    @field_validator("name")
    @classmethod
    def _check_iface(cls, value: str) -> str:
        if not _IFACE_RE.match(value):
            raise ValueError("is not a valid interface name (1-15 characters)")
        return value


class PcapRingConfig(_Model):
    """Suricata's conditional pcap ring: packets of flows that raised an alert."""

    enabled: bool = Field(default=True, description="Keep packets of alerting flows.")
    file_size_mb: int = Field(default=64, ge=1, description="Size of one ring file.")
    max_files: int = Field(default=100, ge=2, description="Number of ring files.")


class SuricataConfig(_Model):
    """How spanwatch runs Suricata."""

    binary: Path = Field(default=Path("/usr/bin/suricata"), description="Suricata binary.")
    classification_file: Path = Field(
        default=Path("/etc/suricata/classification.config"),
        description="Suricata classification.config.",
    )
    reference_config_file: Path = Field(
        default=Path("/etc/suricata/reference.config"),
        description="Suricata reference.config.",
    )
    run_dir: Path = Field(
        default=Path("/run/spanwatch"), description="Directory for the unix sockets."
    )
    pcap_ring: PcapRingConfig = Field(default_factory=PcapRingConfig)
    file_extraction: bool = Field(default=True, description="Store files seen on the wire.")
    file_max_mb: int = Field(default=20, ge=1, description="Largest file extracted.")
    midstream: bool = Field(
        default=True, description="Pick up TCP sessions already running when capture starts."
    )
    checksum_checks: Literal["auto", "yes", "no"] = Field(
        default="auto", description="TCP/IP checksum validation (mirrored traffic: auto)."
    )


class RuleSource(_Model):
    """A rule source handed to suricata-update."""

    name: str = Field(description="Source name, e.g. et/open or local-bundle.")
    url: str | None = Field(default=None, description="Download URL (online appliances).")
    path: Path | None = Field(default=None, description="Local rules file, directory or bundle.")
    enabled: bool = Field(default=True)


class RulesConfig(_Model):
    """Rule sources and the project's own local rules."""

    local: list[Path] = Field(
        default=[Path("/etc/spanwatch/rules/local.rules")],
        description="Our own rule files, always loaded.",
    )
    sources: list[RuleSource] = Field(
        default=[RuleSource(name="et/open")],
        description="suricata-update sources; et/open needs the Internet.",
    )
    update_binary: Path = Field(
        default=Path("/usr/bin/suricata-update"), description="suricata-update binary."
    )


class RetentionBudget(_Model):
    """Age and size budget for one kind of data."""

    max_days: int = Field(ge=1, description="Delete data older than this many days.")
    max_mb: int = Field(ge=1, description="Delete the oldest data beyond this many MiB.")


class RetentionConfig(_Model):
    """Retention budgets, on by default."""

    alerts: RetentionBudget = Field(
        default=RetentionBudget(max_days=365, max_mb=4096),
        description="Alerts, findings and anomalies in the store.",
    )
    metadata: RetentionBudget = Field(
        default=RetentionBudget(max_days=30, max_mb=16384),
        description="Protocol metadata in the store: flow, dns, http, tls, files, stats...",
    )
    pcap: RetentionBudget = Field(
        default=RetentionBudget(max_days=14, max_mb=20480),
        description="Evidence pcap of alerting flows and extracted files on disk, and what "
        "Suricata wrote for offline analyses (their records are in the store).",
    )


class IngestConfig(_Model):
    """How the sensor reads EVE and writes batches."""

    batch_size: int = Field(default=5000, ge=1, le=100000, description="Records per batch.")
    batch_seconds: float = Field(
        default=0.5, gt=0, le=60, description="Longest wait before a partial batch is written."
    )
    max_line_bytes: int = Field(
        default=8 * 1024 * 1024, ge=4096, description="Longer EVE lines go to the dead letters."
    )


class AppConfig(_Model):
    """The appliance configuration."""

    sensor: SensorConfig = Field(default_factory=SensorConfig)
    networks: NetworksConfig = Field(default_factory=NetworksConfig)
    interfaces: list[InterfaceConfig] = Field(default=[], description="SPAN interfaces.")
    data_dir: Path = Field(
        default=Path("/var/lib/spanwatch"), description="Store, EVE logs, pcap, files."
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="Time zone for display.")
    suricata: SuricataConfig = Field(default_factory=SuricataConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    analyzers: AnalyzersConfig = Field(default_factory=AnalyzersConfig)
    intel: IntelConfig = Field(default_factory=IntelConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    assets: AssetsConfig = Field(default_factory=AssetsConfig)
    core: CoreConfig = Field(default_factory=CoreConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    center: CenterConfig = Field(default_factory=CenterConfig)

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"{value!r} is not a known time zone (e.g. Asia/Ho_Chi_Minh)"
            raise ValueError(msg) from None
        return value

    @field_validator("interfaces")
    @classmethod
    def _check_unique_ifaces(cls, value: list[InterfaceConfig]) -> list[InterfaceConfig]:
        names = [i.name for i in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"interface listed twice: {', '.join(dupes)}")
        return value

    @property
    def store_path(self) -> Path:
        """SQLite file of the embedded store."""
        return self.data_dir / "spanwatch.db"

    @property
    def state_path(self) -> Path:
        """SQLite file of the state database (incidents, assets, users, jobs...)."""
        return self.data_dir / "state.db"

    @property
    def rules_dir(self) -> Path:
        """The active ruleset (``suricata.rules``) and its last good copy."""
        return self.data_dir / "rules"

    def sensor_dir(self, interface: str) -> Path:
        """Suricata's output for one capture interface: eve.json, pcap ring, files."""
        return self.data_dir / "sensors" / interface

    def interface(self, name: str) -> InterfaceConfig:
        """The configured interface ``name``, or a default one for an unlisted name."""
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        return InterfaceConfig(name=name)


def load_config(
    path: Path | str | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> AppConfig:
    """Load, merge and validate the configuration.

    ``path`` None means ``$SPANWATCH_CONFIG`` or /etc/spanwatch/appliance.yaml when it
    exists, else defaults only. ``overrides`` are CLI flags as dotted keys.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "SPANWATCH_CONFIG" in env
    cfg_path = Path(path or env.get("SPANWATCH_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    root_node: yaml.Node | None = None
    try:
        present = cfg_path.exists()
    except OSError as err:  # e.g. /etc/spanwatch not readable by this user
        raise ConfigError(f"{cfg_path}: cannot read configuration: {err}") from None
    if explicit or present:
        data, root_node = _read_yaml(cfg_path)
    source = str(cfg_path) if root_node is not None else "<defaults>"
    # Where each overridden key came from, so an error names the variable or the flag
    # instead of the file line the override replaced.
    origins: dict[str, str] = {}
    for key, (name, value) in _env_overrides(env).items():
        _set_dotted(data, key, value)
        origins[key] = f"environment {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
            origins[key] = f"command line ({key})"
    try:
        return AppConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source, root_node, origins)) from None


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read configuration: {err}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}, node
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the configuration must be a mapping of sections")
    return data, node


def _env_overrides(env: dict[str, str] | os._Environ[str]) -> dict[str, tuple[str, Any]]:
    """``SPANWATCH_DATA_DIR=/x`` -> ``data_dir``; ``SPANWATCH_SENSOR__NAME`` -> ``sensor.name``.

    Values map to (variable name, value). Lists and mappings are YAML; scalars stay
    strings, which pydantic converts for numeric and boolean fields, so that a sensor
    named ``2024`` or a ``checksum_checks`` of ``no`` keep their meaning.
    """
    out: dict[str, tuple[str, Any]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_CONFIG:
            continue
        key = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if key.split(".")[0] not in AppConfig.model_fields:
            continue
        try:
            parsed = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            parsed = raw
        is_structured = parsed is None or isinstance(parsed, list | dict)
        out[key] = (name, parsed if is_structured and raw else raw)
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _format_errors(
    err: ValidationError, source: str, root: yaml.Node | None, origins: dict[str, str]
) -> str:
    lines = []
    for item in err.errors():
        loc = [p for p in item["loc"]]
        field = ".".join(str(p) for p in loc) or "(top level)"
        origin = next((origins[k] for k in _prefixes(loc) if k in origins), None)
        line = _line_of(root, loc)
        where = origin or (f"{source}:{line}" if line else source)
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling against appliance.example.yaml)"
        lines.append(f"{where}: {field}: {msg}")
    return "\n".join(lines)


def _prefixes(loc: list[Any]) -> list[str]:
    """Dotted keys of ``loc`` and its parents, longest first."""
    return [".".join(str(p) for p in loc[:n]) for n in range(len(loc), 0, -1)]


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """1-based line of the YAML node at ``loc``, or of its closest existing parent."""
    if node is None:
        return None
    best = node.start_mark.line + 1
    for index, part in enumerate(loc):
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child = value_node if index < len(loc) - 1 else key_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is None:
            break
        node = child
        best = node.start_mark.line + 1
    return best
