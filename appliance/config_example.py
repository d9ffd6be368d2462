"""Generate ``config/appliance.example.yaml`` from the configuration models.

The example is derived from the models (defaults and help text), and a test fails when
the committed file differs, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from appliance.config import AppConfig, InterfaceConfig

_HEADER = """\
# spanwatch appliance configuration (/etc/spanwatch/appliance.yaml).
# Generated from appliance/config.py by `spanwatch check-config --write-example FILE`;
# every setting is shown with its default. Check a file with `spanwatch check-config`.
# Environment overrides: SPANWATCH_DATA_DIR=/x, SPANWATCH_SENSOR__NAME=s1 (nested: __).
"""
# Values shown instead of machine-dependent defaults.
_SHOWN = {("sensor", "name"): "sensor-1"}
_EXAMPLE_INTERFACES = [InterfaceConfig(name="eth1")]


def render_example() -> str:
    """The example configuration as YAML with comments."""
    lines = [_HEADER]
    _render_model(AppConfig, _defaults(), (), 0, lines)
    return "\n".join(lines).rstrip() + "\n"


def write_example(path: Path) -> None:
    """Write the example configuration to ``path``."""
    path.write_text(render_example(), encoding="utf-8")


def _defaults() -> dict[str, Any]:
    data = AppConfig().model_dump(mode="json")
    data["interfaces"] = [i.model_dump(mode="json") for i in _EXAMPLE_INTERFACES]
    for (section, key), value in _SHOWN.items():
        data[section][key] = value
    return data


def _render_model(
    model: type[BaseModel], values: dict[str, Any], path: tuple[str, ...], depth: int,
    lines: list[str],
) -> None:  # fmt: skip
    pad = "  " * depth
    for name, field in model.model_fields.items():
        value = values.get(name)
        help_text = field.description
        nested = _model_of(field.annotation)
        if depth == 0:
            lines.append("")
        if help_text:
            lines.append(f"{pad}# {help_text}")
        elif nested is not None and nested.__doc__ and isinstance(value, dict):
            lines.append(f"{pad}# {nested.__doc__.strip().splitlines()[0]}")
        if nested is not None and isinstance(value, dict):
            lines.append(f"{pad}{name}:")
            _render_model(nested, value, (*path, name), depth + 1, lines)
        else:
            text = _scalar(value, depth)
            lines.append(f"{pad}{name}:{text}" if text.startswith("\n") else f"{pad}{name}: {text}")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _scalar(value: Any, depth: int) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
        pad = "  " * (depth + 1)
        return "\n" + "\n".join(pad + line for line in text.splitlines())
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()
