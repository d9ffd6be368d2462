"""Stores filled the way users fill them: the project's generated captures, analyzed.

:func:`analyzed_appliance` writes a capture with ``spanwatch demo-capture`` and runs
``spanwatch analyze`` on it (Suricata with the project's local rules plus any extra rule
files, and the analyzers at their defaults) into a fresh data directory; it returns the
config file, whose loaded form opens the same store through :class:`Service`.

The generator is deterministic, so each (scenario, minutes, rule files) is analyzed once per
test session (:func:`_golden`) and every caller gets its own copy of that data directory:
the same store a fresh analysis would make, without Suricata running again for each module.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.cli import REPO, run_spanwatch


def write_config(folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """An appliance.yaml with its own data directory and the local rules."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"sensor": {"name": "dc-core"}, "data_dir": str(folder / "data"),
              "networks": {"home": ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]},
              "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
              **(extra or {})}  # fmt: skip
    path = folder / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def demo_capture(out: Path, *, scenario: str = "demo", minutes: int = 10) -> Path:
    """Write one of the generator's captures to ``out``."""
    done = run_spanwatch("demo-capture", out, "--scenario", scenario, "--minutes", str(minutes))
    assert done.returncode == 0, done.stderr
    return out


def analyze(config: Path, captures: Sequence[Path], rules: Sequence[Path] = ()) -> dict[str, Any]:
    """``spanwatch analyze --json`` of ``captures`` into the config's store."""
    extra: list[str | Path] = []
    for rule_file in rules:
        extra += ["--rules", rule_file]
    done = run_spanwatch("analyze", "--config", config, "-q", "--json", "--checksum", "none",
                         *extra, *captures)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


#: Analyses made this session, never changed: (scenario, minutes, rules) -> config.
_GOLDEN: dict[tuple[str, int, tuple[str, ...]], Path] = {}


def _golden(scenario: str, minutes: int, rules: Sequence[Path], *, core: bool) -> Path:
    """The session's one analysis of a generated capture (and, with ``core``, one pass of
    what ``spanwatch core`` does on it); callers copy it with :func:`copy_appliance`."""
    rule_key = tuple(hashlib.sha256(Path(r).read_bytes()).hexdigest() for r in rules)
    key = (scenario, minutes, rule_key) if not core else (scenario + "+core", minutes, rule_key)
    if key not in _GOLDEN:
        if core:
            folder = copy_appliance(_golden(scenario, minutes, rules, core=False),
                                    _session_dir()).parent  # fmt: skip
            run_core_once(folder / "appliance.yaml")
        else:
            folder = _session_dir()
            kept = [shutil.copy(rule, folder / f"rules-{n}-{Path(rule).name}")
                    for n, rule in enumerate(rules)]  # fmt: skip
            config = write_config(folder)
            capture = demo_capture(folder / f"{scenario}.pcap", scenario=scenario, minutes=minutes)
            analyze(config, [capture], [Path(r) for r in kept])
        _GOLDEN[key] = folder / "appliance.yaml"
    return _GOLDEN[key]


def _session_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="spanwatch-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def analyzed_appliance(folder: Path, *, scenario: str = "demo", minutes: int = 10,
                       rules: Sequence[Path] = (), core: bool = False) -> Path:  # fmt: skip
    """A config whose store holds the analysis of a generated capture (local rules plus
    ``rules``), in its own data directory under ``folder``; with ``core``, also one pass of
    what ``spanwatch core`` does (:func:`run_core_once`)."""
    folder.mkdir(parents=True, exist_ok=True)
    return copy_appliance(_golden(scenario, minutes, rules, core=core), folder)


def copy_appliance(config: Path, folder: Path) -> Path:
    """A copy of an analyzed appliance (its data directory) under ``folder``, for tests that
    change it; the capture files stay where they are (the store records their paths)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    shutil.copytree(Path(data["data_dir"]), folder / "data",
                    ignore=shutil.ignore_patterns("*.lock"))  # fmt: skip
    data["data_dir"] = str(folder / "data")
    path = folder / "appliance.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


#: Rules that alert on the hostile capture's DNS and TLS names, with markup in their
#: messages too (a rule from an uploaded ruleset is not to be trusted either).
HOSTILE_RULES = """\
alert dns any any -> any any (msg:"XSS test <script>alert('msg')</script> DNS name"; \
dns.query; content:"onload"; classtype:web-application-attack; sid:9900001; rev:1;)
alert tls any any -> any any (msg:"XSS test TLS server name <b>bold</b>"; tls.sni; \
content:"onerror"; classtype:web-application-attack; sid:9900002; rev:1;)
"""


def hostile_appliance(folder: Path, *, core: bool = False) -> Path:
    """A config whose store holds the analysis of the hostile-names capture (local rules
    plus :data:`HOSTILE_RULES`); ``core`` as in :func:`analyzed_appliance`."""
    rules = folder / "hostile.rules"
    folder.mkdir(parents=True, exist_ok=True)
    rules.write_text(HOSTILE_RULES, encoding="utf-8")
    local = REPO / "config" / "rules" / "local.rules"
    return analyzed_appliance(folder, scenario="hostile", minutes=5, rules=[local, rules],
                              core=core)  # fmt: skip


def demo_web_app(config: Path) -> Any:
    """The web application on an analyzed appliance, with one user per role (the
    passwords and the cheap hash of tests/webui/conftest.py) and its test client class."""
    from tests.webui.conftest import FAST_HASH, PASSWORD, ROLE_USERS, WebClient
    from webui.app import create_app

    app = create_app(config_path=config, testing=True)
    app.test_client_class = WebClient
    users = app.extensions["spanwatch"].service.users
    users.hash_method = FAST_HASH
    for role, name in ROLE_USERS.items():
        users.create(name, PASSWORD, role)
    return app


def run_core_once(config: Path) -> None:
    """What ``spanwatch core`` does in the background, once: the traffic rollups, the asset
    inventory, risk scores and the alert index catch up with the store (and incidents,
    when present)."""
    from appliance.assets.inventory import Inventory
    from appliance.config import load_config
    from appliance.service import Service
    from appliance.traffic.follow import catch_up

    service = Service(load_config(config))
    try:
        catch_up(service.store)
        service.alerts.sync()
        Inventory(service).run_once()
        if "incidents" in dir(service):
            from appliance.incidents.correlate import Correlator

            Correlator(service).run_once()
        service.risk.recompute()
    finally:
        service.close()
