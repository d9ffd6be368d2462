"""``spanwatch share stix`` on a real analysis: bundles that validate, clear errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import stix2

from appliance.config import load_config
from appliance.incidents.correlate import Correlator
from appliance.service import Service
from tests.helpers.cli import run_spanwatch
from tests.helpers.demo_store import analyzed_appliance


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], str]:
    config = analyzed_appliance(tmp_path_factory.mktemp("share"))
    service = Service(load_config(config))
    try:
        Correlator(service).run_once()
        incidents = service.incidents.list(limit=1000).items
        first = min(i.first_seen for i in incidents)
        day = dt.datetime.fromtimestamp(first / 1e6, ZoneInfo(service.cfg.timezone)).date()
    finally:
        service.close()
    return config, [i.id for i in incidents], day.isoformat()


def test_one_incident_as_a_valid_bundle(analyzed: tuple, tmp_path: Path) -> None:
    config, ids, _day = analyzed
    out = tmp_path / "incident.json"
    done = run_spanwatch("share", "stix", "--config", config, "--incident", str(ids[0]),
                         "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    bundle = stix2.parse(out.read_text(encoding="utf-8"), allow_custom=False)
    incidents = [o for o in bundle.objects if o.type == "incident"]
    assert [o.external_references[0].external_id for o in incidents] == [str(ids[0])]
    assert any(o.type == "indicator" for o in bundle.objects)


def test_a_days_incidents_to_stdout(analyzed: tuple) -> None:
    config, ids, day = analyzed
    done = run_spanwatch("share", "stix", "--config", config, "--date", day)
    assert done.returncode == 0, done.stderr
    bundle = stix2.parse(done.stdout, allow_custom=False)
    shared = {o.external_references[0].external_id for o in bundle.objects
              if o.type == "incident"}  # fmt: skip
    assert shared and shared <= {str(i) for i in ids}
    assert json.loads(done.stdout)["type"] == "bundle"


def test_an_unknown_incident_or_date_is_a_clear_error(analyzed: tuple) -> None:
    config, _ids, _day = analyzed
    missing = run_spanwatch("share", "stix", "--config", config, "--incident", "999999")
    assert missing.returncode == 1 and "No incident 999999" in missing.stderr
    bad = run_spanwatch("share", "stix", "--config", config, "--date", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
