"""Analyzer tests through the production path: ``spanwatch analyze`` on real captures.

:func:`analyze_findings` runs the console script on captures with a temporary
appliance.yaml (default thresholds unless ``analyzers`` overrides a section) and returns
the full finding records from the store, so tests see evidence and explanations too.
:func:`synthetic_records` turns EVE dicts into the records the runner hands analyzers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from appliance.events import EveRecord, decode_line
from appliance.store import EventQuery, open_store
from sensors.analyzers import Analyzer, AnalyzerSet
from tests.helpers.cli import REPO, run_spanwatch


def analyze_findings(
    tmp: Path, captures: Sequence[Path], analyzers: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The finding records ``spanwatch analyze`` stores for ``captures`` (one run)."""
    config = {"sensor": {"name": "analyzer-test"}, "data_dir": str(tmp / "data"),
              "rules": {"local": [str(REPO / "config" / "rules" / "local.rules")], "sources": []},
              "analyzers": analyzers or {}}  # fmt: skip
    path = tmp / "appliance.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = run_spanwatch("analyze", "--config", path, "-q", "--json", "--checksum", "none",
                         *captures)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["captures"]) == len(captures)
    store = open_store(tmp / "data" / "spanwatch.db", readonly=True)
    try:
        return list(store.events(EventQuery(event_type="finding")))
    finally:
        store.close()


def finding_hosts(findings: Iterable[dict[str, Any]], types: Iterable[str]) -> set[tuple[str, str]]:
    """{(type, src_ip)} of the findings of the given types."""
    wanted = set(types)
    return {(f["finding"]["type"], f["src_ip"]) for f in findings if f["finding"]["type"] in wanted}


def synthetic_records(records: Iterable[dict[str, Any]]) -> list[EveRecord]:
    """EVE dicts as decoded records, numbered in order."""
    return [decode_line(orjson.dumps(r), i) for i, r in enumerate(records)]


def run_analyzer(
    analyzer: Analyzer, records: Iterable[dict[str, Any]], batch: int = 100
) -> list[dict[str, Any]]:
    """Feed EVE dicts through :class:`AnalyzerSet` in batches; the findings, parsed."""
    analyzers = AnalyzerSet([analyzer])
    analyzers.init()
    decoded = synthetic_records(records)
    raw: list[bytes] = []
    for start in range(0, len(decoded), batch):
        raw += analyzers.process(decoded[start : start + batch])
    raw += analyzers.shutdown()
    assert analyzers.errors == {}
    return [orjson.loads(item) for item in raw]
