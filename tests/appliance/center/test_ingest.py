"""Ingest at the center: sources per sensor, and correlation across sites."""

from __future__ import annotations

import json
import time
from pathlib import Path

from appliance.center.batch import Batch, Source
from appliance.center.ingest import Ingestor, center_fingerprint
from appliance.center.registry import SensorRegistry
from appliance.incidents.correlate import Correlator
from appliance.service import Service
from tests.helpers.center import center_config, make_cert

ATTACKER = "203.0.113.66"


def _alert(victim: str, i: int, ts_us: int) -> bytes:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_us / 1e6)) + ".000000+0000"
    return json.dumps({
        "timestamp": ts, "event_type": "alert", "src_ip": ATTACKER, "src_port": 40000 + i,
        "dest_ip": victim, "dest_port": 22, "proto": "TCP", "flow_id": 1000 + i,
        "alert": {"signature_id": 2001219, "signature": "ET SCAN Potential SSH Scan",
                  "category": "Attempted Information Leak", "severity": 2, "action": "allowed"},
    }).encode()  # fmt: skip


def test_one_attacker_at_two_sites_is_one_incident_naming_both(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path / "tls", "127.0.0.1")
    service = Service(center_config(tmp_path / "c", cert, key))
    try:
        registry = SensorRegistry(service.state)
        ingestor = Ingestor(service.store, registry, service.cfg.center)
        now = int(time.time() * 1e6)
        for site, victim in (("site-a", "10.1.0.5"), ("site-b", "10.2.0.5")):
            registry.request(site, f"{site}-token-" + "x" * 32, address=None, max_pending=9)
            sensor = registry.approve(site, actor="admin")
            batch = Batch({1: Source(1, "cd" * 16, "eve.json")},
                          [(1, 100 * i, _alert(victim, i, now - 60_000_000 + i)) for i in range(5)])
            result = ingestor.ingest(sensor, batch, address="192.0.2.1", health={})
            assert result.stored == 5
        Correlator(service).run_once()
        incidents = service.incidents.list().items
        assert len(incidents) == 1
        (incident,) = incidents
        assert incident.attackers == [ATTACKER]
        assert set(incident.victims) == {"10.1.0.5", "10.2.0.5"}
        assert set(incident.sensors) == {"site-a", "site-b"}
    finally:
        service.close()


def test_the_same_source_at_two_sensors_is_two_sources() -> None:
    assert center_fingerprint("site-a", "ab" * 16) != center_fingerprint("site-b", "ab" * 16)
    assert center_fingerprint("site-a", "ab" * 16) == center_fingerprint("site-a", "ab" * 16)
