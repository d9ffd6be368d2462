"""Loading the appliance configuration: defaults, located errors, overrides, immutability."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

import appliance.config
from appliance.config import AppConfig, load_config
from appliance.errors import ConfigError
from tests.helpers.cli import REPO

VALID = """\
sensor:
  name: dc1-core
networks:
  home:
    - 192.0.2.0/24
    - 198.51.100.0/24
interfaces:
  - name: eth1
data_dir: /srv/spanwatch
timezone: UTC
"""


@pytest.fixture(autouse=True)
def system_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where /etc/spanwatch/appliance.yaml would be: absent unless a test writes it."""
    path = tmp_path / "etc" / "appliance.yaml"
    monkeypatch.setattr(appliance.config, "DEFAULT_CONFIG_PATH", path)
    return path


def _write(tmp_path: Path, text: str, name: str = "appliance.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path | None, *, environ: dict[str, str] | None = None, **kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ or {}, **kw)  # type: ignore[arg-type]
    return str(info.value)


def _line_of(text: str, needle: str) -> int:
    """1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the test document")


# -- defaults -------------------------------------------------------------------------------


def test_defaults_load_without_any_file() -> None:
    cfg = load_config(None, environ={})
    assert cfg == AppConfig()
    assert cfg.data_dir == Path("/var/lib/spanwatch")
    assert cfg.store_path == Path("/var/lib/spanwatch/spanwatch.db")
    assert cfg.networks.home == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert cfg.interfaces == []
    assert cfg.timezone == "Asia/Ho_Chi_Minh"
    assert cfg.retention.metadata.max_days == 30


def test_system_file_is_used_when_it_exists(system_config: Path) -> None:
    system_config.parent.mkdir()
    system_config.write_text(VALID, encoding="utf-8")
    assert load_config(None, environ={}).sensor.name == "dc1-core"


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing configured yet\n")
    assert load_config(path, environ={}).networks == AppConfig().networks


def test_valid_file_is_read_and_derived_paths_follow_data_dir(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, VALID), environ={})
    assert cfg.sensor.name == "dc1-core"
    assert cfg.networks.home == ["192.0.2.0/24", "198.51.100.0/24"]
    assert [i.name for i in cfg.interfaces] == ["eth1"]
    assert cfg.store_path == Path("/srv/spanwatch/spanwatch.db")
    assert cfg.rules_dir == Path("/srv/spanwatch/rules")
    assert cfg.sensor_dir("eth1") == Path("/srv/spanwatch/sensors/eth1")
    assert cfg.timezone == "UTC"


def test_cidrs_are_normalised(tmp_path: Path) -> None:
    path = _write(tmp_path, "networks:\n  home: [192.0.2.77/24, '2001:db8::1/32']\n")
    assert load_config(path, environ={}).networks.home == ["192.0.2.0/24", "2001:db8::/32"]


# -- errors name file, line, field and problem ----------------------------------------------


def test_bad_cidr_in_a_list_points_to_the_item_line(tmp_path: Path) -> None:
    text = VALID.replace("    - 198.51.100.0/24", "    - 198.51.100.0/33")
    path = _write(tmp_path, text)
    message = _error(path)
    assert message.startswith(f"{path}:{_line_of(text, '198.51.100.0/33')}: networks.home.1: ")
    assert "'198.51.100.0/33' is not a network in CIDR form" in message


def test_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    text = VALID + "ingest:\n  batch_size: 100\n  batch_sise: 200\n"
    path = _write(tmp_path, text)
    message = _error(path)
    assert message == (
        f"{path}:{_line_of(text, 'batch_sise')}: ingest.batch_sise: unknown setting "
        "(check the spelling against appliance.example.yaml)"
    )


def test_unknown_top_level_section_is_refused(tmp_path: Path) -> None:
    text = VALID + "webui:\n  port: 8080\n"
    path = _write(tmp_path, text)
    assert _error(path).startswith(f"{path}:{_line_of(text, 'webui')}: webui: unknown setting")


def test_wrong_type_names_field_and_expected_type(tmp_path: Path) -> None:
    text = VALID + "ingest:\n  batch_size: lots\n"
    path = _write(tmp_path, text)
    message = _error(path)
    assert message.startswith(f"{path}:{_line_of(text, 'batch_size')}: ingest.batch_size: ")
    assert "valid integer" in message


def test_out_of_range_number_names_the_bound(tmp_path: Path) -> None:
    text = VALID + "ingest:\n  batch_size: 0\n"
    path = _write(tmp_path, text)
    message = _error(path)
    assert message.startswith(f"{path}:{_line_of(text, 'batch_size')}: ingest.batch_size: ")
    assert "greater than or equal to 1" in message


def test_bad_timezone_is_located(tmp_path: Path) -> None:
    text = VALID.replace("timezone: UTC", "timezone: Asia/Hanoi_City")
    path = _write(tmp_path, text)
    assert _error(path) == (
        f"{path}:{_line_of(text, 'timezone')}: timezone: 'Asia/Hanoi_City' is not a known "
        "time zone (e.g. Asia/Ho_Chi_Minh)"
    )


def test_duplicate_interface_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("  - name: eth1\n", "  - name: eth1\n  - name: eth2\n  - name: eth1\n")
    path = _write(tmp_path, text)
    assert _error(path) == (
        f"{path}:{_line_of(text, 'interfaces:')}: interfaces: interface listed twice: eth1"
    )


def test_bad_interface_name_points_to_its_item(tmp_path: Path) -> None:
    text = VALID.replace("  - name: eth1\n", "  - name: eth1\n  - name: a-name-far-too-long\n")
    path = _write(tmp_path, text)
    message = _error(path)
    line = _line_of(text, "far-too-long")
    assert message.startswith(f"{path}:{line}: interfaces.1.name: ")
    assert "not a valid interface name" in message


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("timezone: UTC", "timezone: Nowhere/Land") + "bogus: 1\n"
    lines = _error(_write(tmp_path, text)).splitlines()
    assert len(lines) == 2
    assert any(": timezone: " in line for line in lines)
    assert any(": bogus: unknown setting" in line for line in lines)


def test_invalid_yaml_syntax_names_its_line(tmp_path: Path) -> None:
    text = VALID.replace("timezone: UTC", "timezone: UTC: again")
    path = _write(tmp_path, text)
    message = _error(path)
    assert message == (
        f"{path}:{_line_of(text, 'timezone')}: invalid YAML: mapping values are not allowed here"
    )


def test_tab_indentation_is_a_yaml_error_on_its_line(tmp_path: Path) -> None:
    text = VALID.replace("  name: dc1-core", "\tname: dc1-core")
    path = _write(tmp_path, text)
    assert _error(path).startswith(f"{path}:{_line_of(text, 'dc1-core')}: invalid YAML: ")


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "- sensor\n- networks\n")
    assert _error(path) == f"{path}:1: the configuration must be a mapping of sections"


def test_top_level_scalar_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "just some text\n")
    assert _error(path) == f"{path}:1: the configuration must be a mapping of sections"


def test_missing_explicit_file_is_an_error_not_defaults(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert _error(path) == f"{path}: configuration file not found"


def test_missing_file_named_by_spanwatch_config_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert _error(None, environ={"SPANWATCH_CONFIG": str(path)}) == (
        f"{path}: configuration file not found"
    )


def test_file_named_by_spanwatch_config_is_loaded(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    assert load_config(None, environ={"SPANWATCH_CONFIG": str(path)}).sensor.name == "dc1-core"


def test_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "appliance.yaml"
    path.write_bytes(b"sensor:\n  name: caf\xe9\n")
    message = _error(path)
    assert message.startswith(f"{path}: cannot read configuration: ")
    assert "utf-8" in message


def test_directory_given_as_file_cannot_be_read(tmp_path: Path) -> None:
    message = _error(tmp_path)
    assert message.startswith(f"{tmp_path}: cannot read configuration: ")
    assert "Is a directory" in message


_UNREADABLE_PROBE = """
import sys
from appliance.config import load_config
from appliance.errors import ConfigError
try:
    load_config(sys.argv[1], environ={})
except ConfigError as err:
    print(err)
"""


def test_unreadable_file_names_file_and_permission(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    path.chmod(0)
    argv = [sys.executable, "-c", _UNREADABLE_PROBE, str(path)]
    if os.geteuid() == 0:
        # root reads a mode-000 file; without these two capabilities it cannot.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is not installed")
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]
    probe = subprocess.run(
        argv, capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == (
        f"{path}: cannot read configuration: [Errno 13] Permission denied: '{path}'"
    )


# -- environment and CLI overrides ----------------------------------------------------------


def test_env_sets_data_dir_and_sensor_name_without_a_file() -> None:
    cfg = load_config(
        None, environ={"SPANWATCH_DATA_DIR": "/srv/sw", "SPANWATCH_SENSOR__NAME": "edge-7"}
    )
    assert cfg.data_dir == Path("/srv/sw")
    assert cfg.store_path == Path("/srv/sw/spanwatch.db")
    assert cfg.sensor.name == "edge-7"


def test_precedence_is_defaults_then_file_then_env_then_cli(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID + "ingest:\n  batch_size: 200\n  batch_seconds: 2\n")
    env = {"SPANWATCH_DATA_DIR": "/from/env", "SPANWATCH_INGEST__BATCH_SIZE": "300"}
    cfg = load_config(path, environ=env, overrides={"data_dir": "/from/cli"})
    assert cfg.data_dir == Path("/from/cli")  # CLI beats env and file
    assert cfg.ingest.batch_size == 300  # env beats file
    assert cfg.ingest.batch_seconds == 2.0  # file beats default
    assert cfg.ingest.max_line_bytes == 8 * 1024 * 1024  # default
    assert cfg.sensor.name == "dc1-core"  # file, untouched by the env of another key
    without_cli = load_config(path, environ=env)
    assert without_cli.data_dir == Path("/from/env")
    assert load_config(path, environ={}).data_dir == Path("/srv/spanwatch")


def test_cli_override_of_none_keeps_the_lower_layers(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    assert load_config(path, environ={}, overrides={"data_dir": None}).data_dir == Path(
        "/srv/spanwatch"
    )


def test_env_override_of_a_nested_key_keeps_its_siblings(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID + "suricata:\n  file_max_mb: 7\n  midstream: false\n")
    cfg = load_config(path, environ={"SPANWATCH_SURICATA__FILE_MAX_MB": "9"})
    assert (cfg.suricata.file_max_mb, cfg.suricata.midstream) == (9, False)


def test_env_lists_are_yaml() -> None:
    cfg = load_config(None, environ={"SPANWATCH_NETWORKS__HOME": "[192.0.2.0/24, 2001:db8::/32]"})
    assert cfg.networks.home == ["192.0.2.0/24", "2001:db8::/32"]


def test_env_scalars_keep_their_text_for_string_fields() -> None:
    # YAML would read these as an integer and a boolean.
    assert load_config(None, environ={"SPANWATCH_SENSOR__NAME": "2024"}).sensor.name == "2024"
    assert load_config(None, environ={"SPANWATCH_SENSOR__NAME": "on"}).sensor.name == "on"
    cfg = load_config(None, environ={"SPANWATCH_SURICATA__CHECKSUM_CHECKS": "no"})
    assert cfg.suricata.checksum_checks == "no"


def test_env_scalars_convert_for_typed_fields() -> None:
    env = {
        "SPANWATCH_INGEST__BATCH_SIZE": "77",
        "SPANWATCH_INGEST__BATCH_SECONDS": "2.5",
        "SPANWATCH_SURICATA__MIDSTREAM": "false",
    }
    cfg = load_config(None, environ=env)
    assert (cfg.ingest.batch_size, cfg.ingest.batch_seconds) == (77, 2.5)
    assert cfg.suricata.midstream is False


def test_bad_env_value_is_blamed_on_the_variable_not_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    message = _error(path, environ={"SPANWATCH_TIMEZONE": "Mars/Olympus"})
    assert message == (
        "environment SPANWATCH_TIMEZONE: timezone: 'Mars/Olympus' is not a known time zone "
        "(e.g. Asia/Ho_Chi_Minh)"
    )


def test_bad_env_list_item_names_the_variable_and_the_item() -> None:
    message = _error(None, environ={"SPANWATCH_NETWORKS__HOME": "[192.0.2.0/24, lan]"})
    assert message.startswith("environment SPANWATCH_NETWORKS__HOME: networks.home.1: 'lan' ")


def test_bad_cli_value_is_blamed_on_the_command_line(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, VALID), overrides={"ingest.batch_size": "-3"})
    assert message.startswith("command line (ingest.batch_size): ingest.batch_size: ")


def test_env_variables_that_are_not_settings_are_ignored(tmp_path: Path) -> None:
    env = {"SPANWATCH_TESTDATA": "/x", "SPANWATCH_UNRELATED": "1", "SPANWATCH_CONFIG": ""}
    assert load_config(_write(tmp_path, VALID), environ=env).sensor.name == "dc1-core"


# -- immutability ---------------------------------------------------------------------------


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, VALID), environ={})
    with pytest.raises(pydantic.ValidationError):
        cfg.data_dir = Path("/elsewhere")  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        cfg.ingest.batch_size = 1  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        cfg.interfaces[0].name = "eth9"  # type: ignore[misc]
    assert cfg.data_dir == Path("/srv/spanwatch")


def test_unknown_interface_gets_defaults(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, VALID), environ={})
    assert cfg.interface("eth1") is cfg.interfaces[0]
    assert cfg.interface("eth5").name == "eth5"
    assert cfg.interface("eth5").cluster_id == 99
