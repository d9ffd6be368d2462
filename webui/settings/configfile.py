"""Changing appliance.yaml from the web: same validation as the CLI, atomic, comments kept.

The file on disk stays the source of truth. A change is applied to the parsed YAML
(ruamel round-trip, so the admin's comments and layout survive), written to a temporary
file beside it, validated by :func:`appliance.config.load_config` exactly as every command
loads it, and only then renamed over the original.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from appliance.config import AppConfig, load_config
from appliance.errors import ConfigError


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def read_document(path: Path) -> CommentedMap:
    """The file as an editable mapping (empty if the file does not exist yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CommentedMap()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read configuration: {err}") from err
    data = _yaml().load(text)
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError(f"{path}:1: the configuration must be a mapping of sections")
    return data


def get_dotted(data: Any, key: str) -> Any:
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_dotted(data: CommentedMap, key: str, value: Any) -> None:
    """Set ``a.b.c``; ``None`` removes the key (the default applies again)."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = CommentedMap()
            node[part] = child
        node = child
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def update_config_file(path: Path, changes: dict[str, Any]) -> tuple[AppConfig, dict[str, Any]]:
    """Apply dotted-key ``changes`` to the file; returns the new config and what changed.

    Raises ConfigError (naming the field and the problem) and leaves the file untouched
    when the result does not validate.
    """
    document = read_document(path)
    before = {key: _plain(get_dotted(document, key)) for key in changes}
    for key, value in changes.items():
        set_dotted(document, key, value)
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    text = buffer.getvalue()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise ConfigError(f"{path}: cannot write the configuration here ({err.strerror}); "
                          f"the web service needs write access to {path.parent}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        try:
            load_config(tmp, environ={})
        except ConfigError as err:
            raise ConfigError(str(err).replace(str(tmp), str(path))) from None
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    changed = {key: {"before": before[key], "after": _plain(value)}
               for key, value in changes.items() if before[key] != _plain(value)}  # fmt: skip
    return load_config(path), changed


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain lists and dicts (for comparing and audit)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
