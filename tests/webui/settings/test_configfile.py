"""Writing appliance.yaml: atomic, validated by the CLI's loader, comments kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import ConfigError
from webui.settings.configfile import update_config_file

ORIGINAL = """\
# spanwatch at the provincial data center
sensor:
  name: dc-core   # the rack label
networks:
  home:
    - 10.0.0.0/8
timezone: Asia/Ho_Chi_Minh
"""


def test_update_keeps_comments_and_reports_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "appliance.yaml"
    path.write_text(ORIGINAL)
    path.chmod(0o640)
    cfg, changed = update_config_file(path, {"networks.home": ["10.1.0.0/16"],
                                             "retention.alerts.max_days": 90,
                                             "retention.alerts.max_mb": 2048,
                                             "timezone": "Asia/Ho_Chi_Minh"})  # fmt: skip
    text = path.read_text()
    assert "# spanwatch at the provincial data center" in text and "# the rack label" in text
    assert cfg.networks.home == ["10.1.0.0/16"] and cfg.retention.alerts.max_days == 90
    assert changed == {"networks.home": {"before": ["10.0.0.0/8"], "after": ["10.1.0.0/16"]},
                       "retention.alerts.max_days": {"before": None, "after": 90},
                       "retention.alerts.max_mb": {"before": None, "after": 2048}}
    assert path.stat().st_mode & 0o777 == 0o640
    assert list(tmp_path.iterdir()) == [path]


def test_invalid_change_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "appliance.yaml"
    path.write_text(ORIGINAL)
    with pytest.raises(ConfigError) as err:
        update_config_file(path, {"networks.home": ["not-a-network"]})
    assert str(path) in str(err.value) and "networks.home.0" in str(err.value)
    assert path.read_text() == ORIGINAL
    assert list(tmp_path.iterdir()) == [path]


def test_none_removes_a_setting_so_the_default_applies(tmp_path: Path) -> None:
    path = tmp_path / "appliance.yaml"
    path.write_text(ORIGINAL)
    cfg, _ = update_config_file(path, {"timezone": None})
    assert "timezone" not in path.read_text() and cfg.timezone == "Asia/Ho_Chi_Minh"


def test_a_path_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "etc"
    blocker.write_text("a file where the configuration folder should be")
    with pytest.raises(ConfigError, match="cannot"):
        update_config_file(blocker / "appliance.yaml", {"timezone": "UTC"})
    assert blocker.read_text().startswith("a file")
