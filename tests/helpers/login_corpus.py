"""One ``spanwatch analyze`` run over every capture the login analyzers are tested on.

The brute-force and cleartext-credentials tests both need the same captures: the
``brute-force`` and ``cleartext-creds`` folders of the attack corpus and the project's demo
capture (two seeds) in :func:`corpus_run`; the 146 suricata-verify protocol captures as
ordinary traffic in :func:`verify_run` (slow). Analysing each set once per test session,
in one Suricata unix-socket run, keeps both test modules fast. Findings are kept per
capture (from ``--json``) and in full (from the store).
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appliance.store import EventQuery, open_store
from sensors.demo import write_demo_capture
from tests.helpers.cli import REPO, run_spanwatch, testdata_dir

DEMO_SEEDS = (1, 7)
CATEGORIES = ("brute-force", "cleartext-creds")


@dataclass(frozen=True)
class CorpusRun:
    """Findings of the shared run: per capture file, and the stored records."""

    by_capture: dict[str, list[dict[str, Any]]]  # capture path -> [{type, src_ip, ...}]
    records: list[dict[str, Any]]  # full finding records from the store
    store_path: Path  # every record of the run
    parts: dict[str, dict[str, Any]]  # capture path -> its whole ``--json`` summary

    def seen(self, capture: Path) -> str:
        """What the run saw of one capture, for an assertion's message."""
        part = self.parts[str(capture)]
        return f"{capture.name}: events {part['events_by_type']}, findings {part['findings']}"

    def summary(self, capture: Path, types: set[str]) -> set[tuple[str, str, str]]:
        """{(type, src_ip, dest_ip)} of the given types found in one capture."""
        return {
            (f["type"], f["src_ip"], f["dest_ip"])
            for f in self.by_capture[str(capture)]
            if f["type"] in types
        }


def attack_captures(category: str) -> list[Path]:
    """The captures of one category of the attack corpus."""
    return sorted((testdata_dir() / "pcaps" / category).glob("*.pcap*"))


def verify_captures() -> list[Path]:
    """The suricata-verify protocol captures (ordinary traffic)."""
    return sorted((testdata_dir() / "suricata-verify").rglob("*.pcap*"))


def demo_capture(seed: int) -> Path:
    """The project's demo capture of this seed (written once per session)."""
    return _workdir() / f"demo-{seed}.pcap"


@functools.cache
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="spanwatch-login-corpus-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    for seed in DEMO_SEEDS:
        write_demo_capture(path / f"demo-{seed}.pcap", seed=seed)
    return path


@functools.cache
def corpus_run() -> CorpusRun:
    """The attack captures of both categories and the demo captures, analysed once."""
    captures = [c for cat in CATEGORIES for c in attack_captures(cat)]
    return _analyze("corpus", captures + [demo_capture(seed) for seed in DEMO_SEEDS])


@functools.cache
def verify_run() -> CorpusRun:
    """The suricata-verify captures, analysed once."""
    return _analyze("verify", verify_captures())


def _analyze(name: str, captures: list[Path]) -> CorpusRun:
    """``spanwatch analyze`` with the default configuration and the local rules."""
    work = _workdir() / name
    work.mkdir()
    local_rules = str(REPO / "config" / "rules" / "local.rules")
    config = {"sensor": {"name": "login-corpus"}, "data_dir": str(work / "data"),
              "rules": {"local": [local_rules], "sources": []}}  # fmt: skip
    path = work / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = run_spanwatch("analyze", "--config", path, "-q", "--json", "--checksum", "none",
                         *captures, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)["captures"]
    parts = {str(part["file"]): part for part in result}
    by_capture = {file: part["findings"] for file, part in parts.items()}
    assert set(by_capture) == {str(c) for c in captures}
    store_path = work / "data" / "spanwatch.db"
    store = open_store(store_path, readonly=True)
    try:
        records = list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()
    return CorpusRun(by_capture, records, store_path, parts)
