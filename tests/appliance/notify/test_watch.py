"""New incidents from real analysis reach a webhook once; older ones are not replayed."""

from __future__ import annotations

from pathlib import Path

from appliance.config import load_config
from appliance.incidents.correlate import Correlator
from appliance.notify.watch import IncidentWatch
from appliance.service import Service
from tests.helpers.demo_store import analyze, demo_capture, write_config
from tests.helpers.receivers import http_receiver


def test_incidents_of_a_new_capture_are_notified_once(tmp_path: Path) -> None:
    with http_receiver() as (url, hooks):
        config = write_config(tmp_path, {"core": {"notify": {
            "min_severity": "low", "webhooks": [{"url": url}]}}})  # fmt: skip
        service = Service(load_config(config))
        try:
            watch = IncidentWatch(service)  # the core starts before the attack
            analyze(config, [demo_capture(tmp_path / "demo.pcap")])
            Correlator(service).run_once()
            incidents = service.incidents.list(limit=1000).items
            assert incidents, "the demo capture holds attacks"
            assert watch.run_once() == len(incidents)
            assert watch.run_once() == 0
            # A core started later does not replay what it finds.
            assert IncidentWatch(service).run_once() == 0
        finally:
            service.close()
    notified = [item["id"] for hook in hooks for item in hook["json"]["items"]]
    assert sorted(notified) == sorted(i.id for i in incidents)
    kinds = {hook["json"]["kind"] for hook in hooks}
    assert kinds == ({"digest"} if len(incidents) > 3 else {"incident"})
