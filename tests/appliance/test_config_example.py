"""The committed example configuration is generated from the models and stays loadable."""

from __future__ import annotations

import difflib
import socket
from pathlib import Path

import yaml
from pydantic import BaseModel

from appliance.config import AppConfig, InterfaceConfig, load_config
from appliance.config_example import render_example, write_example
from tests.helpers.cli import REPO, run_spanwatch

EXAMPLE = REPO / "config" / "appliance.example.yaml"
REGENERATE = "spanwatch check-config --write-example config/appliance.example.yaml"


def _descriptions(model: type[BaseModel]) -> list[str]:
    out: list[str] = []
    for field in model.model_fields.values():
        if field.description:
            out.append(field.description)
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            out += _descriptions(nested)
    return out


def test_committed_example_is_the_generated_one() -> None:
    committed = EXAMPLE.read_text(encoding="utf-8")
    generated = render_example()
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True), generated.splitlines(keepends=True),
                "config/appliance.example.yaml (committed)", "render_example()", n=1,
            )  # fmt: skip
        )
        raise AssertionError(f"The example configuration is stale; run `{REGENERATE}`.\n{diff}")


def test_example_passes_check_config() -> None:
    result = run_spanwatch("check-config", "--config", EXAMPLE, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Configuration OK ({EXAMPLE}): sensor sensor-1, ")
    assert "1 interface(s)" in result.stdout
    assert result.stderr == ""


def test_example_shows_the_real_defaults() -> None:
    loaded = load_config(EXAMPLE, environ={})
    expected = AppConfig.model_validate(
        {"sensor": {"name": "sensor-1"}, "interfaces": [InterfaceConfig(name="eth1")]}
    )
    assert loaded == expected


def test_example_explains_every_documented_setting() -> None:
    text = render_example()
    missing = [d for d in _descriptions(AppConfig) if f"# {d}" not in text]
    assert missing == []


def test_example_is_yaml_with_every_top_level_section() -> None:
    data = yaml.safe_load(render_example())
    assert list(data) == list(AppConfig.model_fields)


def test_example_does_not_depend_on_the_machine() -> None:
    text = render_example()
    hostname = socket.gethostname().split(".")[0]
    assert "  name: sensor-1\n" in text
    if hostname != "sensor-1":
        assert f"name: {hostname}\n" not in text


def test_write_example_writes_the_rendered_text(tmp_path: Path) -> None:
    out = tmp_path / "example.yaml"
    write_example(out)
    assert out.read_text(encoding="utf-8") == render_example()


def test_check_config_write_example_regenerates_the_file(tmp_path: Path) -> None:
    out = tmp_path / "appliance.example.yaml"
    result = run_spanwatch("check-config", "--write-example", out, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Wrote {out}."
    assert out.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")
