"""Which EVE files a given suricata.yaml writes (the files analyze stores)."""

from __future__ import annotations

from pathlib import Path

from sensors.engine import eve_filenames

HEADER = "%YAML 1.1\n---\n"


def _write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_the_enabled_regular_file_eve_logs_in_order_each_once(tmp_path: Path) -> None:
    config = _write(tmp_path / "suricata.yaml", """
outputs:
  - fast: {enabled: yes, filename: fast.log}
  - eve-log: {enabled: yes, filename: alerts.json, types: [alert]}
  - eve-log: {enabled: no, filename: off.json}
  - eve-log: {enabled: yes, filetype: unix_stream, filename: /run/eve.sock}
  - eve-log: {enabled: yes, types: [flow]}
  - eve-log: {enabled: yes, filename: alerts.json, types: [drop]}
""")  # fmt: skip
    assert eve_filenames(config) == ["alerts.json", "eve.json"]


def test_outputs_come_from_the_included_file_when_the_config_has_none(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    _write(tmp_path / "conf.d" / "base.yaml", "outputs:\n  - eve-log: {filename: base.json}\n")
    _write(tmp_path / "conf.d" / "local.yaml", "outputs:\n  - eve-log: {filename: local.json}\n")
    _write(tmp_path / "conf.d" / "vars.yaml", "vars: {}\n")
    # As Suricata reads it: relative to the including file, the later include winning.
    main = _write(tmp_path / "suricata.yaml",
                  "include: [conf.d/base.yaml, conf.d/local.yaml, conf.d/vars.yaml]\n")
    assert eve_filenames(main) == ["local.json"]
    own = _write(tmp_path / "own.yaml",
                 "include: conf.d/base.yaml\noutputs:\n  - eve-log: {filename: own.json}\n")
    assert eve_filenames(own) == ["own.json"]


def test_a_broken_missing_or_looping_config_names_no_file(tmp_path: Path) -> None:
    loop = _write(tmp_path / "loop.yaml", "include: loop.yaml\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("outputs: [\n", encoding="utf-8")
    assert eve_filenames(loop) == []
    assert eve_filenames(broken) == []
    assert eve_filenames(tmp_path / "missing.yaml") == []
